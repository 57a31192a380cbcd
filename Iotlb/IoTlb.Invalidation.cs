using VtdEngine.Iotlb.Probing;
using VtdEngine.Iotlb.Storage;

namespace VtdEngine.Iotlb;

/// <summary>Invalidation descriptors (VT-d §6.5.2 iotlb_inv and p_iotlb_inv descriptors; scopes from Tables 23 and 24).</summary>
public sealed partial class IoTlb
{
    /// <summary>Largest page-selective range probed page by page (2^6 = 64 pages); larger ranges widen to O(1) scope.</summary>
    internal const int PageProbeLimitLog2 = 6;

    /// <summary>Largest address mask accepted: the range then covers the whole 64-bit input space.</summary>
    internal const int MaxAddressMask = 52;

    /// <summary>Global IOTLB invalidation: every entry. O(1).</summary>
    public void InvalidateAll()
    {
        uint stamp = BeginInvalidation();
        if (stamp != 0)
        {
            RaiseTo(ref _clock.Global, stamp);
            EndInvalidation(footprint: 1, stamp);
        }

        Counters().GlobalInvalidations++;
    }

    /// <summary>Domain-selective IOTLB invalidation: every entry with <paramref name="domainId"/>, any PGTT. O(1).</summary>
    /// <param name="domainId">The DID.</param>
    public void InvalidateDomain(ushort domainId)
    {
        uint stamp = BeginInvalidation();
        if (stamp != 0)
        {
            RaiseTo(ref _domains[domainId].All, stamp);
            EndInvalidation(footprint: 1, stamp);
        }

        Counters().DomainInvalidations++;
    }

    /// <summary>
    /// Every first-stage and nested entry of <paramref name="domainId"/>, and nothing else: the part of a
    /// page-selective-within-domain invalidation that paging-structure caches honour even when IH=1 (VT-d Table 23). O(1).
    /// </summary>
    /// <param name="domainId">The DID.</param>
    public void InvalidateFirstStageInDomain(ushort domainId)
    {
        uint stamp = BeginInvalidation();
        if (stamp != 0)
        {
            RaiseTo(ref _domains[domainId].FirstStage, stamp);
            EndInvalidation(footprint: 1, stamp);
        }

        Counters().DomainPageInvalidations++;
    }

    /// <summary>
    /// Page-selective-within-domain IOTLB invalidation: legacy, second-stage and pass-through entries of
    /// <paramref name="domainId"/> whose page overlaps the range, and every first-stage and nested entry of the domain.
    /// </summary>
    /// <param name="domainId">The DID.</param>
    /// <param name="address">Any address in the range; aligned down to 2^(12+<paramref name="addressMask"/>).</param>
    /// <param name="addressMask">AM: the range is 2^AM pages.</param>
    /// <remarks>
    /// Up to 64 pages are probed page by page; a larger range is widened to a domain-selective invalidation (hardware
    /// may invalidate more than asked, never less). Large (2 MiB/1 GiB) second-stage entries of the domain are all
    /// dropped by stamp because their fractured 4 KiB tags can lie outside the probed pages.
    /// </remarks>
    public void InvalidatePagesInDomain(ushort domainId, ulong address, int addressMask)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(addressMask);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(addressMask, MaxAddressMask);
        if (addressMask > PageProbeLimitLog2)
        {
            Counters().WidenedInvalidations++;
            InvalidateDomain(domainId);
            return;
        }

        uint stamp = BeginInvalidation();
        if (stamp != 0)
        {
            ref DomainStamps domain = ref _domains[domainId];
            RaiseTo(ref domain.FirstStage, stamp);
            RaiseTo(ref domain.LargeSecondStage, stamp);
            int sets = ClearRange(address, addressMask, domainId, tagPasid: 0, firstStage: false, stamp);
            EndInvalidation(footprint: 2 + sets, stamp);
        }

