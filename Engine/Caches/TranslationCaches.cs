using VtdEngine.Iotlb;

namespace VtdEngine;

/// <summary>
/// The unit's translation caches: the IOTLB in front of everything; the context, PASID and paging-structure caches in
/// front of the walker, sharing one set of
/// each with its own invalidation stamps so that invalidating one never empties the other (VT-d §6.1–6.2).
/// </summary>
internal sealed class TranslationCaches
{
    public TranslationCaches(int iotlbEntries, int pagingStructureEntries)
    {
        Iotlb = new IoTlb(iotlbEntries);
        PagingStructures = new PagingStructureCache(pagingStructureEntries);
        ContextStamps = new InvalidationStamps();
        PasidStamps = new InvalidationStamps();
        Contexts = new ContextCache(ContextStamps);
        Pasids = new PasidCache(PasidStamps);
    }

    public IoTlb Iotlb { get; }

    public PagingStructureCache PagingStructures { get; }

    public InvalidationStamps ContextStamps { get; }

    public InvalidationStamps PasidStamps { get; }

    public ContextCache Contexts { get; }

    public PasidCache Pasids { get; }

    /// <summary>Fill stamps for a miss, taken before any table is read.</summary>
    public FillStamps BeginFill() => new(ContextStamps.BeginFill(), PasidStamps.BeginFill(), Iotlb.BeginFill(), PagingStructures.BeginFill());

    /// <summary>Drops everything every cache holds.</summary>
    /// <remarks>
    /// The IOTLB goes last: a walk that starts before it must not find a stale structure in a cache not yet flushed
    /// and fill the IOTLB with a stamp newer than the IOTLB's flush.
    /// </remarks>
    public void InvalidateAll()
    {
        ContextStamps.InvalidateAll();
        PasidStamps.InvalidateAll();
        PagingStructures.InvalidateAll();
        Iotlb.InvalidateAll();
    }
}

/// <summary>The stamps one miss fills its cache entries with.</summary>
internal readonly record struct FillStamps(long Context, long Pasid, uint Iotlb, uint PagingStructures);
