using BenchmarkDotNet.Attributes;
using VtdEngine.Perf.Sim;
using VtdEngine.Tables;

namespace VtdEngine.Perf.Benchmarks;

/// <summary>
/// Driver-side cost of the simulator's page-table programmer: map + unmap of 4 KiB and 2 MiB pages (intermediate
/// tables already present), and strict mode's map + unmap + page-selective invalidation. Compare with Linux iommupt's
/// 53–77 ns per 4 KiB map or unmap (perf-notes 1.3). Baseline: the same pair on a Dictionary shadow table.
/// </summary>
[MemoryDiagnoser]
public class MapUnmapBenchmarks
{
    private const uint Pasid = 1;
    private const int Slots = 512;
    private const int Batch = 64;

    private readonly Dictionary<ulong, ulong> _shadow = [];
    private SimPageTables _tables = null!;
    private TranslationUnit _unit = null!;
    private SimDomain _domain = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var fixture = new EngineFixture();
        _tables = fixture.Tables;
        _unit = fixture.Unit;
        _domain = fixture.AddDomain(1, SimStage.SecondStage, Pasid);
        // Create the intermediate tables once (4 KiB range and 2 MiB range), then leave them empty.
        fixture.MapPages(_domain, Slots);
        fixture.MapPages(_domain, Slots, PageSize.Size2M, iova: 0x80_0000_0000);
        for (var i = 0; i < Slots; i++)
        {
            _tables.Unmap(_domain, EngineFixture.IovaBase + ((ulong)i << 12), PageSize.Size4K);
            _tables.Unmap(_domain, 0x80_0000_0000 + ((ulong)i << 21), PageSize.Size2M);
        }
        _shadow.EnsureCapacity(Slots);
    }

    private ulong NextIova4K() => EngineFixture.IovaBase + ((ulong)(_next = (_next + 1) & (Slots - 1)) << 12);

    [Benchmark(Baseline = true)]
    public bool DictionaryMapUnmap()
    {
        var iova = NextIova4K();
        _shadow[iova >> 12] = EngineFixture.OutputBase >> 12;
        return _shadow.Remove(iova >> 12);
    }

    [Benchmark]
    public bool MapUnmap4K()
    {
        var iova = NextIova4K();
        _tables.Map(_domain, iova, EngineFixture.OutputBase, PageSize.Size4K);
        return _tables.Unmap(_domain, iova, PageSize.Size4K);
    }

    [Benchmark]
    public bool MapUnmap2M()
    {
        var iova = 0x80_0000_0000 + ((ulong)(_next = (_next + 1) & (Slots - 1)) << 21);
        _tables.Map(_domain, iova, EngineFixture.OutputBase, PageSize.Size2M);
        return _tables.Unmap(_domain, iova, PageSize.Size2M);
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public bool Map64ThenUnmap64()
    {
        var start = (_next = (_next + Batch) & (Slots - 1)) & ~(Batch - 1);
        for (var i = 0; i < Batch; i++)
        {
            _tables.Map(_domain, EngineFixture.IovaBase + ((ulong)(start + i) << 12), EngineFixture.OutputBase, PageSize.Size4K);
        }
        var all = true;
        for (var i = 0; i < Batch; i++)
        {
            all &= _tables.Unmap(_domain, EngineFixture.IovaBase + ((ulong)(start + i) << 12), PageSize.Size4K);
        }
        return all;
    }

    [Benchmark]
    public bool StrictMapUnmapInvalidate()
    {
        var iova = NextIova4K();
        _tables.Map(_domain, iova, EngineFixture.OutputBase, PageSize.Size4K);
        var unmapped = _tables.Unmap(_domain, iova, PageSize.Size4K);
        _unit.Invalidate(SimPageTables.PageInvalidation(_domain, Pasid, iova, PageSize.Size4K));
        return unmapped;
    }
}
