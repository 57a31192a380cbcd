using System.Globalization;
using System.Text.Json;
using VtdEngine.Perf.Sim;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Sim;

[Trait("Category", "Sim")]
public class SimulationTests
{
    private static readonly SimOptions s_tiny = new()
    {
        Queues = 2,
        RingSize = 32,
        Packets = 400,
        Burst = 8,
        FlushQueueSize = 16,
        ManyPasidFactor = 4,
        StormIntervalMicroseconds = 0.5,
        Sweep = false,
    };

    public static TheoryData<string> Workloads() => [.. SimWorkload.All.Select(w => w.Name)];

    private static SimStatistics RunEngine(SimWorkload workload, SimOptions options) =>
        new NicSimulator(workload, options, NicSimulator.CreateUnitEngine).Run();

    [Theory]
    [MemberData(nameof(Workloads))]
    public void EveryDmaTranslatesAndLandsWhereTheDriverPutIt(string name)
    {
        var workload = SimWorkload.Find(name)!;
        var stats = RunEngine(workload, s_tiny);

        Assert.Equal(s_tiny.Packets, stats.Packets);
        var tlps = (s_tiny.PacketSize + s_tiny.MaxPayloadSize - 1) / s_tiny.MaxPayloadSize;
        Assert.Equal(s_tiny.Packets * (tlps + 2L), stats.Translations);
        Assert.Equal(0, stats.Faults);
        Assert.Equal(0, stats.DataErrors);
        Assert.Equal(stats.Translations, stats.Hits + stats.Walks);
    }

    [Theory]
    [MemberData(nameof(Workloads))]
    public void ARunIsDeterministicForASeed(string name)
    {
        var workload = SimWorkload.Find(name)!;
        var first = RunEngine(workload, s_tiny);
        var second = RunEngine(workload, s_tiny);

        Assert.Equal(first.Checksum, second.Checksum);
        Assert.Equal(first.Translations, second.Translations);
        Assert.Equal(first.Walks, second.Walks);
        Assert.Equal(first.TableReads, second.TableReads);
        Assert.Equal(first.FlagWrites, second.FlagWrites);
        Assert.Equal(first.Invalidations, second.Invalidations);
        Assert.Equal(first.Maps, second.Maps);
    }

    [Fact]
    public void ManyPasidQueueOrderDependsOnTheSeed()
    {
        var a = RunEngine(SimWorkload.ManyPasid, s_tiny);
        var b = RunEngine(SimWorkload.ManyPasid, s_tiny with { Seed = 2 });
        Assert.NotEqual(a.Checksum, b.Checksum);
    }

    [Fact]
    public void StrictIssuesOnePageSelectiveInvalidationPerUnmappedBuffer()
    {
        var stats = RunEngine(SimWorkload.Strict, s_tiny);

        Assert.Equal(s_tiny.Packets, stats.Unmaps);
        Assert.Equal(stats.Unmaps, stats.InvalidationsOf(InvalidationKind.IotlbPage));
        Assert.Equal(stats.Unmaps, stats.Invalidations);
        // Setup maps both rings and every posted buffer; each received packet maps one replacement buffer.
        Assert.Equal(stats.Unmaps + s_tiny.RingSize * s_tiny.Queues + 2L * s_tiny.Queues, stats.Maps);
    }

    [Fact]
    public void DeferredFlushesOncePerFullFlushQueue()
    {
        var stats = RunEngine(SimWorkload.Deferred, s_tiny);

        Assert.Equal(s_tiny.Packets, stats.Unmaps);
        Assert.Equal(0, stats.InvalidationsOf(InvalidationKind.IotlbPage));
        // Each queue flushes every FlushQueueSize unmaps; queues take equal round-robin shares of the packets.
        var perQueue = s_tiny.Packets / s_tiny.Queues;
        Assert.Equal(s_tiny.Queues * (perQueue / s_tiny.FlushQueueSize), stats.InvalidationsOf(InvalidationKind.IotlbDomain));
    }

    [Fact]
    public void PersistentMapsOnlyAtSetupAndNeverInvalidates()
    {
        var stats = RunEngine(SimWorkload.Persistent, s_tiny);

        Assert.Equal(0, stats.Unmaps);
        Assert.Equal(0, stats.Invalidations);
        Assert.Equal(0, stats.FlagWrites); // second-stage without A/D
    }

    [Fact]
    public void InvalidationStormIssuesDomainAndPasidSelectiveInvalidations()
    {
        var stats = RunEngine(SimWorkload.InvalidationStorm, s_tiny);

        Assert.True(stats.InvalidationsOf(InvalidationKind.IotlbDomain) > 0);
        Assert.True(stats.InvalidationsOf(InvalidationKind.PasidIotlbPasid) > 0);
        Assert.Equal(0, stats.Faults);
    }

    [Fact]
    public void ManyPasidUsesFirstStageTranslation()
    {
        var stats = RunEngine(SimWorkload.ManyPasid, s_tiny);
        Assert.True(stats.FlagWrites > 0, "first-stage walks set A/D bits");
        Assert.Equal(s_tiny.Queues * s_tiny.ManyPasidFactor, new NicSimulator(SimWorkload.ManyPasid, s_tiny, null).QueueCount);
    }

