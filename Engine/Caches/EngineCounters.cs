using System.Runtime.InteropServices;
using VtdEngine.Iotlb.Storage;

namespace VtdEngine;

/// <summary>
/// What a unit keeps per thread that translates on it: slow-path and per-burst counters (walks, faults, invalidations,
/// burst reuses, first-level hits, IOTLB hits, misses and fills) and the thread's first-level TLB, one block per thread so
/// that threads share no cache line and counting needs no atomics.
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

    /// <summary>Every thread's counts added up (the result's <see cref="Block.FirstLevel"/> is null).</summary>
    public Block Sum()
    {
        var total = default(Block);
        foreach (var slot in _blocks.Slots)
        {
            ref readonly var block = ref slot.Block;
            total.Walks += Volatile.Read(in block.Walks);
            total.Faults += Volatile.Read(in block.Faults);
            total.TableReads += Volatile.Read(in block.TableReads);
            total.Invalidations += Volatile.Read(in block.Invalidations);
            total.BurstReuses += Volatile.Read(in block.BurstReuses);
            total.FirstLevelHits += Volatile.Read(in block.FirstLevelHits);
            total.IotlbHits += Volatile.Read(in block.IotlbHits);
            total.IotlbMisses += Volatile.Read(in block.IotlbMisses);
            total.IotlbFills = total.IotlbFills.Plus(block.IotlbFills);
        }
        return total;
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

        /// <summary>Shared-IOTLB lookups and fills by the unit's own entry points and walks, counted here rather than
        /// in the IOTLB's counters so that a miss costs no second thread-local load.</summary>
        [FieldOffset(56)] public long IotlbHits;

        [FieldOffset(64)] public long IotlbMisses;
        [FieldOffset(72)] public FillCounts IotlbFills;
    }
}
