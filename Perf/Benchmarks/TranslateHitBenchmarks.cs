using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using VtdEngine.Perf.Sim;
using VtdEngine.Tables;

namespace VtdEngine.Perf.Benchmarks;

/// <summary>
/// Hit path: the same page translated repeatedly; a burst of 64 distinct sequential 4 KiB pages through the span API;
/// and a NIC-shaped burst (per packet a descriptor read, six 256-byte payload writes into a 2 MiB buffer pool and a
/// completion write), each against a ConcurrentDictionary IOTLB with a pre-packed (RID, PASID, page) key
/// (perf-notes §5, goals G1/G2).
/// </summary>
[MemoryDiagnoser]
public class TranslateHitBenchmarks
{
    private const uint Pasid = 1;
    private const int BatchSize = 64;

    private readonly ConcurrentDictionary<(ushort, uint, ulong), ulong> _dictionary = new();
    private readonly DmaRequest[] _batch = new DmaRequest[BatchSize];
    private readonly DmaRequest[] _nicBurst = new DmaRequest[BatchSize];
    private readonly TranslationResult[] _results = new TranslationResult[BatchSize];
    private TranslationUnit _unit = null!;
    private TranslationPort _port = null!;
    private DmaRequest _request;

    [GlobalSetup]
    public void Setup()
    {
        var fixture = new EngineFixture();
        var domain = fixture.AddDomain(1, SimStage.SecondStage, Pasid);
        fixture.MapPages(domain, BatchSize);
        _unit = fixture.Unit;
        _port = _unit.OpenPort();
        for (var i = 0; i < BatchSize; i++)
        {
            var iova = EngineFixture.IovaBase + ((ulong)i << 12);
            _batch[i] = EngineFixture.Read(Pasid, iova + 0x80);
            var result = fixture.MustTranslate(_batch[i]);
            _dictionary[(EngineFixture.SourceId, Pasid, iova >> 12)] = result.Address & ~0xFFFUL;
        }
        _request = _batch[7];

        // The NIC burst: descriptors and completions in two 4 KiB pages after the 64 above, buffers in a 2 MiB page.
        const ulong Descriptors = EngineFixture.IovaBase + ((ulong)BatchSize << 12);
        const ulong Completions = Descriptors + 0x1000;
        const ulong Buffers = EngineFixture.IovaBase + (1UL << 30);
        fixture.MapPages(domain, 2, iova: Descriptors, output: EngineFixture.OutputBase + ((ulong)BatchSize << 12));
        fixture.MapPages(domain, 1, PageSize.Size2M, Buffers, EngineFixture.OutputBase + (1UL << 30));
        for (var i = 0; i < BatchSize; i++)
        {
            var packet = (ulong)(i / 8);
            _nicBurst[i] = (i % 8) switch
            {
                0 => EngineFixture.Read(Pasid, Descriptors + (packet * 16)),
                7 => new DmaRequest(EngineFixture.SourceId, Completions + (packet * 16), AccessKind.Write, Pasid),
                var tlp => new DmaRequest(EngineFixture.SourceId, Buffers + (packet * 2048) + ((ulong)(tlp - 1) * 256), AccessKind.Write, Pasid),
            };
            var result = fixture.MustTranslate(_nicBurst[i]);
            _dictionary[(EngineFixture.SourceId, Pasid, _nicBurst[i].Address >> 12)] = result.Address & ~0xFFFUL;
        }
    }

    [Benchmark(Baseline = true)]
    public ulong ConcurrentDictionaryHit() =>
        _dictionary.TryGetValue((_request.SourceId, _request.Pasid, _request.Address >> 12), out var page) ? page | (_request.Address & 0xFFF) : 0;

    [Benchmark]
    public ulong TranslateSamePage() => _unit.Translate(in _request).Address;

    /// <summary>The same hit through a <see cref="TranslationPort"/>, which counts in its own fields.</summary>
    [Benchmark]
    public ulong PortTranslateSamePage() => _port.Translate(in _request).Address;

    [Benchmark(OperationsPerInvoke = BatchSize)]
    public ulong TranslateBatch64Sequential()
    {
        _unit.Translate(_batch, _results);
        return _results[BatchSize - 1].Address;
    }

    /// <summary>The same burst through a port: its first-level TLB holds all 64 pages.</summary>
    [Benchmark(OperationsPerInvoke = BatchSize)]
    public ulong PortTranslateBatch64Sequential()
    {
        _port.Translate(_batch, _results);
        return _results[BatchSize - 1].Address;
    }

    [Benchmark(OperationsPerInvoke = BatchSize)]
    public ulong ConcurrentDictionaryBatch64() => DictionaryBurst(_batch);

    /// <summary>Eight packets' DMA in one burst: three IOTLB lookups, the rest served by the burst window.</summary>
    [Benchmark(OperationsPerInvoke = BatchSize)]
    public ulong TranslateNicBurst64()
    {
        _unit.Translate(_nicBurst, _results);
        return _results[BatchSize - 1].Address;
    }

    [Benchmark(OperationsPerInvoke = BatchSize)]
    public ulong PortTranslateNicBurst64()
    {
        _port.Translate(_nicBurst, _results);
        return _results[BatchSize - 1].Address;
    }

    [Benchmark(OperationsPerInvoke = BatchSize)]
    public ulong ConcurrentDictionaryNicBurst64() => DictionaryBurst(_nicBurst);

    private ulong DictionaryBurst(DmaRequest[] burst)
    {
        ulong sum = 0;
        foreach (ref readonly var request in burst.AsSpan())
        {
            _dictionary.TryGetValue((request.SourceId, request.Pasid, request.Address >> 12), out var page);
            sum += page | (request.Address & 0xFFF);
        }
        return sum;
    }
}
