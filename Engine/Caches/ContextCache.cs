using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>
/// Context cache (VT-d §6.1, Table 17): validated context entries looked up by source-id, so an IOTLB miss does not
/// re-read the root and context tables. Only entries that passed every check are cached (CM=0 caches no faults).
/// </summary>
/// <remarks>
/// Entries are values in <see cref="PublishedSlot{T}"/>s, one array of 256 per bus made when the bus is first filled:
/// readers take no lock and see a whole entry or none, and a fill allocates nothing once its bus has slots.
/// Invalidation is O(1): a global stamp, a per-domain stamp (legacy DID tags) and a per-source-id stamp for
/// device-selective invalidation with function masks. An empty slot reads as stamp 0, which no stamp check passes.
/// </remarks>
internal sealed class ContextCache
{
    private readonly PublishedSlot<ContextCacheEntry>[]?[] _buses = new PublishedSlot<ContextCacheEntry>[]?[256];
    private readonly long[] _sourceInvalidatedAt = new long[1 << 16];
    private readonly InvalidationStamps _stamps;

    public ContextCache(InvalidationStamps stamps) => _stamps = stamps;

    public bool TryLookup(ushort sourceId, out ContextCacheEntry entry)
    {
        var slots = Volatile.Read(ref _buses[sourceId >> 8]);
        if (slots is null || !slots[sourceId & 0xFF].TryRead(out entry))
        {
            entry = default;
            return false;
        }
        return entry.Stamp > Volatile.Read(ref _sourceInvalidatedAt[sourceId])
            && (entry.IsScalable ? _stamps.IsValidGlobally(entry.Stamp) : _stamps.IsValid(entry.Stamp, entry.Legacy.DomainId, 0));
    }

    public void Fill(ushort sourceId, in ContextCacheEntry entry)
    {
        var slots = LazyInitializer.EnsureInitialized(ref _buses[sourceId >> 8],
            static () => new PublishedSlot<ContextCacheEntry>[256]);
        slots[sourceId & 0xFF].Write(entry);
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
internal readonly struct ContextCacheEntry
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
