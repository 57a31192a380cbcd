using System.Runtime.InteropServices;

namespace VtdEngine.Iotlb.Storage;

/// <summary>
/// Per-set writer state: the seqlock word, the set's last in-place invalidation, the victim cursor and the liveness
/// hint.
/// </summary>
/// <remarks>
/// Kept apart from the tag line so the tags fill a whole 64-byte line (8 ways). Readers only read
/// <see cref="Sequence"/>; the other fields are touched by writers holding the set.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct SetMeta
{
    /// <summary>Seqlock: even = stable, odd = a writer owns the set. Bumped by 2 per write.</summary>
    internal int Sequence;

    /// <summary>Clock stamp of the latest page-selective invalidation that cleared ways here in place.</summary>
    internal uint LastInvalidated;

    /// <summary>Round-robin replacement cursor, advanced only by writers.</summary>
    internal int NextVictim;

    /// <summary>
    /// One more than (the low bits of) the IOTLB's invalidation epoch when a full set last had every way found live, or
    /// 0: while the epoch is unchanged, a fill into the full set takes the round-robin victim without re-checking each
    /// way. A hint only: at worst a live way is evicted while a dead one stays, which costs hits, never correctness.
    /// </summary>
    internal uint AllLiveThrough;
}
