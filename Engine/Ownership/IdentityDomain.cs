using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// The driver's static identity domain: IOVA == PA through a pass-through PASID entry with DID = FLPT_DEFAULT_DID (1).
/// It keeps no per-attachment metadata.
/// </summary>
public sealed class IdentityDomain : Domain
{
    internal IdentityDomain(IommuDriver driver)
        : base(driver, DomainType.Identity)
    {
    }

    internal override ushort FixedDomainId => DomainIdAllocator.DefaultDomainId;

    internal override string? CheckCompatible(Iommu unit) =>
        unit.Profile.PassThrough ? null : "the unit has no pass-through support (ECAP.PT=0)";

    internal override PasidTableEntry? BuildEntry(Iommu unit, ushort domainId) =>
        PasidTableEntry.PassThroughTranslation(domainId);
}
