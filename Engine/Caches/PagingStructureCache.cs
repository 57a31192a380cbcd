using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>
/// Paging-structure caches (VT-d §6.2.4, Table 17): for a 2 MiB region of input addresses, the level-1 table a walk
/// reached and the rights its upper levels granted, so a later miss in that region reads only the leaf entry.
/// First-stage entries are tagged (DID, PASID), second-stage entries DID alone, as the spec tags them.
/// </summary>
/// <remarks>
/// Storage is an <see cref="IoTlb"/> keyed by (DID, walk identity, region): the same lock-free reads, O(1) stamp
/// invalidation and fill-race protection, with the PASID as the invalidation tag. The walk identity hashes the stage's
/// root pointer, the PASID and the flags that decide which A/D writes a walk makes (SSADE, EAFE, snooping): the spec
/// lets entries that break the programming rules of §6.2.3.1 (one DID, two roots or two SSADE values) share cached
/// structures, and we choose not to, so such an image still translates as an uncached walk would.
/// Its page-selective scopes map onto Tables 23/24 as the methods below say.
/// </remarks>
internal sealed class PagingStructureCache
{
    private const int RegionShift = 21;
    private const int MaxRegionsProbedLog2 = 6;

    private readonly IoTlb _entries;

    public PagingStructureCache(int capacity) => _entries = new IoTlb(capacity);

    public uint BeginFill() => _entries.BeginFill();

    /// <summary>The walk identity: what besides (DID, region) must match for two walks to share a cached level-1 table.</summary>
    public static uint Identity(ulong root, uint pasid, bool accessedDirty, bool extendedAccessed, bool snoop)
    {
        var flags = (accessedDirty ? 1UL : 0) | (extendedAccessed ? 2UL : 0) | (snoop ? 4UL : 0);
        var mixed = ((root >> 12) * 0x9E37_79B9_7F4A_7C15UL) ^ (((ulong)pasid << 3 | flags) * 0xC2B2_AE3D_27D4_EB4FUL);
        return (uint)(mixed >> 44);
    }

    public bool TryLookup(bool firstStage, ushort domainId, uint identity, ulong address, out ulong table, out AccessRights rights)
    {
        // Uncounted: its counts are reported nowhere, and counting would swap the thread's counter block between
        // this storage and the IOTLB on every miss.
        if (_entries.TryLookupUncounted(new IotlbKey(domainId, identity), Region(address), out var entry)
            && entry.Type == (firstStage ? CachedTranslationType.FirstStage : CachedTranslationType.SecondStage))
        {
            table = entry.PageFrame;
            rights = (AccessRights)entry.Rights;
            return true;
        }
        table = 0;
        rights = AccessRights.None;
        return false;
    }

    public void Fill(bool firstStage, ushort domainId, uint identity, uint pasid, ulong address, ulong table, AccessRights rights,
        uint stamp) =>
        _ = _entries.InsertUncounted(domainId, identity, Region(address), firstStage ? pasid : 0,
            new IotlbEntry(table, PageSize.Size4K, (CachedRights)rights, domainId,
                firstStage ? CachedTranslationType.FirstStage : CachedTranslationType.SecondStage), stamp);

    public void InvalidateAll() => _entries.InvalidateAll();

    /// <summary>IOTLB domain-selective: both caches, every entry of the DID.</summary>
    public void InvalidateDomain(ushort domainId) => _entries.InvalidateDomain(domainId);

    /// <summary>
    /// IOTLB page-selective-within-domain: every first-stage entry of the DID, and the second-stage entries of the
    /// range unless IH=1 (VT-d Table 23).
    /// </summary>
    public void InvalidatePagesInDomain(ushort domainId, ulong address, int addressMask, bool invalidationHint)
    {
        if (invalidationHint)
        {
            _entries.InvalidateFirstStageInDomain(domainId);
            return;
        }
        if (!TryRegions(address, addressMask, out var first, out var count))
        {
            _entries.InvalidateDomain(domainId);
            return;
        }
        for (var i = 0UL; i < count; i++)
        {
            _entries.InvalidatePagesInDomain(domainId, first + (i << RegionShift), 0);
        }
    }

    /// <summary>P_IOTLB PASID-selective: the first-stage entries of (DID, PASID) (VT-d Table 24).</summary>
    public void InvalidatePasid(ushort domainId, uint pasid) => _entries.InvalidatePasid(domainId, pasid);

    /// <summary>P_IOTLB page-selective: the first-stage entries of (DID, PASID) for the range unless IH=1 (VT-d Table 24).</summary>
    public void InvalidatePagesInPasid(ushort domainId, uint pasid, ulong address, int addressMask, bool invalidationHint)
    {
        if (invalidationHint)
        {
            return;
        }
        if (!TryRegions(address, addressMask, out var first, out var count))
        {
            _entries.InvalidatePasid(domainId, pasid);
            return;
        }
        for (var i = 0UL; i < count; i++)
        {
            _entries.InvalidatePagesInPasid(domainId, pasid, first + (i << RegionShift), 0);
        }
    }

    private static ulong Region(ulong address) => address & ~((1UL << RegionShift) - 1);

    /// <summary>The 2 MiB regions a 2^AM-page range touches; false when there are too many to probe one by one.</summary>
    private static bool TryRegions(ulong address, int addressMask, out ulong first, out ulong count)
    {
        var shift = 12 + addressMask;
        first = 0;
        count = 0;
        if (shift > RegionShift + MaxRegionsProbedLog2)
        {
            return false;
        }
        first = Region(address & ~((1UL << shift) - 1));
        count = Math.Max(1UL, (1UL << shift) >> RegionShift);
        return true;
    }
}
