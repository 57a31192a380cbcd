using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine.Perf.Benchmarks;

/// <summary>IOTLB hit path, batched sequential hits and O(1) domain invalidation, against a ConcurrentDictionary baseline.</summary>
[MemoryDiagnoser]
public class IotlbBenchmarks
{
    private const ushort Source = 0x0100;
    private const uint Pasid = 1;
    private const ulong Base = 0x4000_0000UL;

    private readonly ConcurrentDictionary<(ushort, uint, ulong), IotlbEntry> _dictionary = new();
    private IoTlb _small = null!;
    private IoTlb _filled1K = null!;
    private IoTlb _filled1M = null!;

    [GlobalSetup]
    public void Setup()
    {
        _small = new IoTlb(1024);
        for (ulong i = 0; i < 64; i++)
        {
            var entry = new IotlbEntry(0x1_0000_0000UL + (i << 12), PageSize.Size4K, CachedRights.Read | CachedRights.Write, 5, CachedTranslationType.SecondStage);
            _small.Insert(Source, Pasid, Base + (i << 12), Pasid, entry, _small.BeginFill());
            _dictionary[(Source, Pasid, (Base >> 12) + i)] = entry;
        }

        _filled1K = Fill(1 << 10);
        _filled1M = Fill(1 << 20);
    }

    [Benchmark(Baseline = true)]
    public ulong ConcurrentDictionaryHit() =>
        _dictionary.TryGetValue((Source, Pasid, (Base + 0x5123) >> 12), out IotlbEntry entry) ? entry.Translate(Base + 0x5123) : 0;

    [Benchmark]
    public ulong SingleHit() =>
        _small.TryLookup(Source, Pasid, Base + 0x5123, out IotlbEntry entry) ? entry.Translate(Base + 0x5123) : 0;

    [Benchmark(OperationsPerInvoke = 64)]
    public ulong SequentialHits64()
    {
        ulong sum = 0;
        IoTlb tlb = _small;
        for (ulong i = 0; i < 64; i++)
        {
            ulong address = Base + (i << 12) + 0x40;
            if (tlb.TryLookup(Source, Pasid, address, out IotlbEntry entry))
            {
                sum += entry.Translate(address);
            }
        }

        return sum;
    }

    [Benchmark]
    public void InvalidateDomain1K() => _filled1K.InvalidateDomain(5);

    [Benchmark]
    public void InvalidateDomain1M() => _filled1M.InvalidateDomain(5);

    private static IoTlb Fill(int entries)
    {
        var tlb = new IoTlb(entries);
        for (int i = 0; i < entries; i++)
        {
            var entry = new IotlbEntry((ulong)i << 12, PageSize.Size4K, CachedRights.Read, (ushort)(1 + (i & 7)), CachedTranslationType.SecondStage);
            tlb.Insert(Source, Pasid, (ulong)i << 12, Pasid, entry, tlb.BeginFill());
        }

        return tlb;
    }
}
