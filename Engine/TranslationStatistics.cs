namespace VtdEngine;

/// <summary>A snapshot of what a <see cref="TranslationUnit"/> has done, readable at any time.</summary>
/// <remarks>Counters are per thread and summed on read, so a snapshot taken while translations run is approximate.</remarks>
public sealed record TranslationStatistics
{
    /// <summary>
    /// Translations served without a walk: from a first-level TLB (a thread's or a port's), from the IOTLB, or from a
    /// burst's window of the requester's recent IOTLB entries.
    /// </summary>
    public long IotlbHits { get; init; }

    /// <summary>Lookups that found nothing usable, so the request walked (requests the IOTLB may not serve are not counted).</summary>
    public long IotlbMisses { get; init; }

    /// <summary>Translations that walked (any cache below the IOTLB may still have helped).</summary>
    public long Walks { get; init; }

    /// <summary>Translations that faulted.</summary>
    public long Faults { get; init; }

    /// <summary>Remapping-structure and paging-entry reads the walks made.</summary>
    public long TableReads { get; init; }

    /// <summary>Invalidations executed (any kind).</summary>
    public long Invalidations { get; init; }

    /// <summary>IOTLB entries displaced by fills.</summary>
    public long IotlbEvictions { get; init; }

    /// <summary>Hits divided by lookups (0 when nothing was looked up).</summary>
    public double HitRate => IotlbHits + IotlbMisses == 0 ? 0 : (double)IotlbHits / (IotlbHits + IotlbMisses);
}
