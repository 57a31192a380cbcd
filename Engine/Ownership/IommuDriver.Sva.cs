namespace VtdEngine.Ownership;

public sealed partial class IommuDriver
{
    /// <summary>
    /// <c>iommu_sva_bind_device</c>: binds the address space to the device at its global PASID (allocated on the first
    /// bind from [1, max_pasids - 1]). Binding the same device and address space again returns the same bond with one
    /// more reference. An SVA domain of the address space is reused when compatible with the device's unit; otherwise
    /// a new one is created. Refusals: no group (ENODEV); no PASID (EOPNOTSUPP); foreign address space (EINVAL); no
    /// PASID left (ENOSPC); the PASID beyond the device (EOVERFLOW); the PASID held by another address space or domain,
    /// or claimed by a user PASID table (EBUSY); plus the PASID attach refusals.
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed (no PASID is assigned either).</exception>
    public SvaBond BindSva(Device device, AddressSpace addressSpace)
    {
        lock (SyncRoot)
        {
            var group = GroupOf(device);
            if (device.MaxPasids == 0 || !device.Iommu.Profile.Pasid)
            {
                throw Refuse(IommuError.PasidNotSupported, $"Device {device} cannot issue PASIDs.");
            }
            if (!ReferenceEquals(addressSpace.Driver, this))
            {
                throw Refuse(IommuError.ForeignDomain, "The address space belongs to another IOMMU driver.");
            }
            var pasid = addressSpace.Pasid;
            var fresh = pasid == 0;
            if (fresh)
            {
                pasid = FindFreeGlobalPasid(device.MaxPasids);
            }
            else if (pasid >= device.MaxPasids)
            {
                throw Refuse(IommuError.PasidBeyondDevice, $"The address space's PASID {pasid} does not fit device {device}'s {device.MaxPasids} PASIDs.");
            }
            if (group.PasidArray.TryGetValue(pasid, out var slot))
            {
                if (slot.Bond is { } existing && existing.AddressSpace == addressSpace)
                {
                    existing.References++;
                    return existing;
                }
                throw Refuse(IommuError.PasidBoundElsewhere, $"PASID {pasid} of the group is held by another address space or domain.");
            }
            if (group.Domain is UserPasidTableDomain)
            {
                throw Refuse(IommuError.ClaimedByUserPasidTable, "A user PASID table owns every PASID of this group.");
            }
            var devices = PasidDevices(group);
            var domain = addressSpace.SvaDomainList.Find(candidate => devices.TrueForAll(member => candidate.CheckCompatible(member.Iommu) is null));
            var created = domain is null;
            domain ??= new SvaDomain(this, addressSpace, device.Iommu.Memory);
            var bond = new SvaBond(device, addressSpace, domain, pasid);
            SetGroupPasid(group, pasid, domain, previous: null, bond);
            if (fresh)
            {
                addressSpace.Pasid = pasid;
                _globalPasids.Add(pasid);
            }
            if (created)
            {
                addressSpace.SvaDomainList.Add(domain);
            }
            domain.Users++;
            return bond;
        }
    }

    /// <summary>
    /// <c>iommu_sva_unbind_device</c>: drops one reference; the last one detaches the PASID, and the last user of the
    /// SVA domain unlists it from the address space. The address space keeps its PASID until it is released.
    /// </summary>
    /// <exception cref="InvalidOperationException">The bond was already fully unbound.</exception>
    public void UnbindSva(SvaBond bond)
    {
        lock (SyncRoot)
        {
            if (bond.References == 0)
            {
                throw new InvalidOperationException("The bond is already unbound.");
            }
            if (--bond.References > 0)
            {
                return;
            }
            var group = bond.Device.Group;
            if (group is not null && group.PasidArray.TryGetValue(bond.Pasid, out var slot) && slot.Bond == bond)
            {
                DetachPasidLocked(group, bond.Pasid);
            }
            if (--bond.Domain.Users == 0)
            {
                bond.AddressSpace.SvaDomainList.Remove(bond.Domain);
            }
        }
    }

    private uint FindFreeGlobalPasid(uint maxPasids)
    {
        for (var pasid = 1u; pasid < maxPasids; pasid++)
        {
            if (!_globalPasids.Contains(pasid))
            {
                return pasid;
            }
        }
        throw Refuse(IommuError.PasidSpaceExhausted, "No global PASID is left below the device's width.");
    }
}
