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
    /// An IOTLB hit takes no lock and allocates nothing. A hit is used only when the cached rights settle the access
    /// without a table write (no A/D update due, privilege allowed); anything else walks, so the walk alone decides
    /// every fault.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TranslationResult Translate(in DmaRequest request)
    {
        if (request.AddressType == AddressType.Untranslated && HasIotlbKey(request.Pasid)
            && _caches.Iotlb.TryLookup(request.SourceId, request.Pasid, request.Address, out var entry)
            && Permits(entry, request))
        {
            return Hit(entry, request.Address);
        }
        return TranslateMiss(request);
    }

    /// <summary>
    /// Whether the IOTLB may serve <paramref name="pasid"/>: its key keeps 20 PASID bits, so a wider PASID would alias
    /// PASID &amp; 0xFFFFF; such a request walks and faults (SGN.10, PASID beyond the supported width).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool HasIotlbKey(uint pasid) => pasid <= 0xF_FFFF || pasid == DmaRequest.NoPasid;

    /// <summary>Whether a cached translation grants <paramref name="request"/> as the walk would (VT-d §3.6.1, §3.7.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Permits(in IotlbEntry entry, in DmaRequest request)
    {
        var rights = entry.Rights;
        var privileged = request.HasPasid ? request.Privileged : (rights & CachedRights.PrivilegedWithoutPasid) != 0;
        if (privileged && (rights & CachedRights.Supervisor) == 0)
        {
            return false;
        }
        var firstStage = entry.Type is CachedTranslationType.FirstStage or CachedTranslationType.Nested;
        if ((firstStage && !privileged && (rights & CachedRights.User) == 0)
            || (request.Access != AccessKind.Write && (rights & CachedRights.Read) == 0))
        {
            return false;
        }
        if (request.Access == AccessKind.Read)
        {
            return true;
        }
        if ((rights & CachedRights.Dirty) == 0)
        {
            return false;
        }
        // A supervisor may write a read-only first-stage page unless WPE is set; nested output also needs SS write.
        return (rights & CachedRights.Write) != 0
            || (entry.Type == CachedTranslationType.FirstStage && privileged && (rights & CachedRights.WriteProtect) == 0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateMiss(in DmaRequest request)
    {
        var result = _walker.Translate(request, RootTableAddress, Mode, TranslationEnabled, trace: null);
        ref var counters = ref _counters.Current;
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
    /// Translates a batch, exploiting the common case of a NIC burst: consecutive requests from one (source-id, PASID)
    /// hash the requester once. Each request is translated as <see cref="Translate(in DmaRequest)"/> would.
    /// </summary>
    /// <remarks><paramref name="results"/> must be at least as long as <paramref name="requests"/>.</remarks>
    public void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results)
    {
        if (results.Length < requests.Length)
        {
            throw new ArgumentException("The result span is shorter than the request span.", nameof(results));
        }
        var iotlb = _caches.Iotlb;
        var key = default(IotlbKey);
        var keyPasid = ~0u;
        var keySource = -1;
        for (var i = 0; i < requests.Length; i++)
        {
            ref readonly var request = ref requests[i];
            if (request.SourceId != keySource || request.Pasid != keyPasid)
            {
                key = new IotlbKey(request.SourceId, request.Pasid);
                keySource = request.SourceId;
                keyPasid = request.Pasid;
            }
            results[i] = request.AddressType == AddressType.Untranslated && HasIotlbKey(request.Pasid)
                && iotlb.TryLookup(key, request.Address, out var entry) && Permits(entry, request)
                ? Hit(entry, request.Address)
                : TranslateMiss(request);
        }
    }

    /// <summary>A snapshot of the unit's counters.</summary>
    public TranslationStatistics ReadStatistics()
    {
        var iotlb = _caches.Iotlb.ReadStatistics();
        var (walks, faults, reads, invalidations) = _counters.Sum();
        return new TranslationStatistics
        {
            IotlbHits = iotlb.Hits,
            IotlbMisses = iotlb.Misses,
            Walks = walks,
            Faults = faults,
            TableReads = reads,
            Invalidations = invalidations,
            IotlbEvictions = iotlb.Evictions,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TranslationResult Hit(in IotlbEntry entry, ulong address) =>
        new(entry.Translate(address), TranslationStatus.Success, FaultReason.None, entry.Size,
            (AccessRights)(entry.Rights & (CachedRights.Read | CachedRights.Write | CachedRights.User)), false, entry.DomainId, 0, 0);

    /// <summary>Walks the tables for <paramref name="request"/> without any cache and records every step.</summary>
    public WalkTrace Trace(in DmaRequest request)
    {
        var trace = new WalkTrace(request);
        trace.Result = _uncachedWalker.Translate(request, RootTableAddress, Mode, TranslationEnabled, trace);
        return trace;
    }
}
