using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// An SVA domain: first-stage PASID entries pointing at an <see cref="AddressSpace"/>'s table, tagged with
/// FLPT_DEFAULT_DID. PASID only (no <c>attach_dev</c>); shared by every device on compatible units bound to the mm.
/// </summary>
public sealed class SvaDomain : Domain
{
    private readonly IPhysicalMemory _memory;

    internal SvaDomain(IommuDriver driver, AddressSpace addressSpace, IPhysicalMemory memory)
        : base(driver, DomainType.Sva)
    {
        AddressSpace = addressSpace;
        _memory = memory;
    }

    /// <summary>The shared address space.</summary>
    public AddressSpace AddressSpace { get; }

    /// <summary>Bonds (per group and PASID) using this domain.</summary>
    public int Users { get; internal set; }

    internal override ushort FixedDomainId => DomainIdAllocator.DefaultDomainId;

    internal override bool CanAttachRid => false;

    internal override bool HasCacheTags => true;

    internal override string? CheckCompatible(Iommu unit)
    {
        var profile = unit.Profile;
        if (!ReferenceEquals(unit.Memory, _memory))
        {
            return "the unit translates a different physical memory";
        }
        if (!profile.FirstStageTranslation || !profile.Pasid)
        {
            return "SVA needs first-stage translation and PASID support";
        }
        return AddressSpace.Mode == FirstStagePagingMode.FiveLevel && !profile.FirstStage5Level
            ? "the address space uses 5-level paging the unit lacks"
            : null;
    }

    internal override PasidTableEntry? BuildEntry(Iommu unit, ushort domainId) =>
        PasidTableEntry.FirstStage(domainId, AddressSpace.PageTableRoot, AddressSpace.Mode);
}
