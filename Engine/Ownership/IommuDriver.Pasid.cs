namespace VtdEngine.Ownership;

public sealed partial class IommuDriver
{
    /// <summary>
    /// <c>iommu_attach_device_pasid</c>: attaches <paramref name="domain"/> at <paramref name="pasid"/> on every
    /// PASID-capable device of the group. Checks, in the core's order: no group (ENODEV); no <c>set_dev_pasid</c> or no
    /// PASID support (EOPNOTSUPP); foreign domain, PASID 0, PASID beyond a device's width (EINVAL); the RID claimed by a
    /// user PASID table or the PASID already attached (EBUSY); then per device compatibility (EINVAL), DIDs (ENOSPC)
    /// and PASID-table frames (ENOMEM). The array entry is published only after every device is programmed.
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void AttachDevicePasid(Domain domain, Device device, uint pasid)
    {
        lock (SyncRoot)
        {
            var group = GroupOf(device);
            CheckPasidRequest(domain, group, pasid);
            if (group.PasidArray.ContainsKey(pasid))
            {
                throw Refuse(IommuError.PasidBusy, $"PASID {pasid} already holds a domain; use replace.");
            }
            SetGroupPasid(group, pasid, domain, previous: null, bond: null);
        }
    }

    /// <summary>
    /// <c>iommu_replace_device_pasid</c>: switches an attached PASID to <paramref name="domain"/> (teardown, then setup).
    /// EINVAL for PASID 0, a foreign domain or a PASID not attached; EBUSY for a PASID held by an SVA bond; the same
    /// domain is a no-op. On refusal the old domain stays fully in effect (entry, tags, DID).
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void ReplaceDevicePasid(Domain domain, Device device, uint pasid)
    {
        lock (SyncRoot)
        {
            var group = GroupOf(device);
            CheckPasidRequest(domain, group, pasid);
            if (!group.PasidArray.TryGetValue(pasid, out var slot))
            {
                throw Refuse(IommuError.PasidNotAttached, $"PASID {pasid} is not attached; attach it first.");
            }
            if (slot.Bond is not null)
            {
                throw Refuse(IommuError.PasidBusy, $"PASID {pasid} is held by an SVA bond; unbind it.");
            }
            if (slot.Domain == domain)
            {
                return;
            }
            SetGroupPasid(group, pasid, domain, slot.Domain, bond: null);
        }
    }

    /// <summary>
    /// <c>iommu_detach_device_pasid</c>: attaches the blocked domain at <paramref name="pasid"/> with old = the current
    /// domain and erases the array entry. Refuses (instead of Linux's silent WARN) PASID 0 and a PASID that does not hold
    /// <paramref name="domain"/> (EINVAL), and a PASID held by an SVA bond (EBUSY: unbind it).
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void DetachDevicePasid(Domain domain, Device device, uint pasid)
    {
        lock (SyncRoot)
        {
            var group = GroupOf(device);
            if (pasid == 0)
            {
                throw Refuse(IommuError.ReservedPasid, "PASID 0 is the RID; use DetachDevice.");
            }
            if (!group.PasidArray.TryGetValue(pasid, out var slot) || slot.Domain != domain)
            {
                throw Refuse(IommuError.PasidNotAttached, $"PASID {pasid} does not hold this domain.");
            }
            if (slot.Bond is not null)
            {
                throw Refuse(IommuError.PasidBusy, $"PASID {pasid} is held by an SVA bond; unbind it.");
            }
            DetachPasidLocked(group, pasid);
        }
    }

    private void CheckPasidRequest(Domain domain, Group group, uint pasid)
    {
        if (!domain.CanAttachPasid)
        {
            throw Refuse(IommuError.DomainCannotAttachToPasid, $"A {domain.Type} domain cannot be attached to a PASID.");
        }
        var anyPasidDevice = false;
        foreach (var member in group.DeviceList)
        {
            anyPasidDevice |= member.MaxPasids > 0 && member.Iommu.Profile.Pasid;
        }
        if (!anyPasidDevice)
        {
            throw Refuse(IommuError.PasidNotSupported, "No device of the group can issue PASIDs (or the unit lacks ECAP.PASID).");
        }
        if (!ReferenceEquals(domain.Driver, this))
        {
            throw Refuse(IommuError.ForeignDomain, "The domain belongs to another IOMMU driver.");
        }
        if (pasid == 0)
        {
            throw Refuse(IommuError.ReservedPasid, "PASID 0 (IOMMU_NO_PASID) is the RID; use the RID API.");
        }
        foreach (var member in group.DeviceList)
        {
            // Devices without PASID are skipped (Linux b3f6fcd8404f).
            if (member.MaxPasids > 0 && pasid >= member.MaxPasids)
            {
                throw Refuse(IommuError.PasidOutOfRange, $"PASID {pasid} is beyond device {member}'s {member.MaxPasids} PASIDs.");
            }
        }
        if (group.Domain is UserPasidTableDomain)
        {
            throw Refuse(IommuError.ClaimedByUserPasidTable, "A user PASID table owns every PASID of this group; detach it first.");
        }
    }

    /// <summary><c>__iommu_set_group_pasid</c>: validate every PASID-capable device, reserve, program, then publish.</summary>
    private void SetGroupPasid(Group group, uint pasid, Domain domain, Domain? previous, SvaBond? bond)
    {
        var devices = PasidDevices(group);
        foreach (var device in devices)
        {
            if (domain.CheckCompatible(device.Iommu) is { } why)
            {
                throw Refuse(IommuError.IncompatibleDomain, $"The {domain.Type} domain is incompatible with device {device}'s unit: {why}.");
            }
        }
        ReserveDomainIds(domain, devices.Select(device => device.Iommu));
        ReservePasidTables(devices, pasid);
        foreach (var device in devices)
        {
            Program(device, pasid, domain, previous);
        }
        group.PasidArray[pasid] = (domain, bond);
    }

    private void DetachPasidLocked(Group group, uint pasid)
    {
        var previous = group.PasidArray[pasid].Domain;
        foreach (var device in PasidDevices(group))
        {
            Program(device, pasid, Blocked, previous);
        }
        group.PasidArray.Remove(pasid);
    }

    private static List<Device> PasidDevices(Group group) =>
        group.DeviceList.Where(device => device.MaxPasids > 0 && device.Iommu.Profile.Pasid).ToList();
}
