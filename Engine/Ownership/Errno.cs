namespace VtdEngine.Ownership;

/// <summary>Linux errno values the ownership model reports, so callers can compare with the kernel's behaviour.</summary>
public enum Errno
{
    /// <summary>EPERM (1): operation not permitted (another DMA owner holds the group).</summary>
    EPERM = 1,

    /// <summary>ENOMEM (12): out of memory (no frame for a table).</summary>
    ENOMEM = 12,

    /// <summary>EFAULT (14): address outside the domain's aperture.</summary>
    EFAULT = 14,

    /// <summary>EBUSY (16): attached and cannot be changed now.</summary>
    EBUSY = 16,

    /// <summary>EEXIST (17): the range is already mapped.</summary>
    EEXIST = 17,

    /// <summary>ENODEV (19): no group, or the domain cannot attach to a RID.</summary>
    ENODEV = 19,

    /// <summary>EINVAL (22): invalid or incompatible argument (a soft error: the caller may try another domain).</summary>
    EINVAL = 22,

    /// <summary>ENOSPC (28): a non-memory resource (domain ids, PASIDs) is exhausted.</summary>
    ENOSPC = 28,

    /// <summary>EOVERFLOW (75): the address space's PASID does not fit the device's PASID width.</summary>
    EOVERFLOW = 75,

    /// <summary>EOPNOTSUPP (95): the domain, unit or device cannot do this.</summary>
    EOPNOTSUPP = 95,
}
