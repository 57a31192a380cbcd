using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VtdEngine.Iotlb.Probing;
using VtdEngine.Iotlb.Storage;
using VtdEngine.Tables;

namespace VtdEngine.Iotlb;

/// <summary>A lock-free, 8-way set-associative IOTLB with SIMD tag probes and O(1) stamp invalidation.</summary>
/// <remarks>
/// <para>
/// <b>Layout.</b> Each set is one 64-byte line of eight tag words (<c>_tags</c>, 64-byte aligned) with the outputs in a
/// parallel array of 24-byte <see cref="EntryPayload"/>s: 32 bytes per entry. A tag is
/// <c>[63:19 4 KiB page number][18:1 fingerprint of (source id, PASID)][0 valid]</c>; the exact source id and PASID are
/// re-checked in the payload. Every translation, whatever its page size, is tagged with the 4 KiB page that was
/// touched (a fractured entry), so one probe finds it.
/// </para>
/// <para>
/// <b>Set choice.</b> Invalidations carry a DID and an address but no source id, so the page number alone picks a group
/// of <see cref="GroupSize"/> sets, and the (source id, PASID) hash mixed with the page picks the set inside it. Lookups touch one
/// set; page-selective invalidation visits the whole group.
/// </para>
/// <para>
/// <b>Publication protocol (seqlock per set).</b> A writer (fill or in-place invalidation) takes the set by CAS of its
/// sequence word from even <c>s</c> to odd <c>s+1</c>, writes payload and tag, then <c>Volatile.Write</c>s <c>s+2</c>.
/// A reader reads the sequence (rejecting odd), probes the tags, reads the chosen way's tag and payload with
/// <c>Volatile.Read</c>, and re-reads the sequence; any change means a writer overlapped and the lookup reports a miss,
/// which is always safe. On the .NET memory model the CAS is a full fence, so the odd value is visible before any
/// payload store; the final <c>Volatile.Write</c> is a release, so the stores are visible before the even value; the
/// reader's reads are all acquires, so its second sequence read cannot be satisfied before the data reads. A reader
/// that saw any store of an overlapping writer therefore sees a changed sequence. Readers never write shared memory and
/// never loop more than 8 times.
/// </para>
/// <para>
/// <b>Invalidation by stamp.</b> A global clock orders fills and invalidations. A miss takes <see cref="BeginFill"/>
/// before walking; each invalidation takes <c>++clock</c> and raises (monotonic CAS max) the stamp slots it covers:
/// global, per DID, per DID first-stage, per DID large second-stage, per hashed (DID, PASID). An entry is live only if
/// its fill stamp is at least every applicable slot, so an entry whose walk began before an invalidation is dead after
/// it, and an invalidation costs O(1). Page-selective invalidation clears matching ways in place and raises the set's
/// <see cref="SetMeta.LastInvalidated"/> under the seqlock; <see cref="Insert"/> drops a fill older than that.
/// </para>
/// </remarks>
public sealed partial class IoTlb
{
    /// <summary>Sets per page-number group; page-selective invalidation probes each of them.</summary>
    internal const int GroupSize = 4;

    /// <summary>Smallest capacity: 8 sets, so there are at least 2 groups.</summary>
    internal const int MinCapacity = 64;

    /// <summary>Largest capacity (entries).</summary>
    internal const int MaxCapacity = 1 << 28;

    /// <summary>Largest 4 KiB page number a tag can hold: 57-bit input addresses (5-level paging, VT-d §3.6).</summary>
    internal const ulong MaxPageNumber = (1UL << 45) - 1;

    /// <summary>Hashed (DID, PASID) stamp slots.</summary>
    internal const int PasidSlots = 1 << 14;

    private const ulong GoldenRatio = 0x9E37_79B9_7F4A_7C15UL;
    private const ulong KeyMultiplier = 0xC2B2_AE3D_27D4_EB4FUL;

