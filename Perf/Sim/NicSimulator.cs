using System.Buffers.Binary;
using System.Diagnostics;
using VtdEngine.Tables;

namespace VtdEngine.Perf.Sim;

/// <summary>Fixed layout of the simulated host: physical regions and per-queue IOVAs.</summary>
public static class SimLayout
{
    /// <summary>Receive buffer size.</summary>
    public const int BufferSize = 2048;

    /// <summary>Completion entry size.</summary>
    public const int CompletionSize = 16;

    /// <summary>Physical RAM declared to the memory model (frames are allocated on first touch).</summary>
    public const ulong RamBytes = 1UL << 38;

    /// <summary>Frames for remapping structures and page tables: [16 MiB, 1 GiB).</summary>
    public const ulong TableBase = 16UL << 20;

    /// <summary>Length of the table region.</summary>
    public const ulong TableLength = (1UL << 30) - TableBase;

    /// <summary>Rings and buffers are carved from here upwards, 2 MiB aligned per queue.</summary>
    public const ulong DataBase = 1UL << 30;

    /// <summary>Descriptor ring IOVA (every queue has its own address space).</summary>
    public const ulong DescriptorIova = 0x1000_0000;

    /// <summary>Completion ring IOVA.</summary>
    public const ulong CompletionIova = 0x2000_0000;

    /// <summary>Buffer pool IOVA of the persistent mappings.</summary>
    public const ulong PoolIova = 0x4000_0000;

    /// <summary>Start of the dynamic (strict/deferred) IOVA range, handed out page by page.</summary>
    public const ulong DynamicIova = 0x8000_0000;
}

/// <summary>
/// A simulated multi-queue NIC receiving packets through the remapping engine, with the driver that posts, maps,
/// unmaps and invalidates its buffers (perf-notes 1.4).
/// </summary>
/// <remarks>
/// Per packet the device reads its descriptor (one translation), writes the payload in max-payload-size TLPs (one
/// translation each) and writes a completion entry (one translation). A burst of packets from one queue is translated
/// with one batch call, then the device performs the memory accesses and the driver recycles the buffers. The request
/// stream depends only on the options and the seed, never on translation results, so a run through
/// <see cref="NoOpSimEngine"/> replays the same stream and measures what the harness costs by itself.
/// </remarks>
public sealed class NicSimulator
{
    private const int QueuesPerFunction = 16;

    private readonly SimWorkload _workload;
    private readonly SimOptions _options;
    private readonly ISimEngine _engine;
    private readonly bool _verify;
    private readonly SparsePhysicalMemory _memory;
    private readonly SimPageTables _tables;
    private readonly Queue[] _queues;
    private readonly SimStatistics _stats = new();
    private readonly DmaRequest[] _requests;
    private readonly TranslationResult[] _results;
    private readonly byte[] _payload;
    private readonly byte[] _firstTlp;
    private readonly int _tlpsPerPacket;
    private readonly double _wireNanosecondsPerPacket;
    private ulong _nextData = SimLayout.DataBase;
    private int _stormTarget;

    /// <summary>Builds the host, the tables and the rings; the unit (if any) comes from <paramref name="engineFactory"/>.</summary>
    /// <param name="workload">The preset.</param>
    /// <param name="options">The settings.</param>
    /// <param name="engineFactory">Creates the engine over the memory and root table; null for <see cref="NoOpSimEngine"/>.</param>
    public NicSimulator(SimWorkload workload, SimOptions options, Func<SparsePhysicalMemory, ulong, SimOptions, ISimEngine>? engineFactory)
    {
        _workload = workload;
        _options = options.Validate();
        _memory = new SparsePhysicalMemory(SimLayout.RamBytes);
        _tables = new SimPageTables(_memory, new FrameAllocator(_memory, SimLayout.TableBase, SimLayout.TableLength));
        _engine = engineFactory?.Invoke(_memory, _tables.RootTable, options) ?? new NoOpSimEngine();
        _verify = engineFactory is not null;
        _tlpsPerPacket = (options.PacketSize + options.MaxPayloadSize - 1) / options.MaxPayloadSize;
        var perBurst = options.Burst * (_tlpsPerPacket + 2);
        _requests = new DmaRequest[perBurst];
        _results = new TranslationResult[perBurst];
        _payload = new byte[options.PacketSize];
        _firstTlp = new byte[Math.Min(options.MaxPayloadSize, options.PacketSize)];
        new Random(options.Seed).NextBytes(_payload);
        // Ethernet adds 8 B preamble + 12 B inter-frame gap + 4 B FCS around the frame on the wire.
        _wireNanosecondsPerPacket = (options.PacketSize + 24) * 8 / options.LineRateGbps;

        _queues = new Queue[workload.QueueCount(options)];
        for (var i = 0; i < _queues.Length; i++)
        {
            _queues[i] = CreateQueue(i);
        }
    }

