using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Iotlb;

/// <summary>A dictionary IOTLB with the exact invalidation scopes of VT-d Tables 23 and 24 (scalable mode).</summary>
/// <remarks>Keyed like the real cache: (source id, lookup PASID, 4 KiB page touched); each value remembers its full page.</remarks>
internal sealed class ReferenceIotlb
{
    private readonly Dictionary<(ushort Source, uint Pasid, ulong Page), (IotlbEntry Entry, uint TagPasid, ulong PageBase)> _entries = new();

    public int Count => _entries.Count;

    public void Insert(ushort sourceId, uint pasid, ulong address, uint tagPasid, IotlbEntry entry) =>
        _entries[(sourceId, pasid, address >> 12)] = (entry, tagPasid, address & ~entry.Size.OffsetMask());

    public bool TryLookup(ushort sourceId, uint pasid, ulong address, out IotlbEntry entry)
    {
        bool found = _entries.TryGetValue((sourceId, pasid, address >> 12), out var value);
        entry = value.Entry;
        return found;
    }

    public void InvalidateAll() => _entries.Clear();

    public void InvalidateDomain(ushort domainId) => RemoveWhere(v => v.Entry.DomainId == domainId);

    public void InvalidatePagesInDomain(ushort domainId, ulong address, int addressMask) =>
        RemoveWhere(v => v.Entry.DomainId == domainId
            && (IsFirstStage(v.Entry.Type) || Overlaps(v.PageBase, v.Entry.Size, address, addressMask)));

    public void InvalidatePasid(ushort domainId, uint pasid) =>
        RemoveWhere(v => v.Entry.DomainId == domainId && v.TagPasid == pasid);

    public void InvalidatePagesInPasid(ushort domainId, uint pasid, ulong address, int addressMask) =>
        RemoveWhere(v => v.Entry.DomainId == domainId && v.TagPasid == pasid && IsFirstStage(v.Entry.Type)
            && Overlaps(v.PageBase, v.Entry.Size, address, addressMask));

    private static bool IsFirstStage(CachedTranslationType type) =>
        type is CachedTranslationType.FirstStage or CachedTranslationType.Nested;

    private static bool Overlaps(ulong pageBase, PageSize size, ulong address, int addressMask)
    {
        ulong rangeBytes = 1UL << (12 + addressMask);
        ulong rangeBase = address & ~(rangeBytes - 1);
        return pageBase < rangeBase + rangeBytes && rangeBase < pageBase + size.Bytes();
    }

    private void RemoveWhere(Func<(IotlbEntry Entry, uint TagPasid, ulong PageBase), bool> predicate)
    {
        foreach (var key in _entries.Where(kv => predicate(kv.Value)).Select(kv => kv.Key).ToList())
        {
            _entries.Remove(key);
        }
    }
}
