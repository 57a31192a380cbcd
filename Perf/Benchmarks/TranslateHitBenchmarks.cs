using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using VtdEngine.Perf.Sim;

namespace VtdEngine.Perf.Benchmarks;

/// <summary>
/// Hit path: the same page translated repeatedly, and a burst of 64 sequential pages through the span API, against a
/// ConcurrentDictionary IOTLB with a pre-packed (RID, PASID, page) key (perf-notes §5, goals G1/G2).
/// </summary>
/// <remarks>The engine walks uncached until the IOTLB is wired in, so today these measure walks, not hits.</remarks>
[MemoryDiagnoser]
public class TranslateHitBenchmarks
{
    private const uint Pasid = 1;
    private const int BatchSize = 64;

    private readonly ConcurrentDictionary<(ushort, uint, ulong), ulong> _dictionary = new();
    private readonly DmaRequest[] _batch = new DmaRequest[BatchSize];
    private readonly TranslationResult[] _results = new TranslationResult[BatchSize];
    private TranslationUnit _unit = null!;
    private DmaRequest _request;

    [GlobalSetup]
    public void Setup()
    {
        var fixture = new EngineFixture();
        var domain = fixture.AddDomain(1, SimStage.SecondStage, Pasid);
        fixture.MapPages(domain, BatchSize);
        _unit = fixture.Unit;
        for (var i = 0; i < BatchSize; i++)
        {
            var iova = EngineFixture.IovaBase + ((ulong)i << 12);
            _batch[i] = EngineFixture.Read(Pasid, iova + 0x80);
            var result = fixture.MustTranslate(_batch[i]);
            _dictionary[(EngineFixture.SourceId, Pasid, iova >> 12)] = result.Address & ~0xFFFUL;
        }
        _request = _batch[7];
    }

    [Benchmark(Baseline = true)]
    public ulong ConcurrentDictionaryHit() =>
        _dictionary.TryGetValue((_request.SourceId, _request.Pasid, _request.Address >> 12), out var page) ? page | (_request.Address & 0xFFF) : 0;

    [Benchmark]
    public ulong TranslateSamePage() => _unit.Translate(in _request).Address;

    [Benchmark(OperationsPerInvoke = BatchSize)]
    public ulong TranslateBatch64Sequential()
    {
        _unit.Translate(_batch, _results);
        return _results[BatchSize - 1].Address;
    }

    [Benchmark(OperationsPerInvoke = BatchSize)]
    public ulong ConcurrentDictionaryBatch64()
    {
        ulong sum = 0;
        foreach (ref readonly var request in _batch.AsSpan())
        {
            _dictionary.TryGetValue((request.SourceId, request.Pasid, request.Address >> 12), out var page);
            sum += page;
        }
        return sum;
    }
}
