using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// A VT-d nested domain (IOMMU_HWPT_DATA_VTD_S1): a user first-stage table addressed by GPA over a nest-parent
/// second-stage <see cref="PagingDomain"/>. It has its own DIDs; attaching it (RID or PASID) registers NESTING tags on
/// the parent so parent unmaps reach it.
/// </summary>
public sealed class NestedDomain : Domain
{
    internal NestedDomain(IommuDriver driver, PagingDomain parent, ulong firstStageTable, FirstStagePagingMode mode)
        : base(driver, DomainType.Nested)
    {
        Parent = parent;
        FirstStageTable = firstStageTable;
        Mode = mode;
    }

    /// <summary>The second-stage parent.</summary>
    public PagingDomain Parent { get; }

    /// <summary>The user's first-stage root, a GPA translated by <see cref="Parent"/>.</summary>
    public ulong FirstStageTable { get; }

    /// <summary>4- or 5-level first stage.</summary>
    public FirstStagePagingMode Mode { get; }

    internal override bool UsesDomainId => true;

    internal override bool HasCacheTags => true;

    internal override PagingDomain? NestParent => Parent;

    /// <summary>
    /// The user's invalidation request (Linux <c>cache_invalidate_user</c>, one entry): after changing its first-stage
    /// table the user flushes <paramref name="pages"/> pages from <paramref name="address"/>, or everything with
    /// <c>pages == ulong.MaxValue</c> and address 0. It reaches every (DID, PASID, device) using this domain.
    /// </summary>
    /// <exception cref="IommuException">InvalidRange for an unaligned address, zero pages, or "all" with a non-zero address.</exception>
    public void InvalidateUser(ulong address, ulong pages)
    {
        lock (Driver.SyncRoot)
        {
            if ((address & 0xFFF) != 0 || pages == 0 || (pages == ulong.MaxValue && address != 0))
            {
                throw new IommuException(IommuError.InvalidRange, $"Bad user invalidation 0x{address:x} x {pages} pages.");
            }
            if (pages == ulong.MaxValue || pages > (ulong.MaxValue - address) >> 12)
            {
                FlushAll();
                return;
            }
            FlushRange(address, address + (pages << 12));
        }
    }

    internal override string? CheckCompatible(Iommu unit)
    {
        if (!unit.Profile.Nested)
        {
            return "the unit has no nested translation (ECAP.NEST=0)";
        }
        if (Mode == FirstStagePagingMode.FiveLevel && !unit.Profile.FirstStage5Level)
        {
            return "the unit lacks 5-level first-stage paging";
        }
        return Parent.CheckCompatible(unit);
    }

    internal override PasidTableEntry? BuildEntry(Iommu unit, ushort domainId) =>
        PasidTableEntry.NestedTranslation(domainId, FirstStageTable, Parent.Table.Root, Parent.AddressWidth, Mode);
}
