namespace VtdEngine.Ownership;

/// <summary>
/// Why the ownership model refused an operation. Each member names one refusal of the Linux IOMMU core or VT-d driver
/// and documents the errno the kernel returns for it (<see cref="IommuErrorExtensions.ToErrno"/>). A refusal leaves
/// every table, cache and reference count exactly as it was.
/// </summary>
public enum IommuError
{
    /// <summary>ENODEV: the device has no group (it was released). <c>iommu_attach_device</c>, <c>iommu_attach_device_pasid</c>.</summary>
    NoGroup,

    /// <summary>ENODEV: the domain has no <c>attach_dev</c> (an SVA domain cannot be attached to a RID).</summary>
    DomainCannotAttachToRid,

    /// <summary>EOPNOTSUPP: the domain has no <c>set_dev_pasid</c> (e.g. a user-PASID-table nested domain).</summary>
    DomainCannotAttachToPasid,

    /// <summary>EOPNOTSUPP: the unit lacks ECAP.PASID, or no device of the group can issue PASIDs (stricter than Linux).</summary>
    PasidNotSupported,

    /// <summary>EINVAL: <c>iommu_attach_device</c> on a group with more than one device.</summary>
    GroupHasMultipleDevices,

    /// <summary>EINVAL: the domain belongs to another driver instance (<c>domain-&gt;owner != ops</c>).</summary>
    ForeignDomain,

    /// <summary>EINVAL: the domain's format or capabilities do not fit the unit (<c>paging_domain_compatible</c>).</summary>
    IncompatibleDomain,

    /// <summary>EINVAL: PASID 0 (IOMMU_NO_PASID, the RID) passed to the PASID API.</summary>
    ReservedPasid,

    /// <summary>EINVAL: the PASID is at or beyond a group device's <c>max_pasids</c>.</summary>
    PasidOutOfRange,

    /// <summary>EINVAL: replace or detach of a PASID that holds no domain (or holds another one).</summary>
    PasidNotAttached,

    /// <summary>EINVAL: the blocked domain on a device that requires direct mappings (RMRR).</summary>
    BlockedRequiresDirect,

    /// <summary>EINVAL: a nested domain needs a second-stage paging domain created as nest parent.</summary>
    InvalidNestParent,

    /// <summary>EINVAL: detach of a domain that is not the group's current RID domain.</summary>
    DomainNotAttached,

    /// <summary>EINVAL: a map or unmap argument is zero-length, not 4 KiB aligned, cuts a large page, or has no permission.</summary>
    InvalidRange,

    /// <summary>EFAULT: the range lies outside the domain's aperture or the physical range beyond the host address width.</summary>
    OutsideAperture,

    /// <summary>EEXIST: part of the range is already mapped.</summary>
    RangeAlreadyMapped,

    /// <summary>EBUSY: <c>iommu_attach_group</c> while the group is on a domain other than its default or blocking domain.</summary>
    GroupDomainBusy,

    /// <summary>EBUSY: the PASID already holds a domain (use replace).</summary>
    PasidBusy,

    /// <summary>EBUSY: PASIDs are attached, so ownership cannot change or a user PASID table cannot claim the device.</summary>
    PasidsAttached,

    /// <summary>EBUSY: ownership claim or default-domain use while the group is not on its default domain, or is owned.</summary>
    NotOnDefaultDomain,

    /// <summary>EBUSY: a nested domain with a user PASID table claims the RID and every PASID.</summary>
    ClaimedByUserPasidTable,

    /// <summary>EBUSY: SVA bind where the address space's PASID is held by another address space or domain.</summary>
    PasidBoundElsewhere,

    /// <summary>EPERM: the group is owned by a different owner (or used by a kernel driver).</summary>
    DifferentOwner,

    /// <summary>ENOSPC: the unit's domain ids are exhausted.</summary>
    DomainIdsExhausted,

    /// <summary>ENOSPC: the global PASID space is exhausted for this device.</summary>
    PasidSpaceExhausted,

    /// <summary>EOVERFLOW: the address space's global PASID is at or beyond the device's <c>max_pasids</c>.</summary>
    PasidBeyondDevice,

    /// <summary>ENOMEM: no frame was left for a PASID table or page table.</summary>
    OutOfMemory,
}