        Counters().DomainPageInvalidations++;
    }

    /// <summary>PASID-selective P_IOTLB invalidation: every entry (any PGTT) with the DID and tag PASID. O(1).</summary>
    /// <param name="domainId">The DID.</param>
    /// <param name="pasid">The PASID the entries are tagged with.</param>
    public void InvalidatePasid(ushort domainId, uint pasid)
    {
        uint stamp = BeginInvalidation();
        if (stamp != 0)
        {
            RaiseTo(ref _pasids[PasidSlot(domainId, pasid)].All, stamp);
            EndInvalidation(footprint: 1, stamp);
        }

        Counters().PasidInvalidations++;
    }

    /// <summary>
    /// Page-selective-within-PASID P_IOTLB invalidation: only first-stage and nested entries with the DID, tag PASID and
    /// a page overlapping the range.
    /// </summary>
    /// <param name="domainId">The DID.</param>
    /// <param name="pasid">The PASID the entries are tagged with.</param>
    /// <param name="address">Any address in the range; aligned down to 2^(12+<paramref name="addressMask"/>).</param>
    /// <param name="addressMask">AM: the range is 2^AM pages.</param>
    /// <remarks>Ranges above 64 pages widen to <see cref="InvalidatePasid"/>.</remarks>
    public void InvalidatePagesInPasid(ushort domainId, uint pasid, ulong address, int addressMask)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(addressMask);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(addressMask, MaxAddressMask);
        if (addressMask > PageProbeLimitLog2)
        {
            Counters().WidenedInvalidations++;
            InvalidatePasid(domainId, pasid);
            return;
        }

        uint stamp = BeginInvalidation();
        if (stamp != 0)
        {
            RaiseTo(ref _pasids[PasidSlot(domainId, pasid)].LargeFirstStage, stamp);
            int sets = ClearRange(address, addressMask, domainId, pasid & 0xF_FFFF, firstStage: true, stamp);
            EndInvalidation(footprint: 1 + sets, stamp);
        }

        Counters().PasidPageInvalidations++;
    }

    /// <summary>Clears matching ways of every 4 KiB page in the range, in every set of each page's group.</summary>
    /// <returns>Sets visited.</returns>
    private int ClearRange(ulong address, int addressMask, ushort domainId, uint tagPasid, bool firstStage, uint stamp)
    {
        ulong first = (address >> 12) & ~((1UL << addressMask) - 1);
        int visited = 0;
        for (ulong i = 0; i < (1UL << addressMask); i++)
        {
            ulong page = first + i;
            if (page > MaxPageNumber)
            {
                break;
            }

            int groupBase = GroupBase(page);
            for (int s = 0; s < GroupSize; s++)
            {
                ClearPageInSet(groupBase + s, page, domainId, tagPasid, firstStage, stamp);
                visited++;
            }
        }

        return visited;
    }

    private void ClearPageInSet(int set, ulong page, ushort domainId, uint tagPasid, bool firstStage, uint stamp)
    {
        ref SetMeta meta = ref _meta[set];
        int sequence = LockSet(ref meta);
        int baseIndex = set * TagProbe.Ways;
        for (int way = 0; way < TagProbe.Ways; way++)
        {
            ref ulong tag = ref _tags[_tagBase + baseIndex + way];
            if (tag == 0 || (tag >> 19) != page)
            {
                continue;
            }

            ref EntryPayload payload = ref _payloads[baseIndex + way];
            if (EntryPayload.DomainOf(payload.Ids) != domainId)
            {
                continue;
            }

            CachedTranslationType type = EntryPayload.TypeOf(payload.Frame);
            bool entryFirstStage = type is CachedTranslationType.FirstStage or CachedTranslationType.Nested;

            // Table 23: the domain-page scope matches legacy/SS/PT entries by address (FS/nested go by stamp);
            // Table 24: the PASID-page scope matches only FS/nested entries with the PASID.
            bool matches = firstStage
                ? entryFirstStage && EntryPayload.TagPasidOf(payload.Pasids) == tagPasid
                : !entryFirstStage;
            if (matches)
            {
                tag = 0;
            }
        }

        // Fills whose walk began before this invalidation must not land here afterwards (see Insert).
        if (meta.LastInvalidated < stamp)
        {
            meta.LastInvalidated = stamp;
        }

        UnlockSet(ref meta, sequence);
    }

    /// <summary>Raises <paramref name="slot"/> to <paramref name="stamp"/> unless it is already newer: stamps never go back.</summary>
    private static void RaiseTo(ref uint slot, uint stamp)
    {
        uint current = Volatile.Read(ref slot);
        while (current < stamp)
        {
            uint seen = Interlocked.CompareExchange(ref slot, stamp, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
