using System.Runtime.CompilerServices;
using VtdEngine.Iotlb;

namespace VtdEngine;

public sealed partial class TranslationUnit
{
    /// <summary>RTADDR.RTA latched by the last <see cref="SetRootTable"/>.</summary>
    public ulong RootTableAddress { get; private set; }

    /// <summary>RTADDR.TTM latched by the last <see cref="SetRootTable"/>.</summary>
    public RootTableMode Mode { get; private set; }

    /// <summary>GSTS.TES: when clear, DMA passes through untranslated. Changing it drops every cached translation.</summary>
    public bool TranslationEnabled
    {
        get => _translationEnabled;
        set
        {
            _translationEnabled = value;
            FlushAllCaches();
        }
    }

    private volatile bool _translationEnabled;

    /// <summary>
    /// Latches a root table and mode, as SRTP does with RTADDR. Cached structures from the old table are dropped, as a
    /// unit with CAP.ESRTPS does; software on a unit without it must still issue the global invalidations itself.
    /// </summary>
    public void SetRootTable(ulong address, RootTableMode mode)
    {
        RootTableAddress = address & ~0xFFFUL;
        Mode = mode;
        FlushAllCaches();
    }

    /// <summary>
    /// Called with every fault result (recordable or suppressed by FPD) before <see cref="Translate(in DmaRequest)"/>
    /// returns; the register model records faults in FRCD through it. Runs on the translating thread.
    /// </summary>
    public Action<DmaRequest, TranslationResult>? FaultObserver { get; set; }

    /// <summary>Translates one request: the host physical address or the fault the hardware would record.</summary>
    /// <remarks>
    /// The calling thread's first-level TLB answers first (each thread that translates on the unit gets one, 26 KiB,
    /// as a <see cref="TranslationPort"/> has its own; it is found through the thread's counter block, the one
    /// thread-local load of the call), then the shared IOTLB, then the walk. A hit takes no lock and allocates nothing;
    /// a thread's first call on a unit allocates its first-level TLB and registers the thread (under a lock) once.
    /// A cached entry is used only when its rights settle the access without a table write (no A/D update due,
    /// privilege allowed); anything else walks, so the walk alone decides every fault, and counts as a miss, as it does
    /// through a port or a burst.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TranslationResult Translate(in DmaRequest request)
    {
        ref var thread = ref _counters.Current;
        var firstLevel = thread.FirstLevel ?? OpenFirstLevel(ref thread);
        var generation = firstLevel.Synchronize();
        if (firstLevel.TryTranslate(request, generation, out var result))
        {
            thread.FirstLevelHits++;
            return result;
        }
        return TranslateBelowFirstLevel(request, firstLevel, generation, ref thread, ref thread.IotlbHits, ref thread.IotlbMisses);
    }

