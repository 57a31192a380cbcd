namespace VtdEngine;

public sealed partial class TranslationUnit
{
    /// <summary>RTADDR.RTA latched by the last <see cref="SetRootTable"/>.</summary>
    public ulong RootTableAddress { get; private set; }

    /// <summary>RTADDR.TTM latched by the last <see cref="SetRootTable"/>.</summary>
    public RootTableMode Mode { get; private set; }

    /// <summary>GSTS.TES: when clear, DMA passes through untranslated.</summary>
    public bool TranslationEnabled { get; set; }

    /// <summary>Latches a root table and mode, as SRTP does with RTADDR.</summary>
    public void SetRootTable(ulong address, RootTableMode mode)
    {
        RootTableAddress = address & ~0xFFFUL;
        Mode = mode;
    }

    /// <summary>Translates one request.</summary>
    public TranslationResult Translate(in DmaRequest request) =>
        _walker.Translate(request, RootTableAddress, Mode, TranslationEnabled, trace: null);

    /// <summary>Walks the tables for <paramref name="request"/> without any cache and records every step.</summary>
    public WalkTrace Trace(in DmaRequest request)
    {
        var trace = new WalkTrace(request);
        trace.Result = _walker.Translate(request, RootTableAddress, Mode, TranslationEnabled, trace);
        return trace;
    }
}
