using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VtdEngine;

/// <summary>
/// One requester-side entry point into a <see cref="TranslationUnit"/> — a device queue, a simulated core — with its
/// own first-level TLB and its own hit and miss counts. Translations are exactly those of the unit; a port only gets
/// there faster: a request whose page it translated before, with no invalidation finished since, is answered from the
/// port's private copy without touching the shared IOTLB, and its counts live in two fields of its own.
/// </summary>
/// <remarks>
/// A port is not thread-safe: use it from one thread at a time. Its counts are folded into
/// <see cref="TranslationUnit.ReadStatistics"/> (a first-level hit counts as an IOTLB hit), which may run on any thread
/// at any time (reads of the counters are atomic 64-bit loads; a snapshot taken while the port translates is
/// approximate).
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
    public TranslationResult Translate(in DmaRequest request)
    {
        _firstLevel.Synchronize();
        if (_firstLevel.TryTranslate(request, out var result))
        {
            _counts.Hits++;
            return result;
        }
        return TranslateBelowFirstLevel(request);
    }

    /// <summary>Translates a burst, as <see cref="TranslationUnit.Translate(ReadOnlySpan{DmaRequest}, Span{TranslationResult})"/> does.</summary>
    public void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results)
    {
        _firstLevel.Synchronize();
        var (hits, misses, reused) = _unit.TranslateBurst(requests, results, _firstLevel);
        _counts.Hits += hits + reused;
        _counts.Misses += misses;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateBelowFirstLevel(in DmaRequest request)
    {
        if (_unit.TryTranslateCached(request, _firstLevel, out var result))
        {
            _counts.Hits++;
            return result;
        }
        if (request.AddressType == AddressType.Untranslated)
        {
            _counts.Misses++;
        }
        return _unit.TranslateMiss(request);
    }

    /// <summary>
    /// The two counts a hit writes, 64 bytes clear of everything before them and 48 after: ports are allocated side by
    /// side, and without the padding one thread's counting would keep evicting the line another port's thread reads
    /// its first-level TLB's fields from (two ports on two threads measured no faster than one).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Counts
    {
        [FieldOffset(64)] public long Hits;
        [FieldOffset(72)] public long Misses;
    }
}
