namespace VtdEngine.Ownership;

public sealed partial class IommuDriver
{
    /// <summary>
    /// <c>iommu_attach_device</c>: attaches <paramref name="domain"/> to the RID of the device's single-device group.
    /// Checks, in order: no group (ENODEV), more than one device (EINVAL), then <see cref="AttachGroup"/>'s.
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void AttachDevice(Domain domain, Device device)
    {
        lock (SyncRoot)
        {
            AttachGroupLocked(domain, SoleDeviceGroup(device, "iommu_attach_device", "attach"));
        }
    }

    /// <summary>
    /// <c>iommu_attach_group</c>: the group must be on its default or blocking domain (else EBUSY: detach or replace
    /// first); then foreign (EINVAL), and per device require_direct (EINVAL), SVA (ENODEV), compatibility (EINVAL),
    /// DID space (ENOSPC). RID attach never touches PASID attachments.
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void AttachGroup(Domain domain, Group group)
    {
        lock (SyncRoot)
        {
            AttachGroupLocked(domain, group);
        }
    }

    /// <summary>
    /// <c>iommu_detach_device</c>: returns the RID to the core domain (blocking when owned, else default); PASID
    /// attachments stay. Refuses a device without group (ENODEV), a multi-device group (EINVAL) and a domain that is not
    /// the current one (EINVAL; Linux WARNs).
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void DetachDevice(Domain domain, Device device)
    {
        lock (SyncRoot)
        {
            DetachGroupLocked(domain, SoleDeviceGroup(device, "iommu_detach_device", "detach"));
        }
    }

    /// <summary><c>iommu_detach_group</c>: as <see cref="DetachDevice"/> for every device of the group.</summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void DetachGroup(Domain domain, Group group)
    {
        lock (SyncRoot)
        {
            DetachGroupLocked(domain, group);
        }
    }

    /// <summary>
    /// <c>iommu_group_replace_domain</c>: switches the RID domain without passing through blocking (no EBUSY for a
    /// non-default current domain). The same domain is a no-op. Only PASID-table entry 0 changes.
    /// </summary>
    /// <exception cref="IommuException">The refusal; the old domain stays fully in effect.</exception>
    public void ReplaceGroupDomain(Group group, Domain domain)
    {
        lock (SyncRoot)
        {
            if (!ReferenceEquals(domain.Driver, this))
            {
                throw Refuse(IommuError.ForeignDomain, "The domain belongs to another IOMMU driver.");
            }
            SetGroupDomain(group, domain);
        }
    }

    private void AttachGroupLocked(Domain domain, Group group)
    {
        if (group.Domain != group.DefaultDomain && group.Domain != Blocked)
        {
            throw Refuse(IommuError.GroupDomainBusy, $"The group is already attached to a {group.Domain.Type} domain; detach or replace it.");
        }
        if (!ReferenceEquals(domain.Driver, this))
        {
            throw Refuse(IommuError.ForeignDomain, "The domain belongs to another IOMMU driver.");
        }
        SetGroupDomain(group, domain);
    }

    private void DetachGroupLocked(Domain domain, Group group)
    {
        if (group.Domain != domain)
        {
            throw Refuse(IommuError.DomainNotAttached, "The domain is not the group's current RID domain.");
        }
        SetGroupDomain(group, group.CoreDomain);
    }

    /// <summary><c>__iommu_group_set_domain</c>: validate every device, reserve DIDs, then program PASID entry 0 of each.</summary>
    private void SetGroupDomain(Group group, Domain domain)
    {
        if (group.Domain == domain)
        {
            return;
        }
        var devices = group.DeviceList;
        foreach (var device in devices)
        {
            CheckDomainForRid(domain, device.SourceId, device.RequireDirect, device.Iommu);
        }
        if (domain is UserPasidTableDomain && group.PasidArray.Count != 0)
        {
            throw Refuse(IommuError.PasidsAttached, "A user PASID table claims every PASID; detach the group's PASIDs first.");
        }
        ReserveDomainIds(domain, devices.Select(device => device.Iommu));
        var previous = group.Domain;
        foreach (var device in devices)
        {
            ProgramRid(device, domain, previous);
        }
        group.Domain = domain;
    }

    private static Group GroupOf(Device device) =>
        device.Group ?? throw Refuse(IommuError.NoGroup, $"Device {device} has no group (released).");

    /// <summary>The device's group, which the device-level RID calls require to hold that device alone (EINVAL otherwise).</summary>
    private Group SoleDeviceGroup(Device device, string call, string verb)
    {
        var group = GroupOf(device);
        if (group.DeviceList.Count != 1)
        {
            throw Refuse(IommuError.GroupHasMultipleDevices, $"{call} needs a group with exactly one device; {verb} the group.");
        }
        return group;
    }
}
