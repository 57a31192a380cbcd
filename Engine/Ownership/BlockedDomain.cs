using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// The driver's static blocked domain: every DMA faults. Attaching it cannot fail; it is the owned parking state of
/// a RID and the PASID detach mechanism (detach = attach blocked with old = current, Linux v6.14).
/// </summary>
public sealed class BlockedDomain : Domain
{
    internal BlockedDomain(IommuDriver driver)
        : base(driver, DomainType.Blocked)
    {
    }

    internal override string? CheckCompatible(Iommu unit) => null;

    internal override PasidTableEntry? BuildEntry(Iommu unit, ushort domainId) => null;
}
