namespace VtdEngine.Iotlb.Storage;

/// <summary>One thread's counts of IOTLB fills, inside whichever per-thread block counts them.</summary>
internal struct FillCounts
{
    internal long Inserts;
    internal long DroppedFills;
    internal long Evictions;

    /// <summary>Counts what became of one fill; no atomics, so only the owning thread may call it.</summary>
    internal void Count(FillOutcome fill)
    {
        switch (fill)
        {
            case FillOutcome.Dropped:
                DroppedFills++;
                break;
            case FillOutcome.StoredEvicting:
                Inserts++;
                Evictions++;
                break;
            default:
                Inserts++;
                break;
        }
    }

    /// <summary>This block's counts plus <paramref name="other"/>'s, read with acquires (another thread may be counting).</summary>
    internal readonly FillCounts Plus(in FillCounts other) => new()
    {
        Inserts = Inserts + Volatile.Read(in other.Inserts),
        DroppedFills = DroppedFills + Volatile.Read(in other.DroppedFills),
        Evictions = Evictions + Volatile.Read(in other.Evictions),
    };
}