    private readonly ulong[] _tags;
    private readonly int _tagBase;
    private readonly EntryPayload[] _payloads;
    private readonly SetMeta[] _meta;
    private readonly DomainStamps[] _domains;
    private readonly PasidStamps[] _pasids;
    private readonly ThreadCounters<ThreadStatistics> _statistics = new();
    private readonly int _groupShift;
    private readonly Lock _wrapLock = new();
    private readonly EpochCell _epoch = new();
    private ClockLine _clock;

    /// <summary>The calling thread's counters of the IOTLB it counted for last.</summary>
    [ThreadStatic]
    private static ThreadCounters<ThreadStatistics>.Slot? t_statistics;

    /// <summary>Creates an IOTLB holding at least <paramref name="capacity"/> entries.</summary>
    /// <param name="capacity">Entries; rounded up to a power of two, at least 64 and at most 2^28.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is below 64 or above 2^28.</exception>
    public IoTlb(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, MinCapacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, MaxCapacity);
        Capacity = (int)BitOperations.RoundUpToPowerOf2((uint)capacity);
        int sets = Capacity / TagProbe.Ways;
        int groups = sets / GroupSize;
        _groupShift = 64 - BitOperations.Log2((uint)groups);
        (_tags, _tagBase) = AlignedTags.Allocate(sets * TagProbe.Ways);
        _payloads = new EntryPayload[Capacity];
        _meta = new SetMeta[sets];
        _domains = new DomainStamps[ushort.MaxValue + 1];
        _pasids = new PasidStamps[PasidSlots];
    }

    /// <summary>Number of entries (a power of two).</summary>
    public int Capacity { get; }

    /// <summary>
    /// Changes each time an invalidation finishes (after its effect is visible), never returning to an old value. A
    /// private copy of a hit from a lookup made after reading epoch <c>E</c> may be reused for as long as the epoch
    /// still reads <c>E</c>: any invalidation that could have removed the entry has not finished yet, so a request
    /// served from the copy overlapped it, which is allowed. This is how a <c>TranslationPort</c>'s first-level cache
    /// stays exact without being told about invalidations.
    /// </summary>
    public long InvalidationEpoch => Volatile.Read(ref _epoch.Value);

    /// <summary>
    /// The word behind <see cref="InvalidationEpoch"/>, for a first-level TLB to hold instead of the IOTLB: it counts
    /// finished invalidations, wrap resets included, and never goes back.
    /// </summary>
    internal EpochCell Epoch => _epoch;

    /// <summary>
    /// Moves <see cref="InvalidationEpoch"/> without invalidating anything here: for an owner that has just invalidated
    /// caches of its own which first-level copies also draw on (the context and PASID caches behind a copied walk).
    /// </summary>
    public void AdvanceEpoch() => Interlocked.Increment(ref _epoch.Value);

    /// <summary>The stamp to take before walking the tables for a miss; pass it to <see cref="Insert"/>.</summary>
    /// <returns>The current clock: invalidations that start after this call make the fill dead.</returns>
    public uint BeginFill() => Volatile.Read(ref _clock.Clock);

    /// <summary>Looks up the translation of <paramref name="address"/> for a requester. Lock-free and allocation-free.</summary>
    /// <param name="sourceId">Requester id (bus:device.function).</param>
    /// <param name="pasid">PASID of the request, or <c>0xFFFFFFFF</c> for a request without PASID.</param>
    /// <param name="address">Input address.</param>
    /// <param name="entry">The cached translation on a hit.</param>
    /// <returns><see langword="true"/> on a hit; a miss may also mean the lookup raced a writer.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ushort sourceId, uint pasid, ulong address, out IotlbEntry entry) =>
        TryLookup(new IotlbKey(sourceId, pasid), address, out entry);

    /// <summary>
    /// Looks up <paramref name="address"/> for a requester whose key was prepared once, so that a batch of requests
    /// from one (source-id, PASID) hashes the requester only once.
    /// </summary>
    /// <param name="key">The requester.</param>
    /// <param name="address">Input address.</param>
    /// <param name="entry">The cached translation on a hit.</param>
    /// <returns><see langword="true"/> on a hit; a miss may also mean the lookup raced a writer.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(in IotlbKey key, ulong address, out IotlbEntry entry)
    {
        var hit = TryLookupUncounted(key, address, out entry);
        CountLookup(hit);
        return hit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountLookup(bool hit)
    {
        ref ThreadStatistics counters = ref Counters();
        if (hit)
        {
            counters.Hits++;
        }
        else
        {
            counters.Misses++;
        }
    }

    /// <summary>The lookup without statistics, for callers that count lookups in counters of their own.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryLookupUncounted(in IotlbKey key, ulong address, out IotlbEntry entry)
    {
        ulong page = address >> 12;
        if (page <= MaxPageNumber)
        {
            ushort sourceId = key.SourceId;
            uint pasidKey = key.PasidKey;
            ulong keyHash = key.Hash;
            int set = SetIndex(page, keyHash);
            ulong tag = MakeTag(page, keyHash);
            // SetIndex is masked into range, so these element references skip the bounds checks.
            ref SetMeta meta = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_meta), set);
            int sequence = Volatile.Read(ref meta.Sequence);
            if ((sequence & 1) == 0)
            {
                ref ulong tags = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_tags), _tagBase + (set * TagProbe.Ways));
                uint matches = TagProbe.Match(ref tags, tag);
                while (matches != 0)
                {
                    int way = BitOperations.TrailingZeroCount(matches);
                    matches &= matches - 1;

                    // Authoritative reads: acquires, so the sequence re-read below cannot pass them.
                    ref EntryPayload payload = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_payloads), (set * TagProbe.Ways) + way);
                    ulong wayTag = Volatile.Read(ref Unsafe.Add(ref tags, way));
                    ulong ids = Volatile.Read(ref payload.Ids);
                    ulong pasids = Volatile.Read(ref payload.Pasids);
                    ulong frame = Volatile.Read(ref payload.Frame);
                    if (Volatile.Read(ref meta.Sequence) != sequence)
                    {
                        break;
                    }

                    if (wayTag != tag || EntryPayload.SourceOf(ids) != sourceId || EntryPayload.LookupPasidOf(pasids) != pasidKey)
                    {
                        continue; // fingerprint collision with another requester
                    }

                    if (!IsLive(frame, ids, pasids))
                    {
                        break;
                    }

                    entry = EntryPayload.Unpack(frame, ids);
                    return true;
                }
            }
        }

        entry = default;
        return false;
    }

    /// <summary>Stores a translation produced by a table walk.</summary>
    /// <param name="sourceId">Requester id of the lookup key.</param>
    /// <param name="pasid">PASID of the lookup key, or <c>0xFFFFFFFF</c> for a request without PASID.</param>
    /// <param name="address">Any address in the 4 KiB page that was translated; the entry is tagged with that page.</param>
    /// <param name="tagPasid">PASID the entry is tagged with for invalidation (RID_PASID for requests without PASID, VT-d Table 17).</param>
    /// <param name="entry">The translation.</param>
    /// <param name="fillStamp">The value <see cref="BeginFill"/> returned before the walk.</param>
    /// <remarks>
    /// The fill is dropped, not stored, when an invalidation overtook the walk: its stamp is older than a stamp slot
    /// that covers it or than the set's last in-place invalidation, or it predates a clock-wrap reset.
    /// </remarks>
    public void Insert(ushort sourceId, uint pasid, ulong address, uint tagPasid, in IotlbEntry entry, uint fillStamp)
    {
        var fill = InsertUncounted(sourceId, pasid, address, tagPasid, entry, fillStamp);
        Counters().Fills.Count(fill);
    }

    /// <summary>
    /// <see cref="Insert"/> without statistics, for callers that count fills in counters of their own (a thread-local
    /// load fewer per miss).
    /// </summary>
    internal FillOutcome InsertUncounted(ushort sourceId, uint pasid, ulong address, uint tagPasid, in IotlbEntry entry, uint fillStamp)
    {
        ulong page = address >> 12;
        if (page > MaxPageNumber)
        {
            return FillOutcome.Dropped; // beyond 57-bit input addresses: no walk can produce it
        }

        uint pasidKey = PasidKey(pasid);
        ulong keyHash = KeyHash(sourceId, pasidKey);
        int set = SetIndex(page, keyHash);
        ulong tag = MakeTag(page, keyHash);
        ulong frame = EntryPayload.PackFrame(entry);
        ulong ids = EntryPayload.PackIds(entry.DomainId, sourceId, fillStamp);
        ulong pasids = EntryPayload.PackPasids(pasidKey, tagPasid);

        ref SetMeta meta = ref _meta[set];
        int sequence = LockSet(ref meta);
        bool stored = false;
        bool evicted = false;

        // A stamp newer than the clock was taken before a wrap reset lowered the clock.
        if (fillStamp <= Volatile.Read(ref _clock.Clock) && fillStamp >= meta.LastInvalidated && IsLive(frame, ids, pasids))
        {
            int baseIndex = set * TagProbe.Ways;
            int way = ChooseWay(baseIndex, tag, sourceId, pasidKey, ref meta, out evicted);
            ref EntryPayload payload = ref _payloads[baseIndex + way];
            payload.Frame = frame;
            payload.Ids = ids;
            payload.Pasids = pasids;
            _tags[_tagBase + baseIndex + way] = tag;
            stored = true;
        }

        UnlockSet(ref meta, sequence);
        return !stored ? FillOutcome.Dropped : evicted ? FillOutcome.StoredEvicting : FillOutcome.Stored;
    }

    /// <summary>Sums the per-thread counters.</summary>
    /// <returns>An approximate snapshot when other threads are running.</returns>
    public IotlbStatistics ReadStatistics()
    {
        long hits = 0, misses = 0, global = 0, domain = 0, domainPage = 0, pasid = 0, pasidPage = 0, widened = 0;
        var fills = default(FillCounts);
        foreach (var slot in _statistics.Slots)
        {
            ref ThreadStatistics s = ref slot.Block;
            hits += Volatile.Read(ref s.Hits);
            misses += Volatile.Read(ref s.Misses);
            fills = fills.Plus(s.Fills);
            global += Volatile.Read(ref s.GlobalInvalidations);
            domain += Volatile.Read(ref s.DomainInvalidations);
            domainPage += Volatile.Read(ref s.DomainPageInvalidations);
            pasid += Volatile.Read(ref s.PasidInvalidations);
            pasidPage += Volatile.Read(ref s.PasidPageInvalidations);
            widened += Volatile.Read(ref s.WidenedInvalidations);
        }

        return new IotlbStatistics
        {
            Hits = hits,
            Misses = misses,
            Inserts = fills.Inserts,
            DroppedFills = fills.DroppedFills,
            Evictions = fills.Evictions,
            GlobalInvalidations = global,
            DomainInvalidations = domain,
            DomainPageInvalidations = domainPage,
            PasidInvalidations = pasid,
            PasidPageInvalidations = pasidPage,
            WidenedInvalidations = widened,
        };
    }

    /// <summary>The 21-bit lookup PASID key: the PASID, or bit 20 alone for a request without PASID.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint PasidKey(uint pasid) => pasid == uint.MaxValue ? EntryPayload.NoPasidKey : pasid & 0xF_FFFF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong KeyHash(ushort sourceId, uint pasidKey) => (((ulong)sourceId << 21) | pasidKey) * KeyMultiplier;

    /// <summary>Tag: page number, 18 high bits of the key hash as fingerprint, valid bit. Never 0, so empty ways never match.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MakeTag(ulong page, ulong keyHash) => (page << 19) | ((keyHash >> 46) << 1) | 1;

    /// <summary>
    /// Group from the page number (Fibonacci hashing); set within the group from the key hash mixed with the low page
    /// bits, so one requester's consecutive pages spread over the whole group rather than one set of it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SetIndex(ulong page, ulong keyHash) => GroupBase(page) + (int)(((keyHash >> 40) ^ page) & (GroupSize - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int GroupBase(ulong page) => (int)((page * GoldenRatio) >> _groupShift) * GroupSize;

    /// <summary>Whether no invalidation stamp that applies to the entry is newer than its fill (VT-d Tables 23, 24).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsLive(ulong frame, ulong ids, ulong pasids)
    {
        uint stamp = EntryPayload.StampOf(ids);
        if (stamp >= Volatile.Read(ref _clock.Latest))
        {
            return true; // newer than every invalidation so far, whatever its scopes
        }

        if (stamp < Volatile.Read(ref _clock.Global))
        {
            return false;
        }

        ref DomainStamps domain = ref _domains[EntryPayload.DomainOf(ids)];
        if (stamp < Volatile.Read(ref domain.All))
        {
            return false;
        }

        CachedTranslationType type = EntryPayload.TypeOf(frame);
        bool firstStage = type is CachedTranslationType.FirstStage or CachedTranslationType.Nested;
        bool large = EntryPayload.SizeOf(frame) != PageSize.Size4K;
        if (firstStage ? stamp < Volatile.Read(ref domain.FirstStage) : large && stamp < Volatile.Read(ref domain.LargeSecondStage))
        {
            return false;
        }

        ref PasidStamps pasid = ref _pasids[PasidSlot(EntryPayload.DomainOf(ids), EntryPayload.TagPasidOf(pasids))];
        return stamp >= Volatile.Read(ref pasid.All) && !(firstStage && large && stamp < Volatile.Read(ref pasid.LargeFirstStage));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PasidSlot(ushort domainId, uint tagPasid) =>
        (int)(((((ulong)domainId << 20) | (tagPasid & 0xF_FFFF)) * GoldenRatio) >> (64 - 14));

    /// <summary>
    /// The way a fill takes, in order of preference: the way holding the same key (at most one way per key), an empty
    /// way, a dead one, else the round-robin victim. Tags always have bit 0 set, so an empty way reads 0 and the
    /// set probe finds both the key's way and the empty ones; only a full set looks at liveness, and only after an
    /// invalidation (see <see cref="SetMeta.AllLiveThrough"/>).
    /// </summary>
    private int ChooseWay(int baseIndex, ulong tag, ushort sourceId, uint pasidKey, ref SetMeta meta, out bool evicted)
    {
        evicted = false;
        // baseIndex is a set's first way, so all eight ways of both arrays are in range.
        ref ulong tags = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_tags), _tagBase + baseIndex);
        ref EntryPayload payloads = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_payloads), baseIndex);
        for (uint same = TagProbe.Match(ref tags, tag); same != 0; same &= same - 1)
        {
            int way = BitOperations.TrailingZeroCount(same);
            ref EntryPayload payload = ref Unsafe.Add(ref payloads, way);
            if (EntryPayload.SourceOf(payload.Ids) == sourceId && EntryPayload.LookupPasidOf(payload.Pasids) == pasidKey)
            {
                return way;
            }
        }

        uint empty = TagProbe.Match(ref tags, 0);
        if (empty != 0)
        {
            return BitOperations.TrailingZeroCount(empty);
        }

        // With no invalidation finished since every way was last found live, none can have died (fills store live
        // entries). The epoch, read before the scan, moves after each invalidation's slots are raised, whatever order
        // concurrent invalidations finish in.
        uint liveThrough = unchecked((uint)Volatile.Read(ref _epoch.Value) + 1);
        if (meta.AllLiveThrough != liveThrough)
        {
            for (int way = 0; way < TagProbe.Ways; way++)
            {
                ref EntryPayload payload = ref Unsafe.Add(ref payloads, way);
                if (!IsLive(payload.Frame, payload.Ids, payload.Pasids))
                {
                    return way;
                }
            }

            meta.AllLiveThrough = liveThrough;
        }

        evicted = true;
        int victim = meta.NextVictim;
        meta.NextVictim = (victim + 1) & (TagProbe.Ways - 1);
        return victim;
    }

    /// <summary>Takes the set for writing (see <see cref="SequenceLock.Enter"/>).</summary>
    private static int LockSet(ref SetMeta meta) => SequenceLock.Enter(ref meta.Sequence);

    private static void UnlockSet(ref SetMeta meta, int sequence) => SequenceLock.Exit(ref meta.Sequence, sequence);

    /// <summary>The calling thread's counters: written without atomics, never shared with another thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref ThreadStatistics Counters() => ref _statistics.For(ref t_statistics);
}
