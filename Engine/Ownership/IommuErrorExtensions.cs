namespace VtdEngine.Ownership;

/// <summary>Maps refusals to the errno the Linux kernel returns for them.</summary>
public static class IommuErrorExtensions
{
    /// <summary>The kernel errno of <paramref name="error"/>.</summary>
    public static Errno ToErrno(this IommuError error) => error switch
    {
        IommuError.NoGroup or IommuError.DomainCannotAttachToRid => Errno.ENODEV,
        IommuError.DomainCannotAttachToPasid or IommuError.PasidNotSupported => Errno.EOPNOTSUPP,
        IommuError.GroupDomainBusy or IommuError.PasidBusy or IommuError.PasidsAttached or IommuError.NotOnDefaultDomain
            or IommuError.ClaimedByUserPasidTable or IommuError.PasidBoundElsewhere => Errno.EBUSY,
        IommuError.DifferentOwner => Errno.EPERM,
        IommuError.DomainIdsExhausted or IommuError.PasidSpaceExhausted => Errno.ENOSPC,
        IommuError.PasidBeyondDevice => Errno.EOVERFLOW,
        IommuError.OutOfMemory => Errno.ENOMEM,
        IommuError.OutsideAperture => Errno.EFAULT,
        IommuError.RangeAlreadyMapped => Errno.EEXIST,
        _ => Errno.EINVAL,
    };
}
