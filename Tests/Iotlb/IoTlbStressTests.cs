using System.Diagnostics;
using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Iotlb;

/// <summary>Readers against a remapping writer: no torn entry, and nothing invalidated is seen after the call returns.</summary>
[Trait("Category", "Iotlb")]
[Trait("Category", "Stress")]
public class IoTlbStressTests
{
    private const ushort Source = 0x0200;
    private const uint Pasid = 17;
    private const ulong Address = 0x7700_0000UL;
    private const long NoiseBase = 1L << 30;

    [Fact]
    public void ReadersNeverSeeTornOrInvalidatedGenerations()
    {
        var tlb = new IoTlb(64); // tiny: the noise fills keep the key's set busy and evicting
        long invalidatedThrough = 0;
        bool done = false;
        long hits = 0, lookups = 0;
        string? failure = null;

        void Reader()
        {
            long localHits = 0, localLookups = 0;
            while (!Volatile.Read(ref done))
            {
                long floor = Volatile.Read(ref invalidatedThrough);
                localLookups++;
                if (!tlb.TryLookup(Source, Pasid, Address + 0x10, out IotlbEntry entry))
                {
                    continue;
                }

                localHits++;
                long generation = (long)(entry.PageFrame >> 12);
                if (generation >= NoiseBase)
                {
                    failure ??= $"another requester's translation returned: {entry}";
                }
                else if (entry != Generation(generation))
                {
                    failure ??= $"torn entry {entry}, expected {Generation(generation)}";
                }
                else if (generation <= floor)
                {
                    failure ??= $"generation {generation} seen after generations through {floor} were invalidated";
                }
            }

            Interlocked.Add(ref hits, localHits);
            Interlocked.Add(ref lookups, localLookups);
        }

        var readers = new[] { new Thread(Reader), new Thread(Reader) };
        foreach (Thread reader in readers)
        {
            reader.Start();
        }

        var clock = Stopwatch.StartNew();
        long generations = 0;
        for (long g = 1; clock.ElapsedMilliseconds < 1500 && failure is null; g++)
        {
            IotlbEntry entry = Generation(g);
            tlb.Insert(Source, Pasid, Address, Pasid, entry, tlb.BeginFill());

            // Noise in the same page group: other requesters' live translations evict and reuse the key's way,
            // so a torn read would pair this key's tag and ids with a noise frame.
            tlb.Insert((ushort)(Source + 1 + (g % 40)), Pasid, Address, Pasid, Generation(NoiseBase + g), tlb.BeginFill());
            Thread.SpinWait(20);

            switch (g % 5)
            {
                case 0: tlb.InvalidateDomain(entry.DomainId); break;
                case 1: tlb.InvalidatePagesInDomain(entry.DomainId, Address, (int)(g % 3)); break;
                case 2: tlb.InvalidatePasid(entry.DomainId, Pasid); break;
                case 3: tlb.InvalidatePagesInPasid(entry.DomainId, Pasid, Address, 0); break;
                default: tlb.InvalidateAll(); break;
            }

            Volatile.Write(ref invalidatedThrough, g);
            generations = g;
        }

        Volatile.Write(ref done, true);
        foreach (Thread reader in readers)
        {
            reader.Join();
        }

        Assert.Null(failure);
        Assert.True(generations > 100, $"only {generations} generations");
        Assert.True(lookups > 1000, $"only {lookups} lookups");

        // Hits depend on scheduling on a 2-core machine, so only report them.
        Console.WriteLine($"IOTLB stress: {generations} generations, {lookups} lookups, {hits} hits");
    }

    /// <summary>Generation g's entry: every field derived from g, so a mix of two generations is detectable.</summary>
    private static IotlbEntry Generation(long g)
    {
        // The type must be one the generation's invalidation reaches (case 1 and 3 are page-selective scopes).
        CachedTranslationType type = (g % 5) switch
        {
            1 => CachedTranslationType.SecondStage,
            3 => CachedTranslationType.Nested,
            _ => (CachedTranslationType)(g % 5 == 0 ? 4 : g % 4),
        };
        return new IotlbEntry((ulong)g << 12, PageSize.Size4K, (CachedRights)((g * 7) & 0x1F), (ushort)(1 + (g % 4093)), type);
    }
}
