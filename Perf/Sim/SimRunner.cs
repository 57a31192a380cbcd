using System.Diagnostics;

namespace VtdEngine.Perf.Sim;

/// <summary>The outcome of one workload: the engine run's counters and timings next to the harness-only run.</summary>
public sealed record WorkloadResult
{
    /// <summary>Preset name (sweep points carry <c>@queues</c>).</summary>
    public required string Workload { get; init; }

    /// <summary>Queues (one (RID, PASID) and one domain each).</summary>
    public required int Queues { get; init; }

    /// <summary>Descriptors per ring.</summary>
    public required int RingSize { get; init; }

    /// <summary>Packet size in bytes.</summary>
    public required int PacketSize { get; init; }

    /// <summary>Seed.</summary>
    public required int Seed { get; init; }

    /// <summary>IOTLB entries requested (recorded; the engine option follows the IOTLB).</summary>
    public required int IotlbEntries { get; init; }

    /// <summary>Leaf translations the rings cycle through.</summary>
    public required long WorkingSetEntries { get; init; }

    /// <summary>Packets received.</summary>
    public required long Packets { get; init; }

    /// <summary>Translations requested.</summary>
    public required long Translations { get; init; }

    /// <summary>Translations that read no remapping structure.</summary>
    public required long Hits { get; init; }

    /// <summary>Translations that walked.</summary>
    public required long Walks { get; init; }

    /// <summary>Hits / translations.</summary>
    public required double HitRate { get; init; }

    /// <summary>Structure reads over all walks.</summary>
    public required long TableReads { get; init; }

    /// <summary>A/D flag writes.</summary>
    public required long FlagWrites { get; init; }

    /// <summary>All invalidations.</summary>
    public required long Invalidations { get; init; }

    /// <summary>Page-selective invalidations (iotlb_inv PSI and p_iotlb_inv page).</summary>
    public required long PageInvalidations { get; init; }

    /// <summary>Domain- and PASID-selective invalidations.</summary>
    public required long DomainInvalidations { get; init; }

    /// <summary>Translations that faulted.</summary>
    public required long Faults { get; init; }

    /// <summary>Descriptors or payloads that did not land where the driver expected (0 in a correct engine).</summary>
    public required long DataErrors { get; init; }

    /// <summary>Driver map calls (setup included).</summary>
    public required long Maps { get; init; }

    /// <summary>Driver unmap calls.</summary>
    public required long Unmaps { get; init; }

    /// <summary>Seconds inside translate calls.</summary>
    public required double TranslateSeconds { get; init; }

    /// <summary>Seconds inside invalidate calls.</summary>
    public required double InvalidateSeconds { get; init; }

    /// <summary>Wall seconds of the engine run.</summary>
    public required double WallSeconds { get; init; }

    /// <summary>Wall seconds of the same request stream through the no-op engine: the harness alone.</summary>
    public required double HarnessSeconds { get; init; }

    /// <summary>Translations per second of translate-call time.</summary>
    public required double TranslationsPerSecond { get; init; }

    /// <summary>Packets per second the engine alone could sustain (translate + invalidate time).</summary>
    public required double EnginePacketsPerSecond { get; init; }

    /// <summary>Packets per second of the whole simulation (engine + harness).</summary>
    public required double SimulatedPacketsPerSecond { get; init; }

    /// <summary>(translate + invalidate) / wall of the engine run.</summary>
    public required double EngineShare { get; init; }

    /// <summary>Hash over every translation result: equal for equal seeds and options.</summary>
    public required ulong Checksum { get; init; }

    /// <summary>Engine seconds: translate + invalidate.</summary>
    public double EngineSeconds => TranslateSeconds + InvalidateSeconds;
}

/// <summary>Runs workloads (engine run, then harness-only run) and the many-pasid working-set sweep.</summary>
public static class SimRunner
{
    /// <summary>Queue multipliers of the many-pasid sweep (× <see cref="SimOptions.Queues"/>).</summary>
    public static IReadOnlyList<int> SweepFactors { get; } = [1, 2, 4, 8, 16, 32];

