using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>
/// Context cache (VT-d §6.1, Table 17): validated context entries looked up by source-id, so an IOTLB miss does not
/// re-read the root and context tables. Only entries that passed every check are cached (CM=0 caches no faults).
/// </summary>
/// <remarks>
/// Slots hold immutable entry objects published with <see cref="Volatile.Write{T}(ref T, T)"/>; readers take no lock
/// and either see a whole entry or none. Invalidation is O(1): a global stamp, a per-domain stamp (legacy DID tags) and a
/// per-source-id stamp for device-selective invalidation with function masks.
/// </remarks>
internal sealed class ContextCache
{
    private readonly ContextCacheEntry?[]?[] _buses = new ContextCacheEntry?[]?[256];
    private readonly long[] _sourceInvalidatedAt = new long[1 << 16];
    private readonly InvalidationStamps _stamps;

    public ContextCache(InvalidationStamps stamps) => _stamps = stamps;

    public ContextCacheEntry? Lookup(ushort sourceId)
    {
        var entry = Volatile.Read(ref _buses[sourceId >> 8])?[sourceId & 0xFF];
        if (entry is null)
        {
            return null;
        }
        var valid = entry.Stamp > Volatile.Read(ref _sourceInvalidatedAt[sourceId])
            && (entry.IsScalable ? _stamps.IsValidGlobally(entry.Stamp) : _stamps.IsValid(entry.Stamp, entry.Legacy.DomainId, 0));
        return valid ? entry : null;
    }

    public void Fill(ushort sourceId, ContextCacheEntry entry)
    {
        ref var bus = ref _buses[sourceId >> 8];
        var slots = Volatile.Read(ref bus) ?? Interlocked.CompareExchange(ref bus, new ContextCacheEntry?[256], null) ?? Volatile.Read(ref bus)!;
        Volatile.Write(ref slots[sourceId & 0xFF], entry);
    }

    /// <summary>Device-selective invalidation: source-ids equal to <paramref name="sourceId"/> after masking
    /// <paramref name="functionMask"/> low function bits (FM 1/2/3 ignore SID bits 2, 2:1, 2:0).</summary>
    public void InvalidateDevice(ushort sourceId, int functionMask, long stamp)
    {
        var ignored = functionMask switch { 1 => 0b100, 2 => 0b110, 3 => 0b111, _ => 0 };
        var first = (ushort)(sourceId & ~ignored);
        for (var function = 0; function <= ignored; function++)
        {
            if ((function & ~ignored) == 0)
            {
                Volatile.Write(ref _sourceInvalidatedAt[first | function], stamp);
            }
        }
    }
}

/// <summary>A cached, validated context entry: legacy or scalable-mode, with its fill stamp.</summary>
internal sealed class ContextCacheEntry
{
    public ContextCacheEntry(long stamp, in ScalableModeContextEntry scalable)
    {
        Stamp = stamp;
        Scalable = scalable;
        IsScalable = true;
    }

    public ContextCacheEntry(long stamp, in ContextEntry legacy)
    {
        Stamp = stamp;
        Legacy = legacy;
    }

    public long Stamp { get; }

    public bool IsScalable { get; }

    public ScalableModeContextEntry Scalable { get; }

    public ContextEntry Legacy { get; }
}
