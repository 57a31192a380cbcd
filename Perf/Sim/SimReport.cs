using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace VtdEngine.Perf.Sim;

/// <summary>Everything one <c>sim</c> invocation measured, as written to results.json.</summary>
public sealed record SimReport
{
    /// <summary>Machine the numbers come from.</summary>
    public required string Machine { get; init; }

    /// <summary>Options the run used.</summary>
    public required SimOptions Options { get; init; }

    /// <summary>One result per workload run.</summary>
    public required IReadOnlyList<WorkloadResult> Results { get; init; }

    /// <summary>The many-pasid working-set sweep (empty when not run).</summary>
    public required IReadOnlyList<WorkloadResult> Sweep { get; init; }

    /// <summary>A description of this machine: logical cores, OS, runtime, architecture.</summary>
    public static string DescribeMachine() =>
        $"{Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.ProcessArchitecture}";
}

/// <summary>Writes a <see cref="SimReport"/> as results.json, results.csv and working-set.png.</summary>
public static class SimReportWriter
{
    /// <summary>JSON file name.</summary>
    public const string JsonFile = "results.json";

    /// <summary>CSV file name.</summary>
    public const string CsvFile = "results.csv";

    /// <summary>Chart file name.</summary>
    public const string ChartFile = "working-set.png";

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The CSV columns, shared by the header and the rows.</summary>
    public static IReadOnlyList<(string Name, Func<WorkloadResult, object> Value)> Columns { get; } =
    [
        ("workload", r => r.Workload),
        ("queues", r => r.Queues),
        ("ring_size", r => r.RingSize),
        ("packet_size", r => r.PacketSize),
        ("seed", r => r.Seed),
        ("iotlb_entries", r => r.IotlbEntries),
        ("working_set_entries", r => r.WorkingSetEntries),
        ("packets", r => r.Packets),
        ("translations", r => r.Translations),
        ("hits", r => r.Hits),
        ("walks", r => r.Walks),
        ("hit_rate", r => r.HitRate),
        ("table_reads", r => r.TableReads),
        ("flag_writes", r => r.FlagWrites),
        ("invalidations", r => r.Invalidations),
        ("page_invalidations", r => r.PageInvalidations),
        ("domain_invalidations", r => r.DomainInvalidations),
        ("faults", r => r.Faults),
        ("data_errors", r => r.DataErrors),
        ("maps", r => r.Maps),
        ("unmaps", r => r.Unmaps),
        ("translate_s", r => r.TranslateSeconds),
        ("invalidate_s", r => r.InvalidateSeconds),
        ("wall_s", r => r.WallSeconds),
        ("harness_s", r => r.HarnessSeconds),
        ("translations_per_s", r => r.TranslationsPerSecond),
        ("engine_packets_per_s", r => r.EnginePacketsPerSecond),
        ("sim_packets_per_s", r => r.SimulatedPacketsPerSecond),
        ("engine_share", r => r.EngineShare),
        ("checksum", r => r.Checksum.ToString("x16", CultureInfo.InvariantCulture)),
    ];

    /// <summary>Writes the three files into <paramref name="directory"/> (created if missing); returns their paths.</summary>
    public static IReadOnlyList<string> Write(SimReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        var json = Path.Combine(directory, JsonFile);
        File.WriteAllText(json, JsonSerializer.Serialize(report, s_json));
        var csv = Path.Combine(directory, CsvFile);
        File.WriteAllText(csv, ToCsv([.. report.Results, .. report.Sweep]));
        var written = new List<string> { json, csv };
        if (report.Sweep.Count > 0)
        {
            var chart = Path.Combine(directory, ChartFile);
            WriteChart(report.Sweep, report.Options.IotlbEntries, chart);
            written.Add(chart);
        }
        return written;
    }

    /// <summary>Deserializes results.json.</summary>
    public static SimReport? ReadJson(string path) => JsonSerializer.Deserialize<SimReport>(File.ReadAllText(path), s_json);

    /// <summary>The rows as CSV (invariant culture, header first).</summary>
    public static string ToCsv(IEnumerable<WorkloadResult> results)
    {
        var text = new StringBuilder();
        text.AppendJoin(',', Columns.Select(c => c.Name)).Append('\n');
        foreach (var result in results)
        {
            text.AppendJoin(',', Columns.Select(c => Format(c.Value(result)))).Append('\n');
        }
        return text.ToString();
    }

    private static string Format(object value) => value switch
    {
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        string s when s.Contains(',', StringComparison.Ordinal) => $"\"{s}\"",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Throughput and hit rate against working-set size (log2 axis), with the IOTLB size marked.</summary>
    private static void WriteChart(IReadOnlyList<WorkloadResult> sweep, int iotlbEntries, string path)
    {
        var plot = new Plot();
        var xs = sweep.Select(r => Math.Log2(Math.Max(1, r.WorkingSetEntries))).ToArray();
        var throughput = plot.Add.Scatter(xs, sweep.Select(r => r.TranslationsPerSecond / 1e6).ToArray());
        throughput.LegendText = "translations/s (M, left)";
        throughput.LineWidth = 2;
        throughput.MarkerSize = 8;
        var hitRate = plot.Add.Scatter(xs, sweep.Select(r => r.HitRate * 100).ToArray());
        hitRate.LegendText = "IOTLB hit rate (%, right)";
        hitRate.LineWidth = 2;
        hitRate.MarkerSize = 8;
        hitRate.Axes.YAxis = plot.Axes.Right;
        var iotlb = plot.Add.VerticalLine(Math.Log2(iotlbEntries));
        iotlb.LegendText = $"IOTLB size ({iotlbEntries} entries)";
        iotlb.LinePattern = LinePattern.Dashed;

        var ticks = new NumericManual();
        foreach (var result in sweep)
        {
            ticks.AddMajor(Math.Log2(Math.Max(1, result.WorkingSetEntries)), $"{result.WorkingSetEntries:N0}\n{result.Queues} q");
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.Label.Text = "working set (leaf translations, log scale) / queues";
        plot.Axes.Left.Label.Text = "translations/s (millions)";
        plot.Axes.Right.Label.Text = "hit rate (%)";
        plot.Axes.SetLimitsY(0, 105, plot.Axes.Right);
        plot.Axes.SetLimitsY(0, Math.Max(1e-3, sweep.Max(r => r.TranslationsPerSecond) / 1e6 * 1.15), plot.Axes.Left);
        plot.Title("many-pasid sweep: throughput and IOTLB hit rate vs working set");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1000, 560);
    }
}
