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
    public TranslationResult Translate(in DmaRequest request)
    {
        var result = _walker.Translate(request, RootTableAddress, Mode, TranslationEnabled, trace: null);
        if (result.Status == TranslationStatus.Fault)
        {
            FaultObserver?.Invoke(request, result);
        }
        return result;
    }

    /// <summary>Translates a batch; <paramref name="results"/> must be at least as long as <paramref name="requests"/>.</summary>
    public void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results)
    {
        if (results.Length < requests.Length)
        {
            throw new ArgumentException("The result span is shorter than the request span.", nameof(results));
        }
        for (var i = 0; i < requests.Length; i++)
        {
            results[i] = Translate(requests[i]);
        }
    }

    /// <summary>Walks the tables for <paramref name="request"/> without any cache and records every step.</summary>
    public WalkTrace Trace(in DmaRequest request)
    {
        var trace = new WalkTrace(request);
        trace.Result = _uncachedWalker.Translate(request, RootTableAddress, Mode, TranslationEnabled, trace);
        return trace;
    }
}
