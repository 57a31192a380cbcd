namespace VtdEngine;

/// <summary>
/// One requester-side entry point into a <see cref="TranslationUnit"/> — a device queue, a simulated core — that counts
/// its own IOTLB hits and misses. Translations are exactly those of the unit; only the bookkeeping differs: the unit's
/// own <see cref="TranslationUnit.Translate(in DmaRequest)"/> counts hits in a per-thread block (a thread-local load
/// per hit), a port in two fields of its own.
/// </summary>
/// <remarks>
/// A port is not thread-safe: use it from one thread at a time. Its counts are folded into
/// <see cref="TranslationUnit.ReadStatistics"/>, which may run on any thread at any time (reads of the counters are
/// atomic 64-bit loads; a snapshot taken while the port translates is approximate).
/// </remarks>
public sealed class TranslationPort
{
    private readonly TranslationUnit _unit;
    private long _hits;
    private long _misses;

    internal TranslationPort(TranslationUnit unit) => _unit = unit;

    internal long Hits => Volatile.Read(ref _hits);

    internal long Misses => Volatile.Read(ref _misses);

    /// <summary>Translates one request, as <see cref="TranslationUnit.Translate(in DmaRequest)"/> does.</summary>
    public TranslationResult Translate(in DmaRequest request)
    {
        if (_unit.TryTranslateCached(request, out var result))
        {
            _hits++;
            return result;
        }
        if (request.AddressType == AddressType.Untranslated)
        {
            _misses++;
        }
        return _unit.TranslateMiss(request);
    }

    /// <summary>Translates a burst, as <see cref="TranslationUnit.Translate(ReadOnlySpan{DmaRequest}, Span{TranslationResult})"/> does.</summary>
    public void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results)
    {
        var (hits, misses, reused) = _unit.TranslateBurst(requests, results);
        _hits += hits + reused;
        _misses += misses;
    }
}
