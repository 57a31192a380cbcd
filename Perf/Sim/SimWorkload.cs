namespace VtdEngine.Perf.Sim;

/// <summary>How the driver maps receive buffers.</summary>
public enum BufferMapping : byte
{
    /// <summary>A pool in 2 MiB pages, mapped once (DPDK, hugepage page_pool).</summary>
    Hugepages,

    /// <summary>A pool in 4 KiB pages, mapped once.</summary>
    Persistent4K,

    /// <summary>Map before DMA, unmap and page-selective invalidation right after (Linux strict).</summary>
    Strict,

    /// <summary>Unmap right after DMA, invalidate in batches through a flush queue (Linux lazy/deferred).</summary>
    Deferred,
}

/// <summary>A named workload preset (perf-notes 1.4, proposed mix).</summary>
/// <param name="Name">Preset name on the command line and in the results.</param>
/// <param name="Mapping">Buffer mapping strategy.</param>
/// <param name="QueueFactor">Queues = <see cref="SimOptions.Queues"/> × this (many-pasid uses <see cref="SimOptions.ManyPasidFactor"/>).</param>
/// <param name="RandomQueueOrder">Pick the queue of each burst at random instead of round-robin.</param>
/// <param name="Storm">Issue domain/PASID-selective invalidations at <see cref="SimOptions.StormIntervalMicroseconds"/>.</param>
/// <param name="FirstStageEvery">0: all queues second-stage; 1: all first-stage; 2: every other queue first-stage.</param>
public sealed record SimWorkload(string Name, BufferMapping Mapping, int QueueFactor, bool RandomQueueOrder, bool Storm, int FirstStageEvery)
{
    /// <summary>DPDK-style buffers in 2 MiB pages mapped once.</summary>
    public static SimWorkload Persistent { get; } = new("persistent", BufferMapping.Hugepages, 1, false, false, 0);

    /// <summary>Map each buffer before DMA; unmap with a page-selective invalidation right after.</summary>
    public static SimWorkload Strict { get; } = new("strict", BufferMapping.Strict, 1, false, false, 0);

    /// <summary>Unmaps batched in a flush queue and flushed domain-selectively.</summary>
    public static SimWorkload Deferred { get; } = new("deferred", BufferMapping.Deferred, 1, false, false, 0);

    /// <summary>Many queues, one first-stage PASID each, random order: working set larger than the IOTLB.</summary>
    public static SimWorkload ManyPasid { get; } = new("many-pasid", BufferMapping.Persistent4K, 0, true, false, 1);

    /// <summary>Persistent 4 KiB traffic while domain- and PASID-selective invalidations arrive at a set rate.</summary>
    public static SimWorkload InvalidationStorm { get; } = new("invalidation-storm", BufferMapping.Persistent4K, 1, false, true, 2);

    /// <summary>Every preset, in the order <c>all</c> runs them.</summary>
    public static IReadOnlyList<SimWorkload> All { get; } = [Persistent, Strict, Deferred, ManyPasid, InvalidationStorm];

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static SimWorkload? Find(string name) =>
        All.FirstOrDefault(w => string.Equals(w.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Queues this workload runs with <paramref name="options"/>.</summary>
    public int QueueCount(SimOptions options) => options.Queues * (QueueFactor == 0 ? options.ManyPasidFactor : QueueFactor);

    /// <summary>Whether queue <paramref name="index"/> translates through first-stage tables.</summary>
    public bool IsFirstStage(int index) => FirstStageEvery switch
    {
        0 => false,
        1 => true,
        _ => index % FirstStageEvery == 1,
    };
}
