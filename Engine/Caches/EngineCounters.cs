using System.Runtime.InteropServices;

namespace VtdEngine;

/// <summary>
/// Slow-path and per-burst counters (walks, faults, invalidations, burst reuses), striped per processor so that threads missing at once do not
/// share a cache line. The IOTLB keeps its own hit/miss counters.
/// </summary>
internal sealed class EngineCounters
{
    private readonly Stripe[] _stripes;
    private readonly int _mask;

    public EngineCounters()
    {
        var count = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, Environment.ProcessorCount));
        _stripes = new Stripe[count];
        _mask = count - 1;
    }

    public ref Stripe Current => ref _stripes[Thread.GetCurrentProcessorId() & _mask];

    public (long Walks, long Faults, long TableReads, long Invalidations, long BurstReuses) Sum()
    {
        long walks = 0, faults = 0, reads = 0, invalidations = 0, reuses = 0;
        foreach (ref readonly var stripe in _stripes.AsSpan())
        {
            walks += Volatile.Read(in stripe.Walks);
            faults += Volatile.Read(in stripe.Faults);
            reads += Volatile.Read(in stripe.TableReads);
            invalidations += Volatile.Read(in stripe.Invalidations);
            reuses += Volatile.Read(in stripe.BurstReuses);
        }
        return (walks, faults, reads, invalidations, reuses);
    }

    /// <summary>One processor's counters, padded to two cache lines against false sharing.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    internal struct Stripe
    {
        [FieldOffset(0)] public long Walks;
        [FieldOffset(8)] public long Faults;
        [FieldOffset(16)] public long TableReads;
        [FieldOffset(24)] public long Invalidations;
        [FieldOffset(32)] public long BurstReuses;
    }
}
