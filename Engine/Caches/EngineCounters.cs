using System.Runtime.InteropServices;
using VtdEngine.Iotlb.Storage;

namespace VtdEngine;

/// <summary>
/// What a unit keeps per thread that translates on it: slow-path and per-burst counters (walks, faults, invalidations,
/// burst reuses, first-level hits) and the thread's first-level TLB, one block per thread so that threads share no
/// cache line and counting needs no atomics. The IOTLB keeps its own hit/miss counters.
/// </summary>
/// <remarks>
/// Blocks outlive their threads (see <see cref="ThreadCounters{TBlock}"/>), and with them their first-level TLBs: a
/// later thread given the same managed id continues with both, which is safe because a first-level TLB checks the
/// IOTLB's invalidation epoch on every call, whoever made its copies.
/// </remarks>
internal sealed class EngineCounters
{
    /// <summary>The calling thread's block of the unit it counted for last.</summary>
    [ThreadStatic]
    private static ThreadCounters<Block>.Slot? t_current;

    private readonly ThreadCounters<Block> _blocks = new();

    public ref Block Current => ref _blocks.For(ref t_current);

    public (long Walks, long Faults, long TableReads, long Invalidations, long BurstReuses, long FirstLevelHits) Sum()
    {
        long walks = 0, faults = 0, reads = 0, invalidations = 0, reuses = 0, firstLevelHits = 0;
        foreach (var slot in _blocks.Slots)
        {
            ref readonly var block = ref slot.Block;
            walks += Volatile.Read(in block.Walks);
            faults += Volatile.Read(in block.Faults);
            reads += Volatile.Read(in block.TableReads);
            invalidations += Volatile.Read(in block.Invalidations);
            reuses += Volatile.Read(in block.BurstReuses);
            firstLevelHits += Volatile.Read(in block.FirstLevelHits);
        }
        return (walks, faults, reads, invalidations, reuses, firstLevelHits);
    }

    /// <summary>One thread's counters and first-level TLB, padded to two cache lines against false sharing.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    internal struct Block
    {
        [FieldOffset(0)] public long Walks;
        [FieldOffset(8)] public long Faults;
        [FieldOffset(16)] public long TableReads;
        [FieldOffset(24)] public long Invalidations;
        [FieldOffset(32)] public long BurstReuses;
        [FieldOffset(40)] public long FirstLevelHits;

        /// <summary>The thread's first-level TLB for this unit, made on its first translation here.</summary>
        [FieldOffset(48)] public PortTranslationCache? FirstLevel;
    }
}
