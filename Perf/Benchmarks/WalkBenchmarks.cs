using BenchmarkDotNet.Attributes;
using VtdEngine.Perf.Sim;
using VtdEngine.Tables;

namespace VtdEngine.Perf.Benchmarks;

/// <summary>
/// Miss path: scalable-mode 4-level second-stage, first-stage and nested walks (perf-notes goals G4/G5). Requests
/// rotate over 65,536 pages in a scattered order against a 64-entry IOTLB, so they miss the IOTLB;
/// <see cref="SecondStageMissAfterPageInvalidation"/> is a miss whatever the IOTLB size.
/// </summary>
/// <remarks>
/// The baseline empties every cache first, so its walk reads the root, context, PASID directory and PASID table
/// entries and all four paging levels (8 reads); the warm walks read one leaf (second and first stage). Nested walks
/// skip the first-stage paging-structure cache, so they read every first-stage level through warm second-stage caches.
/// </remarks>
[MemoryDiagnoser]
public class WalkBenchmarks
{
    private const uint SecondStagePasid = 1;
    private const uint FirstStagePasid = 2;
    private const uint NestedPasid = 3;
    private const int Pages = 1 << 16;
    private const int NestedPages = 1 << 12;
    private const int ResidentPages = 1 << 12;

    private TranslationUnit _unit = null!;
    private IPhysicalMemory _memory = null!;
    private SimDomain _secondStage = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        // A 64-entry IOTLB against a 64 Ki-page working set: nearly every translation misses the IOTLB while the
        // context, PASID and paging-structure caches stay warm, which is the miss path these benchmarks measure.
        var fixture = new EngineFixture(new TranslationUnitOptions { IotlbEntries = 64 });
        _unit = fixture.Unit;
        _memory = fixture.Memory;
        _secondStage = fixture.AddDomain(1, SimStage.SecondStage, SecondStagePasid);
        fixture.MapPages(_secondStage, Pages);
        var firstStage = fixture.AddDomain(2, SimStage.FirstStage, FirstStagePasid);
        fixture.MapPages(firstStage, Pages);

        // Nested: guest first-stage tables live at GPA == HPA; the host second stage maps the table frames and the
        // guest's output pages identically with 4 KiB pages, so every first-stage level costs a full 4-level walk.
        var guest = fixture.Tables.CreateDomain(3, SimStage.FirstStage);
        fixture.MapPages(guest, NestedPages);
        var host = fixture.Tables.CreateDomain(4, SimStage.SecondStage);
        var tableBytes = (ulong)fixture.Frames.InUse * 4096 + (1UL << 20);
        fixture.MapPages(host, (int)(tableBytes >> 12), iova: SimLayout.TableBase, output: SimLayout.TableBase);
        fixture.MapPages(host, NestedPages, iova: EngineFixture.OutputBase, output: EngineFixture.OutputBase);
        fixture.Tables.AttachNested(EngineFixture.SourceId, NestedPasid, guest, host);

        fixture.MustTranslate(Request(SecondStagePasid, Pages - 1));
        fixture.MustTranslate(Request(FirstStagePasid, Pages - 1));
        fixture.MustTranslate(Request(NestedPasid, NestedPages - 1));
    }

    /// <summary>Page <paramref name="index"/> of a domain's mapped range, scattered by an odd multiplier.</summary>
    private static DmaRequest Request(uint pasid, int index) =>
        EngineFixture.Read(pasid, EngineFixture.IovaBase + ((ulong)index << 12) + 0x40);

    private int NextIndex(int pages)
    {
        _next = (_next + 40_503) & (pages - 1);
        return _next;
    }

    /// <summary>The baseline: the same second-stage miss with every cache emptied first, so the walk reads all eight structures.</summary>
    [Benchmark(Baseline = true)]
    public ulong SecondStageUncachedWalk()
    {
        _unit.FlushAllCaches();
        return _unit.Translate(Request(SecondStagePasid, NextIndex(Pages))).Address;
    }

    /// <summary>IOTLB miss, warm context/PASID/paging-structure caches: one leaf read, then the fill.</summary>
    [Benchmark]
    public ulong SecondStageWalk() => _unit.Translate(Request(SecondStagePasid, NextIndex(Pages))).Address;

    /// <summary>
    /// The same miss over 4,096 pages, whose leaf entries (32 KiB) stay in the CPU's caches: still an IOTLB miss every
    /// time (64 entries), without the 65,536-page case's cache-missing leaf read, so it shows the engine's own cost.
    /// </summary>
    [Benchmark]
    public ulong SecondStageWalkCacheResident() => _unit.Translate(Request(SecondStagePasid, NextIndex(ResidentPages))).Address;

    [Benchmark]
    public ulong FirstStageWalk() => _unit.Translate(Request(FirstStagePasid, NextIndex(Pages))).Address;

    [Benchmark]
    public ulong NestedWalk() => _unit.Translate(Request(NestedPasid, NextIndex(NestedPages))).Address;

    [Benchmark]
    public ulong SecondStageMissAfterPageInvalidation()
    {
        var request = Request(SecondStagePasid, NextIndex(Pages));
        _unit.Invalidate(SimPageTables.PageInvalidation(_secondStage, SecondStagePasid, request.Address & ~0xFFFUL, PageSize.Size4K));
        return _unit.Translate(request).Address;
    }

    /// <summary>The memory model's floor: the four paging-entry reads of a second-stage walk, no checks, no context.</summary>
    [Benchmark]
    public ulong PagingEntryReadsOnly()
    {
        var iova = Request(SecondStagePasid, NextIndex(Pages)).Address;
        var table = _secondStage.Root;
        for (var level = 4; level >= 1; level--)
        {
            table = _memory.Read64(table + ((ulong)PageTableGeometry.LevelIndex(iova, level) * 8)) & 0x000F_FFFF_FFFF_F000;
        }
        return table;
    }
}
