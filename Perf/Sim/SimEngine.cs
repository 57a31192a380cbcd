namespace VtdEngine.Perf.Sim;

/// <summary>What the simulated NIC and driver call: the engine under test, or nothing (to measure the harness).</summary>
public interface ISimEngine
{
    /// <summary>Translates one burst.</summary>
    void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results);

    /// <summary>Performs one invalidation.</summary>
    void Invalidate(in InvalidationRequest request);
}

/// <summary>The engine: a <see cref="TranslationUnit"/>'s batch API and invalidation call.</summary>
public sealed class UnitSimEngine(TranslationUnit unit) : ISimEngine
{
    /// <summary>The unit under test.</summary>
    public TranslationUnit Unit { get; } = unit;

    /// <inheritdoc />
    public void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results) => Unit.Translate(requests, results);

    /// <inheritdoc />
    public void Invalidate(in InvalidationRequest request) => Unit.Invalidate(request);
}

/// <summary>
/// A translator that does no translation work: every request succeeds at a synthetic address in a 4 MiB window per
/// PASID (so the device touches about as much memory as in the engine run), and invalidations return at once.
/// Running the same request stream through it measures the harness alone.
/// </summary>
public sealed class NoOpSimEngine : ISimEngine
{
    /// <summary>Base of the synthetic output addresses (inside the simulator's RAM, away from its rings and buffers).</summary>
    public const ulong OutputBase = 64UL << 30;

    /// <inheritdoc />
    public void Translate(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results)
    {
        for (var i = 0; i < requests.Length; i++)
        {
            var address = OutputBase + ((ulong)(requests[i].Pasid & 0xFFFF) << 22) + (requests[i].Address & 0x3F_FFFF);
            results[i] = new TranslationResult(address, TranslationStatus.Success, FaultReason.None, Tables.PageSize.Size4K,
                AccessRights.Read | AccessRights.Write, false, 0, 0, 0);
        }
    }

    /// <inheritdoc />
    public void Invalidate(in InvalidationRequest request)
    {
    }
}
