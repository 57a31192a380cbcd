using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Iotlb;

/// <summary>Seeded random operation sequences against <see cref="ReferenceIotlb"/>: a hit must be the model's entry.</summary>
[Trait("Category", "Iotlb")]
public class ReferenceModelTests
{
    private const uint NoPasid = uint.MaxValue;
    private const uint RidPasid = 0;

    [Theory]
    [InlineData(64, 1)]
    [InlineData(64, 2)]
    [InlineData(64, 3)]
    [InlineData(1024, 4)]
    [InlineData(1024, 5)]
    [InlineData(4096, 6)]
    public void EveryHitIsTheModelsEntry(int capacity, int seed)
    {
        var random = new Random(seed);
        var cache = new IoTlb(capacity);
        var model = new ReferenceIotlb();
        var recent = new List<(ushort, uint, uint, ulong)>();
        int hits = 0, lookups = 0;
        for (int op = 0; op < 6000; op++)
        {
            int kind = random.Next(100);
            var (sourceId, pasid, tagPasid) = RandomRequester(random);
            ulong address = RandomAddress(random);
            if (recent.Count > 0 && random.Next(4) != 0)
            {
                // Mostly revisit recent fills so lookups and invalidations hit populated keys.
                (sourceId, pasid, tagPasid, address) = recent[random.Next(recent.Count)];
                address = (address & ~0xFFFUL) + (ulong)random.Next(0, 4096);
            }

            ushort domainId = (ushort)random.Next(1, 4);
            if (kind < 45)
            {
                // A walk result; the domain follows the requester so PASID/domain invalidations have targets.
                PageSize size = RandomSize(random);
                var type = (CachedTranslationType)random.Next(0, 5);
                var entry = new IotlbEntry((ulong)random.NextInt64(1, 1L << 40) << 12, size, (CachedRights)random.Next(0, 32),
                    (ushort)(1 + ((sourceId + tagPasid) % 3)), type);
                uint stamp = cache.BeginFill();
                cache.Insert(sourceId, pasid, address, tagPasid, entry, stamp);
                model.Insert(sourceId, pasid, address, tagPasid, entry);
                recent.Add((sourceId, pasid, tagPasid, address));
                if (recent.Count > 48)
                {
                    recent.RemoveAt(0);
                }
            }
            else if (kind < 85)
            {
                lookups++;
                bool modelHit = model.TryLookup(sourceId, pasid, address, out IotlbEntry expected);
                if (cache.TryLookup(sourceId, pasid, address, out IotlbEntry actual))
                {
                    hits++;
                    Assert.True(modelHit, $"op {op}: hit on an entry the model invalidated ({actual})");
                    Assert.Equal(expected, actual);
                    Assert.Equal(expected.Translate(address), actual.Translate(address));
                }
            }
            else if (kind < 87)
            {
                cache.InvalidateAll();
                model.InvalidateAll();
            }
            else if (kind < 90)
            {
                cache.InvalidateDomain(domainId);
                model.InvalidateDomain(domainId);
            }
            else if (kind < 94)
            {
                int am = RandomAddressMask(random);
                cache.InvalidatePagesInDomain(domainId, address, am);
                model.InvalidatePagesInDomain(domainId, address, am);
            }
            else if (kind < 96)
            {
                cache.InvalidatePasid(domainId, tagPasid);
                model.InvalidatePasid(domainId, tagPasid);
            }
            else
            {
                int am = RandomAddressMask(random);
                cache.InvalidatePagesInPasid(domainId, tagPasid, address, am);
                model.InvalidatePagesInPasid(domainId, tagPasid, address, am);
            }
        }

        // The cache must actually cache: a silent always-miss would pass every check above.
        Assert.True(hits > lookups / 20, $"only {hits} hits in {lookups} lookups");
    }

    private static (ushort SourceId, uint Pasid, uint TagPasid) RandomRequester(Random random)
    {
        ushort sourceId = (ushort)(0x100 + random.Next(0, 3));
        int p = random.Next(0, 4);
        return p == 0 ? (sourceId, NoPasid, RidPasid) : (sourceId, (uint)p, (uint)p);
    }

    /// <summary>Addresses in a 4 MiB window at 0 and in a 1 GiB-aligned window, so large pages overlap small ones.</summary>
    private static ulong RandomAddress(Random random)
    {
        ulong window = random.Next(2) == 0 ? 0 : 0x40_0000_0000UL;
        return window + ((ulong)random.Next(0, 1024) << 12) + (ulong)random.Next(0, 4096);
    }

    private static PageSize RandomSize(Random random) => random.Next(10) switch
    {
        < 7 => PageSize.Size4K,
        < 9 => PageSize.Size2M,
        _ => PageSize.Size1G,
    };

    private static int RandomAddressMask(Random random) => random.Next(10) switch
    {
        < 5 => 0,
        < 7 => random.Next(1, 7),
        < 9 => 9,
        _ => 18,
    };
}
