using BenchmarkDotNet.Attributes;
using VtdEngine.Perf.Sim;

namespace VtdEngine.Perf.Benchmarks;

/// <summary>
/// Read-side scaling (perf-notes goal G9): pre-started reader threads released together, each translating
/// <see cref="LookupsPerThread"/> requests over 64 mapped pages per invoke. OperationsPerInvoke = threads × lookups,
/// so the mean is time per translation of the whole machine: ideal two-thread scaling shows a ratio of 0.5. Threads
/// translate through the unit (shared IOTLB, per-thread counters) or through a port each (private first-level TLB).
/// </summary>
/// <remarks>On the 2-core CI VMs the second thread shares the machine with everything else; report the host.</remarks>
[MemoryDiagnoser]
public class MultiThreadTranslateBenchmarks
{
    private const uint Pasid = 1;
    private const int Pages = 64;
    private const int LookupsPerThread = 1_000_000;

    private readonly DmaRequest[] _requests = new DmaRequest[Pages];
    private TranslationUnit _unit = null!;
    private TranslationPort[] _ports = null!;
    private ReaderThreads _one = null!;
    private ReaderThreads _two = null!;
    private ReaderThreads _onePort = null!;
    private ReaderThreads _twoPorts = null!;

    [GlobalSetup]
    public void Setup()
    {
        var fixture = new EngineFixture();
        var domain = fixture.AddDomain(1, SimStage.SecondStage, Pasid);
        fixture.MapPages(domain, Pages);
        for (var i = 0; i < Pages; i++)
        {
            _requests[i] = EngineFixture.Read(Pasid, EngineFixture.IovaBase + ((ulong)i << 12));
            fixture.MustTranslate(_requests[i]);
        }
        _unit = fixture.Unit;
        _ports = [_unit.OpenPort(), _unit.OpenPort()];
        _one = new ReaderThreads(1, Work);
        _two = new ReaderThreads(2, Work);
        _onePort = new ReaderThreads(1, PortWork);
        _twoPorts = new ReaderThreads(2, PortWork);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _one.Dispose();
        _two.Dispose();
        _onePort.Dispose();
        _twoPorts.Dispose();
    }

    private ulong Work(int thread)
    {
        ulong sum = 0;
        var requests = _requests;
        for (var i = 0; i < LookupsPerThread; i++)
        {
            sum += _unit.Translate(in requests[(i + (thread * 17)) & (Pages - 1)]).Address;
        }
        return sum;
    }

    private ulong PortWork(int thread)
    {
        ulong sum = 0;
        var requests = _requests;
        var port = _ports[thread];
        for (var i = 0; i < LookupsPerThread; i++)
        {
            sum += port.Translate(in requests[(i + (thread * 17)) & (Pages - 1)]).Address;
        }
        return sum;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = LookupsPerThread)]
    public ulong OneThread() => _one.Run();

    [Benchmark(OperationsPerInvoke = 2 * LookupsPerThread)]
    public ulong TwoThreads() => _two.Run();

    [Benchmark(OperationsPerInvoke = LookupsPerThread)]
    public ulong OneThreadOnePort() => _onePort.Run();

    [Benchmark(OperationsPerInvoke = 2 * LookupsPerThread)]
    public ulong TwoThreadsOnePortEach() => _twoPorts.Run();
}

/// <summary>
/// Threads started once and released together per <see cref="Run"/>, so thread creation and scheduling latency stay
/// out of the measurement (the BenchmarkThreadHelper pattern, perf-notes §5).
/// </summary>
public sealed class ReaderThreads : IDisposable
{
    private readonly Func<int, ulong> _work;
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _go;
    private readonly CountdownEvent _done;
    private readonly ulong[] _sinks;
    private volatile bool _stopping;

    /// <summary>Starts <paramref name="count"/> threads that run <paramref name="work"/> (given their index) per release.</summary>
    public ReaderThreads(int count, Func<int, ulong> work)
    {
        _work = work;
        _go = [.. Enumerable.Range(0, count).Select(_ => new SemaphoreSlim(0))];
        _done = new CountdownEvent(count);
        _sinks = new ulong[count * 16]; // one cache line apart
        _threads = [.. Enumerable.Range(0, count).Select(i => new Thread(() => Loop(i)) { IsBackground = true, Name = $"reader {i}" })];
        foreach (var thread in _threads)
        {
            thread.Start();
        }
    }

    /// <summary>Releases every thread once and waits for all; returns the combined results (defeats dead-code elimination).</summary>
    public ulong Run()
    {
        _done.Reset();
        foreach (var go in _go)
        {
            go.Release();
        }
        _done.Wait();
        ulong sum = 0;
        for (var i = 0; i < _threads.Length; i++)
        {
            sum += _sinks[i * 16];
        }
        return sum;
    }

    private void Loop(int index)
    {
        while (true)
        {
            _go[index].Wait();
            if (_stopping)
            {
                return;
            }
            _sinks[index * 16] = _work(index);
            _done.Signal();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stopping = true;
        foreach (var go in _go)
        {
            go.Release();
        }
        foreach (var thread in _threads)
        {
            thread.Join();
        }
        foreach (var go in _go)
        {
            go.Dispose();
        }
        _done.Dispose();
    }
}
