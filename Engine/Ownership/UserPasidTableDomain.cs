using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// A nested domain that carries a whole user PASID table (ARM vSTE style, Linux <c>ops-&gt;user_pasid_table</c>): while it
/// is a group's RID domain the devices' context entries point at the user's PASID directory, so it claims the RID and
/// every PASID. The PASID API refuses the group (EBUSY) until it is detached, and it cannot be attached to a PASID.
/// </summary>
/// <remarks>
/// This is the one place where a PASID table is not device data, which is the point of the exception. The user fills
/// the directory; its entries should use <see cref="Domain.GetDomainId"/> of the unit as DID, so the context-entry
/// invalidations (domain-selective PASID cache and IOTLB) reach them. The directory address is taken as host
/// physical (a real VMM would translate a GPA through the parent).
/// </remarks>
public sealed class UserPasidTableDomain : Domain
{
    internal UserPasidTableDomain(IommuDriver driver, PagingDomain parent, ulong pasidDirectory, int pasidDirectorySize)
        : base(driver, DomainType.NestedUserPasidTable)
    {
        Parent = parent;
        PasidDirectory = pasidDirectory;
        PasidDirectorySize = pasidDirectorySize;
    }

    /// <summary>The second-stage parent the user's nested entries sit on.</summary>
    public PagingDomain Parent { get; }

    /// <summary>The user's PASID directory.</summary>
    public ulong PasidDirectory { get; }

    /// <summary>PDTS of the user's directory (2^(PDTS+7) entries).</summary>
    public int PasidDirectorySize { get; }

    internal override bool UsesDomainId => true;

    internal override bool HasCacheTags => true;

    internal override bool CanAttachPasid => false;

    internal override PagingDomain? NestParent => Parent;

    internal override string? CheckCompatible(Iommu unit) =>
        unit.Profile.Nested ? Parent.CheckCompatible(unit) : "the unit has no nested translation (ECAP.NEST=0)";

    internal override PasidTableEntry? BuildEntry(Iommu unit, ushort domainId) =>
        throw new InvalidOperationException("A user PASID table is installed through the context entry.");
}