    /// <summary>
    /// The IOTLB and then the walk, for a request a first-level TLB (a thread's or a port's) could not answer; an IOTLB
    /// hit whose rights settle the access is copied into that first-level TLB.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="firstLevel">The first-level TLB that missed.</param>
    /// <param name="generation">What its <see cref="PortTranslationCache.Synchronize"/> returned for this call.</param>
    /// <param name="counters">The calling thread's counters, where a walk is counted.</param>
    /// <param name="hits">The caller's count of IOTLB hits (a port counts its own).</param>
    /// <param name="misses">The caller's count of IOTLB misses; requests the IOTLB may not serve count as neither.</param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal TranslationResult TranslateBelowFirstLevel(in DmaRequest request, PortTranslationCache firstLevel, ulong generation,
        ref EngineCounters.Block counters, ref long hits, ref long misses)
    {
        if (!MayUseIotlb(request))
        {
            return WalkOutsideIotlb(request, ref counters);
        }
        if (_iotlb.TryLookupUncounted(new IotlbKey(request.SourceId, request.Pasid), request.Address, out var entry)
            && Permits(entry, request))
        {
            hits++;
            var result = Hit(entry, request.Address);
            firstLevel.Fill(request, result, generation);
            return result;
        }
        misses++;
        return TranslateMiss(request, firstLevel, generation, ref counters);
    }

    /// <summary>The calling thread's counters for this unit (a thread-local load): for a port's first-level miss.</summary>
    internal ref EngineCounters.Block ThreadCounters => ref _counters.Current;

    /// <summary>Gives the calling thread its first-level TLB for this unit, the first time it translates here.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private PortTranslationCache OpenFirstLevel(ref EngineCounters.Block thread) =>
        thread.FirstLevel = new PortTranslationCache(_iotlb);

    /// <summary>
    /// Whether the IOTLB may serve <paramref name="request"/>: untranslated DMA only, and only PASIDs its key can hold —
    /// the key keeps 20 PASID bits, so a wider PASID would alias PASID &amp; 0xFFFFF; such a request walks and faults
    /// (SGN.10, PASID beyond the supported width). Every IOTLB entry point asks this one predicate.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool MayUseIotlb(in DmaRequest request) =>
        request.AddressType == AddressType.Untranslated
        && (request.Pasid <= 0xF_FFFF || request.Pasid == DmaRequest.NoPasid);

    /// <summary>Whether a cached translation grants <paramref name="request"/> as the walk would (VT-d §3.6.1, §3.7.1).</summary>
    /// <remarks>
    /// One mask test covers every common case: the access needs R, W (with D already set) or both; a first-stage user
    /// request needs U/S; a supervisor request needs SRE. The one case a mask cannot say — a supervisor writing a
    /// read-only first-stage page, allowed unless WPE — takes the second test.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Permits(in IotlbEntry entry, in DmaRequest request)
    {
        var rights = entry.Rights;
        var privileged = request.HasPasid ? request.Privileged : (rights & CachedRights.PrivilegedWithoutPasid) != 0;
        var firstStage = entry.Type is CachedTranslationType.FirstStage or CachedTranslationType.Nested;
        var needed = (CachedRights)AccessNeeds[(int)request.Access & 3]
            | (privileged ? CachedRights.Supervisor : firstStage ? CachedRights.User : 0);
        if ((rights & needed) == needed)
        {
            return true;
        }
        needed &= ~CachedRights.Write;
        return privileged && entry.Type == CachedTranslationType.FirstStage && (rights & needed) == needed
            && (rights & CachedRights.WriteProtect) == 0;
    }

    /// <summary>
    /// Rights an access needs in a cached entry, by <see cref="AccessKind"/> (read, write, atomic, and a spare for the
    /// mask): writes also need D set already. Constant data, so the hit path loads no static field.
    /// </summary>
    private static ReadOnlySpan<byte> AccessNeeds =>
    [
        (byte)CachedRights.Read,
        (byte)(CachedRights.Write | CachedRights.Dirty),
        (byte)(CachedRights.Read | CachedRights.Write | CachedRights.Dirty),
        (byte)(CachedRights.Read | CachedRights.Write | CachedRights.Dirty),
    ];

    /// <summary>
    /// An IOTLB miss of a request the IOTLB may serve: from the PDE-cache copy <paramref name="firstLevel"/> keeps for
    /// the requester's 2 MiB region when it has one and the leaf is plain, otherwise a walk, whose PDE-cache copy
    /// <paramref name="firstLevel"/> keeps for the next miss in the region.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    [SkipLocalsInit]
    private TranslationResult TranslateMiss(in DmaRequest request, PortTranslationCache firstLevel, ulong generation,
        ref EngineCounters.Block counters)
    {
        if (firstLevel.TryFindPde(request, generation, out var pde)
            && _walker.TryTranslateBelowPde(request, pde, ref counters, out var result))
        {
            return Counted(request, result, ref counters);
        }
        return WalkLeavingPde(request, firstLevel, generation, ref counters);
    }

    /// <summary>The full walk of an IOTLB miss the PDE-cache copies could not serve; kept out of line so that the copy
    /// path's frame stays small.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult WalkLeavingPde(in DmaRequest request, PortTranslationCache firstLevel, ulong generation,
        ref EngineCounters.Block counters)
    {
        var result = _walker.Translate(request, RootTableAddress, Mode, TranslationEnabled, ref counters, out var walked);
        if (walked is { } copy)
        {
            firstLevel.FillPde(request, copy, generation);
        }
        return Counted(request, result, ref counters);
    }

    /// <summary>A walk for a request the IOTLB may not serve (see <see cref="MayUseIotlb"/>): nothing first-level to keep.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult WalkOutsideIotlb(in DmaRequest request, ref EngineCounters.Block counters) =>
        Counted(request, _walker.Translate(request, RootTableAddress, Mode, TranslationEnabled, trace: null, ref counters), ref counters);

    /// <summary>Counts a walk's cost and fault and reports a fault to <see cref="FaultObserver"/>.</summary>
    private TranslationResult Counted(in DmaRequest request, TranslationResult result, ref EngineCounters.Block counters)
    {
        counters.Walks++;
        counters.TableReads += result.TableReads;
        if (result.Status == TranslationStatus.Fault)
        {
            counters.Faults++;
            FaultObserver?.Invoke(request, result);
        }
        return result;
    }

    /// <summary>
    /// Translates a burst, exploiting what a NIC burst looks like: consecutive requests from one (source-id, PASID) hash
    /// the requester once, and a request that falls in the page of one of the requester's last few IOTLB hits in the
    /// burst reuses that entry without a lookup (descriptor, buffer and completion pages interleave, and one 2 MiB
    /// entry serves every 4 KiB page of a buffer pool), as a hardware IOTLB entry or a device-side translation cache
    /// would.
    /// </summary>
    /// <remarks>
    /// A burst is issued at the moment of the call: an invalidation that completes while it runs may or may not affect
    /// its later requests (as with requests already in flight in hardware); every burst issued after the invalidation
    /// returned sees it. Each request still gets its own permission check. Requests the calling thread's first-level
    /// TLB can answer are answered from it first, as in <see cref="Translate(in DmaRequest)"/>.
    /// <paramref name="results"/> must be at least as long as <paramref name="requests"/>.
    /// </remarks>
    public void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results)
    {
        ref var thread = ref _counters.Current;
        var firstLevel = thread.FirstLevel ?? OpenFirstLevel(ref thread);
        var (hits, misses, reused) = TranslateBurst(requests, results, firstLevel, firstLevel.Synchronize());
        thread.IotlbHits += hits;
        thread.IotlbMisses += misses;
        thread.BurstReuses += reused;
    }

    /// <summary>The burst loop shared by the unit and its ports; returns its IOTLB hits, misses and reuses.</summary>
    /// <remarks>
    /// The loop body keeps only the window test inline; the IOTLB lookup and the walk are calls, so the JIT can keep the
    /// reuse path in registers.
    /// </remarks>
    /// <param name="requests">The burst.</param>
    /// <param name="results">One result per request.</param>
    /// <param name="firstLevel">The first-level TLB of the calling port, or of the calling thread for the unit.</param>
    /// <param name="generation">What its <see cref="PortTranslationCache.Synchronize"/> returned for this burst.</param>
    internal (int Hits, int Misses, int Reused) TranslateBurst(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results,
        PortTranslationCache firstLevel, ulong generation)
    {
        if (results.Length < requests.Length)
        {
            throw new ArgumentException("The result span is shorter than the request span.", nameof(results));
        }
        var key = default(IotlbKey);
        var keyRequester = ulong.MaxValue;
        var recent = default(RecentTranslations);
        var reused = 0;
        var hits = 0;
        var misses = 0;
        for (var i = 0; i < requests.Length; i++)
        {
            var missed = firstLevel.TranslateRun(requests, results, i);
            reused += missed - i;
            i = missed;
            if (i == requests.Length)
            {
                break;
            }
            ref readonly var request = ref requests[i];
            var requester = ((ulong)request.SourceId << 32) | request.Pasid;
            if (requester != keyRequester)
            {
                key = new IotlbKey(request.SourceId, request.Pasid);
                keyRequester = requester;
                recent.Clear();
            }
            if (!MayUseIotlb(request))
            {
                results[i] = WalkOutsideIotlb(request, ref _counters.Current);
                continue;
            }
            var slot = recent.Find(request.Address);
            if (slot >= 0 && recent.TryTranslate(slot, request, out results[i]))
            {
                firstLevel.Fill(request, results[i], generation);
                reused++;
                continue;
            }
            if (LookupIntoWindow(ref recent, slot, key, request, firstLevel, generation, out results[i]))
            {
                hits++;
                continue;
            }
            misses++;
            WalkIntoWindow(ref recent, slot, key, request, firstLevel, generation, out results[i]);
        }
        return (hits, misses, reused);
    }

    /// <summary>A burst's IOTLB lookup: on a hit whose rights settle the access, the entry joins the window.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool LookupIntoWindow(ref RecentTranslations recent, int slot, in IotlbKey key, in DmaRequest request,
        PortTranslationCache firstLevel, ulong generation, out TranslationResult result)
    {
        if (_iotlb.TryLookupUncounted(key, request.Address, out var entry) && Permits(entry, request))
        {
            recent.Remember(request.Address, entry, slot);
            result = Hit(entry, request.Address);
            firstLevel.Fill(request, result, generation);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>A burst's walk: the walk filled the IOTLB, so its entry joins the window and the rest of the page does not walk.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WalkIntoWindow(ref RecentTranslations recent, int slot, in IotlbKey key, in DmaRequest request,
        PortTranslationCache firstLevel, ulong generation, out TranslationResult result)
    {
        result = TranslateMiss(request, firstLevel, generation, ref _counters.Current);
        if (result.IsSuccess && _iotlb.TryLookupUncounted(key, request.Address, out var entry))
        {
            recent.Remember(request.Address, entry, slot);
        }
    }

    /// <summary>
    /// Opens a port: a translation entry point for one device queue or thread with its own first-level TLB (26 KiB)
    /// and its own hit and miss counts, so its hit path touches nothing another thread writes. Ports are not
    /// thread-safe and live as long as the unit: open one per queue or thread and keep it.
    /// </summary>
    public TranslationPort OpenPort()
    {
        var port = new TranslationPort(this, new PortTranslationCache(_iotlb));
        lock (_ports)
        {
            _ports.Add(port);
        }
        return port;
    }

    /// <summary>A snapshot of the unit's counters.</summary>
    public TranslationStatistics ReadStatistics()
    {
        long portHits = 0, portMisses = 0;
        lock (_ports)
        {
            foreach (var port in _ports)
            {
                portHits += port.Hits;
                portMisses += port.Misses;
            }
        }
        var (iotlb, threads) = ReadIotlbAndThreadCounters();
        return new TranslationStatistics
        {
            IotlbHits = iotlb.Hits + threads.BurstReuses + threads.FirstLevelHits + portHits,
            IotlbMisses = iotlb.Misses + portMisses,
            Walks = threads.Walks,
            Faults = threads.Faults,
            TableReads = threads.TableReads,
            Invalidations = threads.Invalidations,
            IotlbEvictions = iotlb.Evictions,
        };
    }

    /// <summary>
    /// The IOTLB's own counters with the lookups and fills the unit counts for it in the threads' blocks folded in,
    /// and those blocks summed.
    /// </summary>
    private (IotlbStatistics Iotlb, EngineCounters.Block Threads) ReadIotlbAndThreadCounters()
    {
        var iotlb = _caches.Iotlb.ReadStatistics();
        var threads = _counters.Sum();
        return (iotlb with
        {
            Hits = iotlb.Hits + threads.IotlbHits,
            Misses = iotlb.Misses + threads.IotlbMisses,
            Inserts = iotlb.Inserts + threads.IotlbFills.Inserts,
            DroppedFills = iotlb.DroppedFills + threads.IotlbFills.DroppedFills,
            Evictions = iotlb.Evictions + threads.IotlbFills.Evictions,
        }, threads);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TranslationResult Hit(in IotlbEntry entry, ulong address) => new(entry.Translate(address), HitOutcome(entry));

    /// <summary>What a hit on <paramref name="entry"/> reports besides the address: success, its page size, its R/W/U rights and DID, no cost.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong HitOutcome(in IotlbEntry entry) =>
        new TranslationResult(0, TranslationStatus.Success, FaultReason.None, entry.Size,
            (AccessRights)(entry.Rights & (CachedRights.Read | CachedRights.Write | CachedRights.User)), false, entry.DomainId, 0, 0).Outcome;

    /// <summary>Walks the tables for <paramref name="request"/> without any cache and records every step.</summary>
    public WalkTrace Trace(in DmaRequest request)
    {
        var trace = new WalkTrace(request);
        var nothingToCount = default(EngineCounters.Block); // the uncached walker fills no IOTLB
        trace.Result = _uncachedWalker.Translate(request, RootTableAddress, Mode, TranslationEnabled, trace, ref nothingToCount);
        return trace;
    }
}
