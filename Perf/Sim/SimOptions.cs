namespace VtdEngine.Perf.Sim;

/// <summary>Settings of one simulation: the defaults are what <c>Perf -- sim</c> runs.</summary>
public sealed record SimOptions
{
    /// <summary>Queues per workload (many-pasid multiplies it by <see cref="ManyPasidFactor"/>).</summary>
    public int Queues { get; init; } = 4;

    /// <summary>Descriptors per ring (and buffers in flight per queue).</summary>
    public int RingSize { get; init; } = 512;

    /// <summary>Received packet size in bytes (at most one 2 KiB buffer).</summary>
    public int PacketSize { get; init; } = 1500;

    /// <summary>Packets per workload.</summary>
    public int Packets { get; init; } = 200_000;

    /// <summary>
    /// IOTLB entries asked for. Recorded in the results; it becomes an engine option once the IOTLB is wired in.
    /// </summary>
    public int IotlbEntries { get; init; } = 4096;

    /// <summary>Seed of every random choice (queue order in many-pasid).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Descriptor size in bytes (16–64, per perf-notes 1.4).</summary>
    public int DescriptorSize { get; init; } = 16;

    /// <summary>PCIe max payload size: the payload is written in TLPs of this size, one translation each.</summary>
    public int MaxPayloadSize { get; init; } = 256;

    /// <summary>Packets the device handles per burst; one batched translate call per burst.</summary>
    public int Burst { get; init; } = 32;

    /// <summary>Unmaps queued before the deferred workload flushes (Linux flush-queue high-water mark).</summary>
    public int FlushQueueSize { get; init; } = 256;

    /// <summary>Simulated wire time between two invalidations of the invalidation-storm workload.</summary>
    public double StormIntervalMicroseconds { get; init; } = 10;

    /// <summary>Line rate that turns packets into simulated wire time (storm pacing).</summary>
    public double LineRateGbps { get; init; } = 100;

    /// <summary>Queue multiplier of the many-pasid workload.</summary>
    public int ManyPasidFactor { get; init; } = 16;

    /// <summary>Whether to run the many-pasid working-set sweep that feeds the chart.</summary>
    public bool Sweep { get; init; } = true;

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> with the first problem.</summary>
    public SimOptions Validate()
    {
        Check(Queues is >= 1 and <= 1024, "queues must be 1..1024");
        Check(RingSize is >= 8 and <= 4096 && (RingSize & (RingSize - 1)) == 0, "ring size must be a power of two in 8..4096");
        Check(PacketSize is >= 64 and <= SimLayout.BufferSize, $"packet size must be 64..{SimLayout.BufferSize}");
        Check(Packets >= 1, "packets must be positive");
        Check(IotlbEntries >= 64, "IOTLB size must be at least 64 entries");
        Check(DescriptorSize is 16 or 32 or 64, "descriptor size must be 16, 32 or 64");
        Check(MaxPayloadSize is 128 or 256 or 512 or 1024 or 2048 or 4096, "max payload size must be a power of two in 128..4096");
        Check(Burst is >= 1 and <= 256, "burst must be 1..256");
        Check(FlushQueueSize >= 1, "flush queue size must be positive");
        Check(StormIntervalMicroseconds > 0 && LineRateGbps > 0, "storm interval and line rate must be positive");
        Check(ManyPasidFactor >= 1 && (long)Queues * ManyPasidFactor <= 4096, "many-pasid queues (queues x factor) must be at most 4096");
        return this;
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }
}
