using VtdEngine.Tables;

namespace VtdEngine.Fuzzing;

/// <summary>
/// The fuzz targets, shared by the AFL++ harness (Tests/Fuzz), the regression replays and the property tests: each
/// decodes bytes and runs them against its oracle, throwing <see cref="OracleViolationException"/> on a disagreement.
/// Any other exception escaping is an engine crash.
/// </summary>
public static class FuzzTargets
{
    /// <summary>Cached translation against the uncached walk.</summary>
    public const string Translate = "translate";

    /// <summary>Table updates and invalidations through the C# API, against the uncached walk.</summary>
    public const string Invalidate = "invalidate";

    /// <summary>Register and invalidation-queue traffic through the register file, against its invariants.</summary>
    public const string Queue = "queue";

    /// <summary>Ownership operations against the isolation invariant.</summary>
    public const string Ownership = "ownership";

    /// <summary>Every target, in the order a smoke run takes them.</summary>
    public static IReadOnlyList<string> All { get; } = [Translate, Invalidate, Queue, Ownership];

    /// <summary>Runs <paramref name="input"/> through <paramref name="target"/>.</summary>
    public static void Run(string target, ReadOnlySpan<byte> input)
    {
        switch (target)
        {
            case Translate:
                RunTranslate(input);
                break;
            case Invalidate:
                RunInvalidate(input);
                break;
            case Queue:
                RunQueue(input);
                break;
            case Ownership:
                RunOwnership(input);
                break;
            default:
                throw new ArgumentException($"Unknown fuzz target '{target}'.", nameof(target));
        }
    }

    /// <summary>
    /// Target (a): every request through the cached <see cref="TranslationUnit.Translate(in DmaRequest)"/>, checked
    /// against the uncached walk on a lockstep copy of the memory (results and A/D writes), with bounded table reads.
    /// </summary>
    /// <returns>Requests whose results were compared.</returns>
    public static int RunTranslate(ReadOnlySpan<byte> input, Action<string>? log = null)
    {
        var (image, requests) = TranslateInput.Decode(input);
        var harness = new DifferentialHarness(image, flushOnSelfModification: true) { Log = log };
        foreach (var request in requests)
        {
            harness.Probe(request);
        }
        return harness.Compared;
    }

    /// <summary>
    /// Target (b1): table writes, invalidations (valid or not) and probe translations; an invalid invalidation may
    /// only throw <see cref="ArgumentException"/>, and once every table change has had its covering invalidation the
    /// probes' cached results must equal the uncached walk (every probe runs after each invalidation that leaves
    /// nothing stale; explicit probe operations run at any time and fill the caches, stale or not).
    /// </summary>
    /// <returns>Requests whose results were compared.</returns>
    public static int RunInvalidate(ReadOnlySpan<byte> input, Action<string>? log = null)
    {
        var (image, ops) = InvalidateInput.Decode(input);
        var harness = new DifferentialHarness(image, flushOnSelfModification: false) { Log = log };
        foreach (var op in ops)
        {
            switch (op.Kind)
            {
                case InvalidateOpKind.Write:
                    log?.Invoke($"write 0x{op.Address:x} {(op.Xor ? "^=" : "=")} 0x{op.Value:x}");
                    var value = op.Xor && harness.Memory.TryRead64(op.Address, out var old) ? old ^ op.Value : op.Value;
                    harness.Write(op.Address, value);
                    break;
                case InvalidateOpKind.Invalidate:
                    log?.Invoke($"invalidate {op.Invalidation}");
                    // Probing while something is stale would only fill the caches from stale structures; the check is
                    // that once software has issued every covering invalidation, nothing stale is left.
                    if (harness.Invalidate(op.Invalidation) && harness.IsClean)
                    {
                        ProbeAll(harness);
                    }
                    break;
                case InvalidateOpKind.ProbeOne:
                    harness.Probe(InvalidateInput.Probes[op.Probe]);
                    break;
                default:
                    ProbeAll(harness);
                    break;
            }
        }
        return harness.Compared;
    }

    /// <summary>
    /// Target (b): register and invalidation-queue traffic through <see cref="Hardware.RemappingHardwareUnit"/>; no
    /// access may throw and the register state must stay self-consistent (see <see cref="QueueRegisterInput"/>).
    /// </summary>
    /// <returns>Operations executed.</returns>
    public static int RunQueue(ReadOnlySpan<byte> input, Action<string>? log = null) => QueueRegisterInput.Run(input, log);

    /// <summary>Target (c): ownership operations; see <see cref="OwnershipInput"/>.</summary>
    /// <returns>Probes checked.</returns>
    public static int RunOwnership(ReadOnlySpan<byte> input, Action<string>? log = null) => OwnershipInput.Run(input, log);

    private static void ProbeAll(DifferentialHarness harness)
    {
        foreach (var probe in InvalidateInput.Probes)
        {
            harness.Probe(probe);
        }
    }
}
