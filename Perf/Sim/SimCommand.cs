using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace VtdEngine.Perf.Sim;

/// <summary>The <c>sim</c> command: options, a progress bar while it runs, a table and the result files at the end.</summary>
public static class SimCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var defaults = new SimOptions();
        var workload = new Option<string>("--workload", "-w")
        {
            Description = $"Workload preset: {string.Join(", ", SimWorkload.All.Select(w => w.Name))} or all.",
            DefaultValueFactory = _ => "all",
        };
        workload.AcceptOnlyFromAmong([.. SimWorkload.All.Select(w => w.Name), "all"]);
        var queues = IntOption("--queues", "Queues per workload (many-pasid uses queues x --many-pasid-factor).", defaults.Queues, "-q");
        var ring = IntOption("--ring-size", "Descriptors per ring (power of two).", defaults.RingSize);
        var packetSize = IntOption("--packet-size", "Packet size in bytes (64..2048).", defaults.PacketSize);
        var packets = IntOption("--packets", "Packets per workload.", defaults.Packets, "-n");
        var iotlb = IntOption("--iotlb-size", "IOTLB entries of the simulated unit (rounded up to a power of two, at least 64).", defaults.IotlbEntries);
        var seed = IntOption("--seed", "Seed of every random choice.", defaults.Seed);
        var output = new Option<string>("--output", "-o")
        {
            Description = "Directory for results.json, results.csv and working-set.png.",
            DefaultValueFactory = _ => "sim-results",
        };
        var descriptor = IntOption("--descriptor-size", "Descriptor size in bytes (16, 32 or 64).", defaults.DescriptorSize);
        var mps = IntOption("--max-payload", "PCIe max payload size: bytes per payload TLP, one translation each.", defaults.MaxPayloadSize);
        var burst = IntOption("--burst", "Packets per burst (one batched translate call).", defaults.Burst);
        var flushQueue = IntOption("--flush-queue", "Unmaps per flush in the deferred workload.", defaults.FlushQueueSize);
        var storm = new Option<double>("--storm-interval-us")
        {
            Description = "Simulated microseconds between invalidations in invalidation-storm.",
            DefaultValueFactory = _ => defaults.StormIntervalMicroseconds,
        };
        var manyPasid = IntOption("--many-pasid-factor", "Queue multiplier of many-pasid.", defaults.ManyPasidFactor);
        var noSweep = new Option<bool>("--no-sweep") { Description = "Skip the many-pasid working-set sweep (and the chart)." };

        var command = new Command("sim", "Run the simulated NIC workloads through the engine.")
        {
            workload, queues, ring, packetSize, packets, iotlb, seed, output, descriptor, mps, burst, flushQueue, storm, manyPasid, noSweep,
        };
        command.SetAction(parse =>
        {
            SimOptions options;
            try
            {
                options = new SimOptions
                {
                    Queues = parse.GetValue(queues),
                    RingSize = parse.GetValue(ring),
                    PacketSize = parse.GetValue(packetSize),
                    Packets = parse.GetValue(packets),
                    IotlbEntries = parse.GetValue(iotlb),
                    Seed = parse.GetValue(seed),
                    DescriptorSize = parse.GetValue(descriptor),
                    MaxPayloadSize = parse.GetValue(mps),
                    Burst = parse.GetValue(burst),
                    FlushQueueSize = parse.GetValue(flushQueue),
                    StormIntervalMicroseconds = parse.GetValue(storm),
                    ManyPasidFactor = parse.GetValue(manyPasid),
                    Sweep = !parse.GetValue(noSweep),
                }.Validate();
            }
            catch (ArgumentException e)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
                return 2;
            }
            var name = parse.GetValue(workload) ?? "all";
            IReadOnlyList<SimWorkload> selected = name == "all" ? SimWorkload.All : [SimWorkload.Find(name)!];
            return Execute(selected, options, parse.GetValue(output) ?? "sim-results");
        });
        return command;
    }

    private static Option<int> IntOption(string name, string description, int defaultValue, params string[] aliases) =>
        new(name, aliases) { Description = description, DefaultValueFactory = _ => defaultValue };

    /// <summary>Runs the workloads (and the sweep when <paramref name="options"/> asks and all were selected).</summary>
    public static int Execute(IReadOnlyList<SimWorkload> workloads, SimOptions options, string outputDirectory)
    {
        var runSweep = options.Sweep && workloads.Contains(SimWorkload.ManyPasid);
        var results = new List<WorkloadResult>();
        IReadOnlyList<WorkloadResult> sweep = [];
        var started = DateTime.UtcNow;
        if (Console.IsOutputRedirected)
        {
            // Spectre assumes 80 columns without a terminal; the table needs about 200.
            AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 240);
        }
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                var tasks = workloads.Select(w => context.AddTask(w.Name, maxValue: 1)).ToList();
                var sweepTask = runSweep ? context.AddTask("many-pasid sweep", maxValue: 1) : null;
                for (var i = 0; i < workloads.Count; i++)
                {
                    var task = tasks[i];
                    task.StartTask();
                    results.Add(SimRunner.Run(workloads[i], options, p => task.Value = p));
                    task.Value = 1;
                }
                if (sweepTask is not null)
                {
                    sweepTask.StartTask();
                    sweep = SimRunner.Sweep(options, p => sweepTask.Value = p);
                    sweepTask.Value = 1;
                }
            });

        var report = new SimReport { Machine = SimReport.DescribeMachine(), Options = options, Results = results, Sweep = sweep };
        AnsiConsole.Write(BuildTable(results, sweep, report.Machine));
        var files = SimReportWriter.Write(report, outputDirectory);
        AnsiConsole.MarkupLineInterpolated($"Wrote {string.Join(", ", files)} in {(DateTime.UtcNow - started).TotalSeconds:F1} s.");
        var faults = results.Sum(r => r.Faults) + sweep.Sum(r => r.Faults);
        var dataErrors = results.Sum(r => r.DataErrors) + sweep.Sum(r => r.DataErrors);
        if (faults + dataErrors > 0)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{faults} faults and {dataErrors} misplaced DMAs: the engine translated wrongly.[/]");
            return 1;
        }
        return 0;
    }

    /// <summary>The summary table: one row per workload and sweep point.</summary>
    public static Table BuildTable(IEnumerable<WorkloadResult> results, IEnumerable<WorkloadResult> sweep, string machine)
    {
        var table = new Table().Title($"VtdEngine NIC simulation ({machine})").Border(TableBorder.Rounded);
        foreach (var column in new[]
        {
            "workload", "queues", "WS entries", "translations", "Mtransl/s", "Mpps engine", "Mpps sim", "hit rate", "walks",
            "reads/walk", "invalidations", "faults", "engine s", "rest s", "no-op s", "engine %",
        })
        {
            table.AddColumn(new TableColumn(column).RightAligned());
        }
        table.Columns[0].LeftAligned();
        foreach (var r in results.Concat(sweep))
        {
            table.AddRow(
                r.Workload,
                N(r.Queues),
                N(r.WorkingSetEntries),
                N(r.Translations),
                (r.TranslationsPerSecond / 1e6).ToString("F2", CultureInfo.InvariantCulture),
                (r.EnginePacketsPerSecond / 1e6).ToString("F3", CultureInfo.InvariantCulture),
                (r.SimulatedPacketsPerSecond / 1e6).ToString("F3", CultureInfo.InvariantCulture),
                r.HitRate.ToString("P1", CultureInfo.InvariantCulture),
                N(r.Walks),
                (r.Walks == 0 ? 0 : (double)r.TableReads / r.Walks).ToString("F1", CultureInfo.InvariantCulture),
                N(r.Invalidations),
                r.Faults == 0 ? "0" : $"[red]{r.Faults}[/]",
                r.EngineSeconds.ToString("F3", CultureInfo.InvariantCulture),
                (r.WallSeconds - r.EngineSeconds).ToString("F3", CultureInfo.InvariantCulture),
                r.HarnessSeconds.ToString("F3", CultureInfo.InvariantCulture),
                r.EngineShare.ToString("P0", CultureInfo.InvariantCulture));
        }
        return table;
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
