using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VtdEngine;

/// <summary>
/// One requester-side entry point into a <see cref="TranslationUnit"/> — a device queue, a simulated core — with its
/// own first-level TLB and its own hit and miss counts. A port answers as the unit would: a request whose page and
/// shape it translated before, with no invalidation finished since, is answered from the port's private copy without
/// touching the shared IOTLB. The unit does the same with a first-level TLB per thread, which it finds through a
/// thread-local load on every call; a port skips that load.
/// </summary>
/// <remarks>
/// <para>
/// Like any TLB, a copy may keep serving a translation that software changed without invalidating, until the next
/// invalidation finishes (VT-d allows the old or the new translation then); the shared IOTLB may have dropped its
/// entry by then, so the unit may already answer with the new one. Every request that begins after an invalidation
/// returned (for a burst: every burst that begins after it) sees that invalidation.
/// </para>
/// <para>
/// A port is not thread-safe: use it from one thread at a time. It holds 26 KiB of copies (16 KiB of IOTLB hits,
/// 10 KiB of PDE-cache copies) and lives as long as its unit (the unit keeps its ports to fold their counts into
/// <see cref="TranslationUnit.ReadStatistics"/>): open one per queue or thread and keep it, rather than one per call.
/// A first-level hit counts as an IOTLB hit; <see cref="TranslationUnit.ReadStatistics"/> may run on any thread at any
/// time (the counts are read with atomic 64-bit loads; a snapshot taken while the port translates is approximate).
/// </para>
/// </remarks>
public sealed class TranslationPort
{
    private readonly TranslationUnit _unit;
    private readonly PortTranslationCache _firstLevel;
    private Counts _counts;

    internal TranslationPort(TranslationUnit unit, PortTranslationCache firstLevel)
    {
        _unit = unit;
        _firstLevel = firstLevel;
    }

    internal long Hits => Volatile.Read(ref _counts.Hits);

    internal long Misses => Volatile.Read(ref _counts.Misses);

    /// <summary>Translates one request, as <see cref="TranslationUnit.Translate(in DmaRequest)"/> does.</summary>
    /// <remarks>The first-level hit is small enough to inline into the caller's loop; everything else is one call.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TranslationResult Translate(in DmaRequest request)
    {
        var generation = _firstLevel.Synchronize();
        if (_firstLevel.TryTranslate(request, generation, out var result))
        {
            _counts.Hits++;
            return result;
        }
        return _unit.TranslateBelowFirstLevel(request, _firstLevel, generation, ref _unit.ThreadCounters, ref _counts.Hits,
            ref _counts.Misses);
    }

    /// <summary>Translates a burst, as <see cref="TranslationUnit.Translate(ReadOnlySpan{DmaRequest}, Span{TranslationResult})"/> does.</summary>
    public void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results)
    {
        var generation = _firstLevel.Synchronize();
        var (hits, misses, reused) = _unit.TranslateBurst(requests, results, _firstLevel, generation);
        _counts.Hits += hits + reused;
        _counts.Misses += misses;
    }

    /// <summary>
    /// The two counts a hit writes, with 64 bytes of padding before them and 48 after, so they share a cache line with
    /// nothing else: <see cref="TranslationUnit.OpenPort"/> allocates the next port's first-level TLB object right
    /// after this port, and without the padding one thread's counting would keep evicting the line the other port's
    /// thread reads that object's fields from (two ports on two threads measured no faster than one).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Counts
    {
        [FieldOffset(64)] public long Hits;
        [FieldOffset(72)] public long Misses;
    }
}
