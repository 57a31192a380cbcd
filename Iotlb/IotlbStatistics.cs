namespace VtdEngine.Iotlb;

/// <summary>A snapshot of an <see cref="IoTlb"/>'s counters, summed over the per-thread counters.</summary>
/// <remarks>
/// Counters are per thread: each thread increments its own with plain stores, so no increment is lost, but a
/// snapshot taken while other threads run may miss their latest increments. They are diagnostics, never inputs to a
/// correctness decision.
/// </remarks>
public readonly record struct IotlbStatistics
{
    /// <summary>Lookups that returned an entry.</summary>
    public long Hits { get; init; }

    /// <summary>Lookups that returned no entry (including lookups that raced a writer).</summary>
    public long Misses { get; init; }

    /// <summary>Fills that were stored.</summary>
    public long Inserts { get; init; }

    /// <summary>Fills dropped because an invalidation overtook the walk that produced them.</summary>
    public long DroppedFills { get; init; }

    /// <summary>Live entries of another key replaced to make room.</summary>
    public long Evictions { get; init; }

    /// <summary>Global invalidations, including the full clear on clock wrap.</summary>
    public long GlobalInvalidations { get; init; }

    /// <summary>Domain-selective IOTLB invalidations.</summary>
    public long DomainInvalidations { get; init; }

    /// <summary>Page-selective-within-domain IOTLB invalidations.</summary>
    public long DomainPageInvalidations { get; init; }

    /// <summary>PASID-selective P_IOTLB invalidations.</summary>
    public long PasidInvalidations { get; init; }

    /// <summary>Page-selective-within-PASID P_IOTLB invalidations.</summary>
    public long PasidPageInvalidations { get; init; }

    /// <summary>Page-selective invalidations whose range was too large and were widened to domain or PASID scope.</summary>
    public long WidenedInvalidations { get; init; }
}
