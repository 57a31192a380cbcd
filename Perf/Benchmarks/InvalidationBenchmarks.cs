using BenchmarkDotNet.Attributes;
using VtdEngine.Perf.Sim;
using VtdEngine.Tables;

namespace VtdEngine.Perf.Benchmarks;

/// <summary>
/// One invalidation of each scope the simulator issues (perf-notes goals G7/G8), with 64 pages of a second-stage and
/// a first-stage domain translated during setup so caches, once they exist, hold something in scope.
/// </summary>
/// <remarks>
/// The caches are not wired in yet, so today these measure validation and dispatch only. The page-selective
/// invalidation is the baseline: it is what strict mode pays per buffer.
/// </remarks>
[MemoryDiagnoser]
public class InvalidationBenchmarks
{
    private const uint SecondStagePasid = 1;
    private const uint FirstStagePasid = 2;
    private const int Pages = 64;

    private TranslationUnit _unit = null!;
    private InvalidationRequest _page;
    private InvalidationRequest _domain;
    private InvalidationRequest _pasid;
    private InvalidationRequest _pasidPage;
    private InvalidationRequest _global;
    private DmaRequest _refill;

    [GlobalSetup]
    public void Setup()
    {
        var fixture = new EngineFixture();
        _unit = fixture.Unit;
        var secondStage = fixture.AddDomain(1, SimStage.SecondStage, SecondStagePasid);
        var firstStage = fixture.AddDomain(2, SimStage.FirstStage, FirstStagePasid);
        fixture.MapPages(secondStage, Pages);
        fixture.MapPages(firstStage, Pages);
        for (var i = 0; i < Pages; i++)
        {
            fixture.MustTranslate(EngineFixture.Read(SecondStagePasid, EngineFixture.IovaBase + ((ulong)i << 12)));
            fixture.MustTranslate(EngineFixture.Read(FirstStagePasid, EngineFixture.IovaBase + ((ulong)i << 12)));
        }
        _page = SimPageTables.PageInvalidation(secondStage, SecondStagePasid, EngineFixture.IovaBase, PageSize.Size4K);
        _domain = SimPageTables.DomainInvalidation(secondStage, SecondStagePasid);
        _pasid = SimPageTables.DomainInvalidation(firstStage, FirstStagePasid);
        _pasidPage = SimPageTables.PageInvalidation(firstStage, FirstStagePasid, EngineFixture.IovaBase, PageSize.Size4K);
        _global = InvalidationRequest.IotlbGlobal();
        _refill = EngineFixture.Read(SecondStagePasid, EngineFixture.IovaBase);
    }

    [Benchmark(Baseline = true)]
    public void IotlbPage() => _unit.Invalidate(_page);

    [Benchmark]
    public void IotlbDomain() => _unit.Invalidate(_domain);

    [Benchmark]
    public void PasidIotlb() => _unit.Invalidate(_pasid);

    [Benchmark]
    public void PasidIotlbPage() => _unit.Invalidate(_pasidPage);

    [Benchmark]
    public void IotlbGlobal() => _unit.Invalidate(_global);

    /// <summary>Strict mode's per-buffer engine cost: invalidate the page, then the device's next DMA refills it.</summary>
    [Benchmark]
    public ulong IotlbPageThenRefill()
    {
        _unit.Invalidate(_page);
        return _unit.Translate(in _refill).Address;
    }
}
