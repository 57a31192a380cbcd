namespace VtdEngine;

/// <summary>
/// O(1) invalidation bookkeeping shared by the context and PASID caches: a monotonically increasing clock and the
/// clock value at which each scope (everything, a domain, a hashed domain+PASID) was last invalidated.
/// </summary>
/// <remarks>
/// An entry filled at stamp S is valid only while S is newer than every scope that covers it. Fills take their stamp
/// <em>before</em> reading the tables, so an invalidation that races with a walk always wins: the entry it would have
/// killed is born already dead. Hash collisions in the PASID scope only over-invalidate, which the spec allows.
/// The clock is 64-bit, so it cannot wrap in the lifetime of a process.
/// </remarks>
internal sealed class InvalidationStamps
{
    private const int PasidSlots = 1 << 14;

    private readonly long[] _domain = new long[1 << 16];
    private readonly long[] _pasid = new long[PasidSlots];
    private long _clock = 1;
    private long _global;

    /// <summary>The stamp a fill takes before it reads any table.</summary>
    public long BeginFill() => Volatile.Read(ref _clock);

    /// <summary>Whether an entry filled at <paramref name="stamp"/> for (<paramref name="domainId"/>, <paramref name="pasid"/>) survives.</summary>
    public bool IsValid(long stamp, ushort domainId, uint pasid) =>
        stamp > Volatile.Read(ref _global)
        && stamp > Volatile.Read(ref _domain[domainId])
        && stamp > Volatile.Read(ref _pasid[PasidSlot(domainId, pasid)]);

    /// <summary>Whether an entry filled at <paramref name="stamp"/> survives global invalidation.</summary>
    public bool IsValidGlobally(long stamp) => stamp > Volatile.Read(ref _global);

    public void InvalidateAll() => Volatile.Write(ref _global, Tick());

    public void InvalidateDomain(ushort domainId) => Volatile.Write(ref _domain[domainId], Tick());

    public void InvalidatePasid(ushort domainId, uint pasid) => Volatile.Write(ref _pasid[PasidSlot(domainId, pasid)], Tick());

    /// <summary>Advances the clock: entries stamped at or before the returned value are dead to a scope that records it;
    /// fills that begin afterwards stamp strictly later.</summary>
    public long Tick() => Interlocked.Increment(ref _clock) - 1;

    private static int PasidSlot(ushort domainId, uint pasid) =>
        (int)((((uint)domainId * 0x9E3779B1u) ^ (pasid * 0x85EBCA77u)) >> 18) & (PasidSlots - 1);
}
