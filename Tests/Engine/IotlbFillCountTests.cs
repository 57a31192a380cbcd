using VtdEngine.Tests.Caches;

namespace VtdEngine.Tests.Engine;

/// <summary>
/// IOTLB fills made by a unit's walks and PDE-cache copies are counted in the translating thread's counters, not the
/// IOTLB's, and still reach every reader of the statistics.
/// </summary>
[Trait("Category", "Caches")]
public class IotlbFillCountTests
{
    private const int Capacity = 64;
    private const int Regions = 4;
    private const int PagesPerRegion = 64;
    private const ulong Iova = 0x4000_0000;
    private const ulong Frames = 0x6_0000_0000;

    public enum Via
    {
        Unit,
        UnitBurst,
        Port,
        PortBurst,
    }

    /// <summary>
    /// Every page is new, so each translation misses the IOTLB and fills it once: the first page of each 2 MiB region
    /// through a walk, the others through the region's PDE-cache copy. Once the 64 entries are full every further fill
    /// evicts a live entry (no invalidation ran, so none is dead).
    /// </summary>
    [Theory]
    [InlineData(Via.Unit)]
    [InlineData(Via.UnitBurst)]
    [InlineData(Via.Port)]
    [InlineData(Via.PortBurst)]
    public void EveryFillIsCountedOnceWhateverMadeIt(Via via)
    {
        var rig = new TwoStageRig();
        var requests = new List<DmaRequest>();
        for (var region = 0; region < Regions; region++)
        {
            for (var page = 0; page < PagesPerRegion; page++)
            {
                var iova = Iova + ((ulong)region << 21) + ((ulong)page << 12);
                rig.Map(firstStage: false, iova, Frames + iova);
                requests.Add(TwoStageRig.Request(firstStage: false, iova + 0x18));
            }
        }
        var unit = new TranslationUnit(rig.Memory, rig.Builder.Profile, new TranslationUnitOptions { IotlbEntries = Capacity });
        unit.SetRootTable(rig.Builder.RootTable, rig.Builder.Mode);
        unit.TranslationEnabled = true;
        var port = via is Via.Port or Via.PortBurst ? unit.OpenPort() : null;

        var results = new TranslationResult[requests.Count];
        if (via is Via.UnitBurst or Via.PortBurst)
        {
            // Bursts of one region each, so each burst walks once and then works from its copy.
            for (var region = 0; region < Regions; region++)
            {
                var span = new Range(region * PagesPerRegion, (region + 1) * PagesPerRegion);
                if (port is null)
                {
                    unit.Translate(requests.ToArray().AsSpan(span), results.AsSpan(span));
                }
                else
                {
                    port.Translate(requests.ToArray().AsSpan(span), results.AsSpan(span));
                }
            }
        }
        else
        {
            for (var i = 0; i < requests.Count; i++)
            {
                results[i] = port?.Translate(requests[i]) ?? unit.Translate(requests[i]);
            }
        }

        for (var i = 0; i < requests.Count; i++)
        {
            Assert.Equal(Frames + requests[i].Address, results[i].Address);
        }
        var fills = unit.IotlbStatisticsForTest;
        var statistics = unit.ReadStatistics();
        Assert.Equal(requests.Count, statistics.Walks);
        Assert.Equal(requests.Count, fills.Inserts);
        Assert.Equal(0, fills.DroppedFills);
        Assert.Equal(requests.Count - Capacity, fills.Evictions);
        Assert.Equal(fills.Evictions, statistics.IotlbEvictions);
    }
}
