using System.Runtime.InteropServices;
using VtdEngine.Iotlb.Storage;

namespace VtdEngine;

/// <summary>
/// Slow-path and per-burst counters (walks, faults, invalidations, burst reuses), one block per thread so that threads
/// missing at once share no cache line and counting needs no atomics. The IOTLB keeps its own hit/miss counters.
/// </summary>
internal sealed class EngineCounters
{
    /// <summary>The calling thread's block of the unit it counted for last.</summary>
    [ThreadStatic]
    private static ThreadCounters<Block>.Slot? t_current;

    private readonly ThreadCounters<Block> _blocks = new();

    public ref Block Current => ref _blocks.For(ref t_current);

    public (long Walks, long Faults, long TableReads, long Invalidations, long BurstReuses) Sum()
    {
        long walks = 0, faults = 0, reads = 0, invalidations = 0, reuses = 0;
        foreach (var slot in _blocks.Slots)
        {
            ref readonly var block = ref slot.Block;
            walks += Volatile.Read(in block.Walks);
            faults += Volatile.Read(in block.Faults);
            reads += Volatile.Read(in block.TableReads);
            invalidations += Volatile.Read(in block.Invalidations);
            reuses += Volatile.Read(in block.BurstReuses);
        }
        return (walks, faults, reads, invalidations, reuses);
    }

    /// <summary>One thread's counters, padded to two cache lines against false sharing.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    internal struct Block
    {
        [FieldOffset(0)] public long Walks;
        [FieldOffset(8)] public long Faults;
        [FieldOffset(16)] public long TableReads;
        [FieldOffset(24)] public long Invalidations;
        [FieldOffset(32)] public long BurstReuses;
    }
}