    /// <summary>Creates the unit the simulator normally runs against: scalable mode, translation enabled, the IOTLB size asked for.</summary>
    public static ISimEngine CreateUnitEngine(SparsePhysicalMemory memory, ulong rootTable, SimOptions options)
    {
        var unit = new TranslationUnit(memory, options: new TranslationUnitOptions { IotlbEntries = options.IotlbEntries });
        unit.SetRootTable(rootTable, RootTableMode.Scalable);
        unit.TranslationEnabled = true;
        return new UnitSimEngine(unit);
    }

    /// <summary>The counters of the run so far.</summary>
    public SimStatistics Statistics => _stats;

    /// <summary>Queues of this run.</summary>
    public int QueueCount => _queues.Length;

    /// <summary>
    /// Leaf translations the rings cycle through (descriptor and completion pages plus buffer pages in use): what an
    /// IOTLB would have to hold to serve the steady state from cache.
    /// </summary>
    public long WorkingSetEntries
    {
        get
        {
            var ring = _options.RingSize;
            var ringPages = PagesFor((long)ring * _options.DescriptorSize) + PagesFor((long)ring * SimLayout.CompletionSize);
            var bufferEntries = _workload.Mapping switch
            {
                BufferMapping.Hugepages => (PoolBytes + (2L << 20) - 1) >> 21,
                BufferMapping.Persistent4K => PoolBytes >> 12,
                BufferMapping.Strict => ring,
                _ => ring + _options.FlushQueueSize,
            };
            return _queues.Length * (ringPages + bufferEntries);
        }
    }

    private long PoolBytes => 2L * _options.RingSize * SimLayout.BufferSize;

    /// <summary>Runs <see cref="SimOptions.Packets"/> packets; <paramref name="progress"/> gets the packets done so far.</summary>
    public SimStatistics Run(Action<long>? progress = null)
    {
        var random = new Random(_options.Seed);
        var remaining = (long)_options.Packets;
        var nextQueue = 0;
        var simulatedNanoseconds = 0.0;
        var nextStorm = _options.StormIntervalMicroseconds * 1000;
        var reportEvery = Math.Max(1, _options.Packets / 100);
        var nextReport = (long)reportEvery;
        var start = Stopwatch.GetTimestamp();
        while (remaining > 0)
        {
            var queue = _queues[_workload.RandomQueueOrder ? random.Next(_queues.Length) : nextQueue];
            nextQueue = (nextQueue + 1) % _queues.Length;
            var packets = (int)Math.Min(remaining, _options.Burst);
            RunBurst(queue, packets);
            remaining -= packets;

            if (_workload.Storm)
            {
                simulatedNanoseconds += packets * _wireNanosecondsPerPacket;
                while (simulatedNanoseconds >= nextStorm)
                {
                    var target = _queues[_stormTarget];
                    _stormTarget = (_stormTarget + 1) % _queues.Length;
                    Invalidate(SimPageTables.DomainInvalidation(target.Domain, target.Pasid));
                    nextStorm += _options.StormIntervalMicroseconds * 1000;
                }
            }
            if (progress is not null && _stats.Packets >= nextReport)
            {
                progress(_stats.Packets);
                nextReport += reportEvery;
            }
        }
        _stats.TotalTicks = Stopwatch.GetTimestamp() - start;
        progress?.Invoke(_stats.Packets);
        return _stats;
    }