    [Fact]
    public void TheNoOpEngineReplaysTheSameStream()
    {
        var engine = RunEngine(SimWorkload.Strict, s_tiny);
        var harness = new NicSimulator(SimWorkload.Strict, s_tiny, null).Run();

        Assert.Equal(engine.Translations, harness.Translations);
        Assert.Equal(engine.Invalidations, harness.Invalidations);
        Assert.Equal(engine.Maps, harness.Maps);
        Assert.Equal(0, harness.Walks);
    }

    [Fact]
    public void ResultsAreWrittenAsJsonCsvAndChart()
    {
        var options = s_tiny with { Packets = 200, Sweep = true };
        var results = SimWorkload.All.Select(w => SimRunner.Run(w, options)).ToList();
        var sweep = SimRunner.Sweep(options with { Packets = 200 });
        var report = new SimReport { Machine = SimReport.DescribeMachine(), Options = options, Results = results, Sweep = sweep };
        var directory = Path.Combine(Path.GetTempPath(), $"vtd-sim-{Guid.NewGuid():N}");
        try
        {
            var files = SimReportWriter.Write(report, directory);
            Assert.Equal(3, files.Count);

            var parsed = SimReportWriter.ReadJson(Path.Combine(directory, SimReportWriter.JsonFile));
            Assert.NotNull(parsed);
            Assert.Equal(SimWorkload.All.Select(w => w.Name), parsed.Results.Select(r => r.Workload));
            Assert.Equal(SimRunner.SweepFactors.Count, parsed.Sweep.Count);
            Assert.Equal(results[1].Checksum, parsed.Results[1].Checksum);
            Assert.Equal(options.IotlbEntries, parsed.Results[0].IotlbEntries);
            using (var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, SimReportWriter.JsonFile))))
            {
                Assert.Equal(JsonValueKind.Array, document.RootElement.GetProperty("results").ValueKind);
            }

            var lines = File.ReadAllLines(Path.Combine(directory, SimReportWriter.CsvFile));
            Assert.Equal(1 + results.Count + sweep.Count, lines.Length);
            var header = lines[0].Split(',');
            Assert.Equal(SimReportWriter.Columns.Count, header.Length);
            var translations = Array.IndexOf(header, "translations");
            var hitRate = Array.IndexOf(header, "hit_rate");
            for (var i = 1; i < lines.Length; i++)
            {
                var cells = lines[i].Split(',');
                Assert.Equal(header.Length, cells.Length);
                Assert.True(long.Parse(cells[translations], CultureInfo.InvariantCulture) > 0);
                var rate = double.Parse(cells[hitRate], CultureInfo.InvariantCulture);
                Assert.InRange(rate, 0, 1);
            }

            var png = File.ReadAllBytes(Path.Combine(directory, SimReportWriter.ChartFile));
            Assert.True(png.Length > 1000);
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4]);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void ProgrammerMapsAndUnmaps4KAnd2MPages()
    {
        var memory = new SparsePhysicalMemory(SimLayout.RamBytes);
        var tables = new SimPageTables(memory, new FrameAllocator(memory, SimLayout.TableBase, SimLayout.TableLength));
        var unit = new TranslationUnit(memory);
        unit.SetRootTable(tables.RootTable, RootTableMode.Scalable);
        unit.TranslationEnabled = true;
        const ushort sid = 0x3A08;
        foreach (var (stage, pasid) in new[] { (SimStage.SecondStage, 1u), (SimStage.FirstStage, 2u) })
        {
            var domain = tables.CreateDomain((ushort)(10 + pasid), stage);
            tables.Attach(sid, pasid, domain);
            tables.Map(domain, 0x4000_0000, 0x1_2345_6000, PageSize.Size4K);
            tables.Map(domain, 0x6000_0000, 0x2_0000_0000, PageSize.Size2M);

            var small = unit.Translate(new DmaRequest(sid, 0x4000_0123, AccessKind.Write, pasid));
            Assert.True(small.IsSuccess, small.ToString());
            Assert.Equal(0x1_2345_6123UL, small.Address);
            Assert.Equal((ushort)(10 + pasid), small.DomainId);
            var large = unit.Translate(new DmaRequest(sid, 0x6012_3456, AccessKind.Read, pasid));
            Assert.Equal(0x2_0012_3456UL, large.Address);
            Assert.Equal(PageSize.Size2M, large.PageSize);

            Assert.True(tables.Unmap(domain, 0x4000_0000, PageSize.Size4K));
            Assert.False(tables.Unmap(domain, 0x4000_0000, PageSize.Size4K));
            // The IOTLB may serve the old translation until the page-selective invalidation (VT-d Table 28).
            unit.Invalidate(SimPageTables.PageInvalidation(domain, pasid, 0x4000_0000, PageSize.Size4K));
            Assert.Equal(TranslationStatus.Fault, unit.Translate(new DmaRequest(sid, 0x4000_0123, AccessKind.Read, pasid)).Status);
            Assert.True(unit.Translate(new DmaRequest(sid, 0x6012_3456, AccessKind.Read, pasid)).IsSuccess);
            unit.Invalidate(SimPageTables.DomainInvalidation(domain, pasid));
        }
    }
}
