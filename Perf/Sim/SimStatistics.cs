using System.Diagnostics;

namespace VtdEngine.Perf.Sim;

/// <summary>
/// Every counter the simulator keeps, filled in one place from what <see cref="TranslationResult"/> and the
/// invalidation calls report.
/// </summary>
/// <remarks>
/// A translation with <see cref="TranslationResult.TableReads"/> == 0 is counted as an IOTLB hit, anything that read
/// a remapping structure as a walk (a miss). The engine is uncached today, so every translation is a walk until the
/// IOTLB and the context/PASID caches are wired into <see cref="TranslationUnit"/>; nothing here needs to change then.
/// </remarks>
public sealed class SimStatistics
{
    private readonly long[] _invalidationsByKind = new long[Enum.GetValues<InvalidationKind>().Length];

    /// <summary>Packets the device received.</summary>
    public long Packets { get; private set; }

    /// <summary>Payload bytes the device wrote.</summary>
    public long PayloadBytes { get; private set; }

    /// <summary>Translations requested (descriptor reads, payload TLPs, completion writes).</summary>
    public long Translations { get; private set; }

    /// <summary>Translations served without reading any remapping structure.</summary>
    public long Hits { get; private set; }

    /// <summary>Translations that read at least one remapping structure.</summary>
    public long Walks { get; private set; }

    /// <summary>Remapping-structure and paging-entry reads, summed.</summary>
    public long TableReads { get; private set; }

    /// <summary>A/D flag writes, summed.</summary>
    public long FlagWrites { get; private set; }

    /// <summary>Translations that ended in a remapping fault.</summary>
    public long Faults { get; private set; }

    /// <summary>Descriptors or payloads that did not land where the driver put them (must stay 0).</summary>
    public long DataErrors { get; private set; }

    /// <summary>Map calls the driver made.</summary>
    public long Maps { get; private set; }

    /// <summary>Unmap calls the driver made.</summary>
    public long Unmaps { get; private set; }

    /// <summary>A running hash over every result (status, fault, address, reads) for determinism checks.</summary>
    public ulong Checksum { get; private set; } = 14695981039346656037UL;

    /// <summary>Stopwatch ticks spent inside the translator's batch calls.</summary>
    public long TranslateTicks { get; private set; }

    /// <summary>Stopwatch ticks spent inside invalidation calls.</summary>
    public long InvalidateTicks { get; private set; }

    /// <summary>Stopwatch ticks of the whole run (set by the simulator).</summary>
    public long TotalTicks { get; internal set; }

    /// <summary>Invalidations issued, all kinds.</summary>
    public long Invalidations => _invalidationsByKind.Sum();

    /// <summary>Invalidations issued of one kind.</summary>
    public long InvalidationsOf(InvalidationKind kind) => _invalidationsByKind[(int)kind];

    /// <summary>Hits over translations (0 when nothing was translated).</summary>
    public double HitRate => Translations == 0 ? 0 : (double)Hits / Translations;

    /// <summary>Seconds inside translation calls.</summary>
    public double TranslateSeconds => (double)TranslateTicks / Stopwatch.Frequency;

    /// <summary>Seconds inside invalidation calls.</summary>
    public double InvalidateSeconds => (double)InvalidateTicks / Stopwatch.Frequency;

    /// <summary>Seconds of the whole run.</summary>
    public double TotalSeconds => (double)TotalTicks / Stopwatch.Frequency;

    /// <summary>Accounts one translated batch and the time it took.</summary>
    public void RecordBatch(ReadOnlySpan<TranslationResult> results, long ticks)
    {
        TranslateTicks += ticks;
        Translations += results.Length;
        var checksum = Checksum;
        foreach (ref readonly var result in results)
        {
            if (result.TableReads == 0)
            {
                Hits++;
            }
            else
            {
                Walks++;
                TableReads += result.TableReads;
            }
            FlagWrites += result.FlagWrites;
            if (result.Status == TranslationStatus.Fault)
            {
                Faults++;
            }
            checksum = (checksum ^ result.Address ^ ((ulong)result.Status << 56) ^ ((ulong)result.Fault << 48)
                ^ ((ulong)result.TableReads << 40)) * 1099511628211UL;
        }
        Checksum = checksum;
    }

    /// <summary>Accounts one invalidation and the time it took.</summary>
    public void RecordInvalidation(InvalidationKind kind, long ticks)
    {
        InvalidateTicks += ticks;
        _invalidationsByKind[(int)kind]++;
    }

    /// <summary>Accounts a received packet.</summary>
    public void RecordPacket(int payloadBytes)
    {
        Packets++;
        PayloadBytes += payloadBytes;
    }

    /// <summary>Accounts a driver map.</summary>
    public void RecordMap() => Maps++;

    /// <summary>Accounts a driver unmap.</summary>
    public void RecordUnmap() => Unmaps++;

    /// <summary>Accounts a payload or descriptor that did not arrive where expected.</summary>
    public void RecordDataError() => DataErrors++;
}