    private void RunBurst(Queue queue, int packets)
    {
        // Device: descriptor read, payload TLPs, completion write per packet, in ring order.
        var count = 0;
        for (var k = 0; k < packets; k++)
        {
            var slot = (queue.Head + k) & (_options.RingSize - 1);
            _requests[count++] = new DmaRequest(queue.SourceId, SimLayout.DescriptorIova + ((ulong)slot * (ulong)_options.DescriptorSize),
                AccessKind.Read, queue.Pasid);
            var buffer = queue.SlotIova[slot];
            for (var t = 0; t < _tlpsPerPacket; t++)
            {
                _requests[count++] = new DmaRequest(queue.SourceId, buffer + ((ulong)t * (ulong)_options.MaxPayloadSize), AccessKind.Write, queue.Pasid);
            }
            _requests[count++] = new DmaRequest(queue.SourceId, SimLayout.CompletionIova + ((ulong)slot * SimLayout.CompletionSize),
                AccessKind.Write, queue.Pasid);
        }

        var requests = _requests.AsSpan(0, count);
        var results = _results.AsSpan(0, count);
        var before = Stopwatch.GetTimestamp();
        _engine.Translate(requests, results);
        _stats.RecordBatch(results, Stopwatch.GetTimestamp() - before);

        // The device performs the accesses at the translated addresses.
        var firstTlp = _firstTlp.AsSpan();
        var index = 0;
        for (var k = 0; k < packets; k++)
        {
            var slot = (queue.Head + k) & (_options.RingSize - 1);
            var sequence = (ulong)_stats.Packets + (ulong)k;
            if (results[index].IsSuccess)
            {
                var descriptorOk = _memory.TryRead64(results[index].Address, out var descriptor);
                if (_verify && (!descriptorOk || descriptor != queue.SlotIova[slot]))
                {
                    _stats.RecordDataError();
                }
            }
            index++;
            for (var t = 0; t < _tlpsPerPacket; t++, index++)
            {
                if (!results[index].IsSuccess)
                {
                    continue;
                }
                var offset = t * _options.MaxPayloadSize;
                var chunk = _payload.AsSpan(offset, Math.Min(_options.MaxPayloadSize, _options.PacketSize - offset));
                if (t == 0)
                {
                    chunk.CopyTo(firstTlp);
                    BinaryPrimitives.WriteUInt64LittleEndian(firstTlp, sequence);
                    chunk = firstTlp[..chunk.Length];
                }
                _memory.TryWriteBytes(results[index].Address, chunk);
            }
            if (results[index].IsSuccess)
            {
                _memory.TryWrite64(results[index].Address, sequence);
                _memory.TryWrite64(results[index].Address + 8, (ulong)_options.PacketSize);
            }
            index++;
        }

        // The driver consumes the completions and refills the ring.
        for (var k = 0; k < packets; k++)
        {
            var slot = (queue.Head + k) & (_options.RingSize - 1);
            if (_verify && (!_memory.TryRead64(queue.SlotPhysical[slot], out var landed) || landed != (ulong)_stats.Packets))
            {
                _stats.RecordDataError();
            }
            _stats.RecordPacket(_options.PacketSize);
            Recycle(queue, slot);
        }
        queue.Head = (queue.Head + packets) & (_options.RingSize - 1);
    }

    private void Recycle(Queue queue, int slot)
    {
        if (_workload.Mapping == BufferMapping.Strict)
        {
            var page = queue.SlotIova[slot] & ~0xFFFUL;
            Unmap(queue, page);
            Invalidate(SimPageTables.PageInvalidation(queue.Domain, queue.Pasid, page, PageSize.Size4K));
            queue.FreeIovaPages.Push(page);
        }
        else if (_workload.Mapping == BufferMapping.Deferred)
        {
            var page = queue.SlotIova[slot] & ~0xFFFUL;
            Unmap(queue, page);
            queue.FlushQueue.Add(page);
            if (queue.FlushQueue.Count >= _options.FlushQueueSize)
            {
                Invalidate(SimPageTables.DomainInvalidation(queue.Domain, queue.Pasid));
                // IOVAs become reusable only once the flush is done (Linux fq_flush_iotlb, then free).
                foreach (var freed in queue.FlushQueue)
                {
                    queue.FreeIovaPages.Push(freed);
                }
                queue.FlushQueue.Clear();
            }
        }
        Post(queue, slot);
    }

    /// <summary>Driver: gives the ring slot the next physical buffer, mapping it where the workload maps per buffer.</summary>
    private void Post(Queue queue, int slot)
    {
        var buffer = queue.NextBuffer;
        queue.NextBuffer = (buffer + 1) % (2 * _options.RingSize);
        var physical = queue.PoolPhysical + ((ulong)buffer * SimLayout.BufferSize);
        ulong iova;
        if (_workload.Mapping is BufferMapping.Strict or BufferMapping.Deferred)
        {
            // IOVAs come LIFO from a per-queue magazine, as Linux's per-CPU rcache hands them out.
            if (!queue.FreeIovaPages.TryPop(out var page))
            {
                page = queue.NextIovaPage;
                queue.NextIovaPage += 0x1000;
            }
            _tables.Map(queue.Domain, page, physical & ~0xFFFUL, PageSize.Size4K);
            _stats.RecordMap();
            iova = page + (physical & 0xFFF);
        }
        else
        {
            iova = SimLayout.PoolIova + ((ulong)buffer * SimLayout.BufferSize);
        }
        queue.SlotIova[slot] = iova;
        queue.SlotPhysical[slot] = physical;
        var descriptor = queue.DescriptorPhysical + ((ulong)slot * (ulong)_options.DescriptorSize);
        _memory.Write64(descriptor, iova);
        _memory.Write64(descriptor + 8, SimLayout.BufferSize);
    }