    /// <summary>
    /// Runs <paramref name="workload"/>: a short warm-up (JIT), the engine run and the no-op run over the same stream.
    /// <paramref name="progress"/> gets a fraction in [0, 1] of this workload's work.
    /// </summary>
    public static WorkloadResult Run(SimWorkload workload, SimOptions options, Action<double>? progress = null, string? label = null)
    {
        EnsureJitWarm();
        var warmup = options with { Packets = Math.Min(options.Packets, 2_000) };
        new NicSimulator(workload, warmup, NicSimulator.CreateUnitEngine).Run();
        new NicSimulator(workload, warmup, null).Run();

        double total = options.Packets * 2L;
        var engineRun = new NicSimulator(workload, options, NicSimulator.CreateUnitEngine);
        var engine = engineRun.Run(done => progress?.Invoke(done / total));
        var harness = new NicSimulator(workload, options, null).Run(done => progress?.Invoke((options.Packets + done) / total));
        return Summarize(label ?? workload.Name, engineRun, engine, harness, options);
    }

    /// <summary>The many-pasid workload at growing queue counts: working sets from below to far above the IOTLB.</summary>
    public static IReadOnlyList<WorkloadResult> Sweep(SimOptions options, Action<double>? progress = null)
    {
        var points = new List<WorkloadResult>();
        var sweepOptions = options with { Packets = Math.Max(1, options.Packets / 4) };
        for (var i = 0; i < SweepFactors.Count; i++)
        {
            var factor = SweepFactors[i];
            var pointOptions = sweepOptions with { ManyPasidFactor = factor };
            var index = i;
            points.Add(Run(SimWorkload.ManyPasid, pointOptions, p => progress?.Invoke((index + p) / SweepFactors.Count),
                $"{SimWorkload.ManyPasid.Name}@{SimWorkload.ManyPasid.QueueCount(pointOptions)}"));
        }
        return points;
    }

    private static bool s_warm;

    /// <summary>
    /// Runs every preset briefly for about 1.5 s, once per process, then pauses so the background JIT can finish: the
    /// measured runs should execute tier-1 code (tiered compilation promotes a method only after ~30 calls and a
    /// 100 ms quiet period, later still on a loaded 2-core machine).
    /// </summary>
    private static void EnsureJitWarm()
    {
        if (s_warm)
        {
            return;
        }
        var tiny = new SimOptions { Queues = 2, RingSize = 64, Packets = 1_000, Sweep = false };
        var until = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 3 / 2);
        do
        {
            foreach (var preset in SimWorkload.All)
            {
                new NicSimulator(preset, tiny, NicSimulator.CreateUnitEngine).Run();
                new NicSimulator(preset, tiny, null).Run();
            }
        }
        while (Stopwatch.GetTimestamp() < until);
        Thread.Sleep(250);
        s_warm = true;
    }

    private static WorkloadResult Summarize(string name, NicSimulator run, SimStatistics engine, SimStatistics harness, SimOptions options)
    {
        var pageKinds = engine.InvalidationsOf(InvalidationKind.IotlbPage) + engine.InvalidationsOf(InvalidationKind.PasidIotlbPage);
        var domainKinds = engine.InvalidationsOf(InvalidationKind.IotlbDomain) + engine.InvalidationsOf(InvalidationKind.PasidIotlbPasid);
        var engineSeconds = engine.TranslateSeconds + engine.InvalidateSeconds;
        return new WorkloadResult
        {
            Workload = name,
            Queues = run.QueueCount,
            RingSize = options.RingSize,
            PacketSize = options.PacketSize,
            Seed = options.Seed,
            IotlbEntries = options.IotlbEntries,
            WorkingSetEntries = run.WorkingSetEntries,
            Packets = engine.Packets,
            Translations = engine.Translations,
            Hits = engine.Hits,
            Walks = engine.Walks,
            HitRate = engine.HitRate,
            TableReads = engine.TableReads,
            FlagWrites = engine.FlagWrites,
            Invalidations = engine.Invalidations,
            PageInvalidations = pageKinds,
            DomainInvalidations = domainKinds,
            Faults = engine.Faults,
            DataErrors = engine.DataErrors,
            Maps = engine.Maps,
            Unmaps = engine.Unmaps,
            TranslateSeconds = engine.TranslateSeconds,
            InvalidateSeconds = engine.InvalidateSeconds,
            WallSeconds = engine.TotalSeconds,
            HarnessSeconds = harness.TotalSeconds,
            TranslationsPerSecond = Rate(engine.Translations, engine.TranslateSeconds),
            EnginePacketsPerSecond = Rate(engine.Packets, engineSeconds),
            SimulatedPacketsPerSecond = Rate(engine.Packets, engine.TotalSeconds),
            EngineShare = engine.TotalSeconds > 0 ? engineSeconds / engine.TotalSeconds : 0,
            Checksum = engine.Checksum,
        };
    }

    private static double Rate(long count, double seconds) => seconds > 0 ? count / seconds : 0;
}