    private void Unmap(Queue queue, ulong page)
    {
        _tables.Unmap(queue.Domain, page, PageSize.Size4K);
        _stats.RecordUnmap();
    }

    private void Invalidate(in InvalidationRequest request)
    {
        var before = Stopwatch.GetTimestamp();
        _engine.Invalidate(request);
        _stats.RecordInvalidation(request.Kind, Stopwatch.GetTimestamp() - before);
    }

    private Queue CreateQueue(int index)
    {
        var function = index / QueuesPerFunction;
        var sourceId = DmaRequest.MakeSourceId((byte)(0x3A + (function >> 8)), (function >> 3) & 0x1F, function & 7);
        var pasid = (uint)(index + 1);
        var stage = _workload.IsFirstStage(index) ? SimStage.FirstStage : SimStage.SecondStage;
        var domain = _tables.CreateDomain((ushort)(index + 1), stage);
        _tables.Attach(sourceId, pasid, domain);

        var ring = _options.RingSize;
        var descriptorBytes = (ulong)PagesFor((long)ring * _options.DescriptorSize) << 12;
        var completionBytes = (ulong)PagesFor((long)ring * SimLayout.CompletionSize) << 12;
        var queue = new Queue(sourceId, pasid, domain, ring)
        {
            DescriptorPhysical = Carve(descriptorBytes, 4096),
            CompletionPhysical = Carve(completionBytes, 4096),
            PoolPhysical = Carve((ulong)PoolBytes, _workload.Mapping == BufferMapping.Hugepages ? 2UL << 20 : 4096),
            NextIovaPage = SimLayout.DynamicIova,
        };
        MapRange(domain, SimLayout.DescriptorIova, queue.DescriptorPhysical, descriptorBytes, PageSize.Size4K);
        MapRange(domain, SimLayout.CompletionIova, queue.CompletionPhysical, completionBytes, PageSize.Size4K);
        if (_workload.Mapping == BufferMapping.Hugepages)
        {
            MapRange(domain, SimLayout.PoolIova, queue.PoolPhysical, (ulong)PoolBytes, PageSize.Size2M);
        }
        else if (_workload.Mapping == BufferMapping.Persistent4K)
        {
            MapRange(domain, SimLayout.PoolIova, queue.PoolPhysical, (ulong)PoolBytes, PageSize.Size4K);
        }
        for (var slot = 0; slot < ring; slot++)
        {
            Post(queue, slot);
        }
        return queue;
    }

    private void MapRange(SimDomain domain, ulong iova, ulong physical, ulong bytes, PageSize size)
    {
        var step = size.Bytes();
        for (ulong offset = 0; offset < bytes; offset += step)
        {
            _tables.Map(domain, iova + offset, physical + offset, size);
            _stats.RecordMap();
        }
    }

    private ulong Carve(ulong bytes, ulong alignment)
    {
        var start = (_nextData + alignment - 1) & ~(alignment - 1);
        var size = (bytes + alignment - 1) & ~(alignment - 1);
        _nextData = start + size;
        return start;
    }

    private static long PagesFor(long bytes) => (bytes + 4095) >> 12;

    private sealed class Queue(ushort sourceId, uint pasid, SimDomain domain, int ringSize)
    {
        public ushort SourceId { get; } = sourceId;

        public uint Pasid { get; } = pasid;

        public SimDomain Domain { get; } = domain;

        public ulong DescriptorPhysical { get; init; }

        public ulong CompletionPhysical { get; init; }

        public ulong PoolPhysical { get; init; }

        public ulong[] SlotIova { get; } = new ulong[ringSize];

        public ulong[] SlotPhysical { get; } = new ulong[ringSize];

        public Stack<ulong> FreeIovaPages { get; } = new();

        public List<ulong> FlushQueue { get; } = [];

        public ulong NextIovaPage { get; set; }

        public int NextBuffer { get; set; }

        public int Head { get; set; }
    }
}
