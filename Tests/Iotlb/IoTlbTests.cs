using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Iotlb;

/// <summary>The IOTLB's promises, one behaviour per test.</summary>
[Trait("Category", "Iotlb")]
public class IoTlbTests
{
    private const uint NoPasid = uint.MaxValue;
    private const ushort Source = 0x0100;
    private const ushort Domain = 7;

    [Theory]
    [InlineData(64, 64)]
    [InlineData(65, 128)]
    [InlineData(1000, 1024)]
    public void CapacityRoundsUpToAPowerOfTwo(int requested, int expected) =>
        Assert.Equal(expected, new IoTlb(requested).Capacity);

    [Theory]
    [InlineData(0)]
    [InlineData(63)]
    [InlineData(-1)]
    public void CapacityBelow64IsRejected(int capacity) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new IoTlb(capacity));

    [Fact]
    public void AFilledEntryHitsAndTranslates()
    {
        var tlb = new IoTlb(1024);
        var entry = new IotlbEntry(0xABCD_E000, PageSize.Size4K, CachedRights.Read | CachedRights.Write, Domain, CachedTranslationType.SecondStage);
        tlb.Insert(Source, NoPasid, 0x1234_5000, 0, entry, tlb.BeginFill());

        Assert.True(tlb.TryLookup(Source, NoPasid, 0x1234_5678, out IotlbEntry hit));
        Assert.Equal(entry, hit);
        Assert.Equal(0xABCD_E678UL, hit.Translate(0x1234_5678));
        Assert.False(tlb.TryLookup(Source, 5, 0x1234_5678, out _)); // with PASID 5 is another key
        Assert.False(tlb.TryLookup(Source + 1, NoPasid, 0x1234_5678, out _));
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x1234_6000, out _));
    }

    [Theory]
    [InlineData(PageSize.Size2M)]
    [InlineData(PageSize.Size1G)]
    public void ALargePageIsFoundByOneLookupOfEveryFilledPageInsideIt(PageSize size)
    {
        var tlb = new IoTlb(1024);
        ulong inputBase = 0x80_0000_0000UL;
        ulong frame = 0x1_4000_0000UL;
        var entry = new IotlbEntry(frame, size, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        ulong[] touched = [inputBase, inputBase + 0x1000, inputBase + size.Bytes() - 0x1000, inputBase + (size.Bytes() / 2) + 0x123];
        foreach (ulong address in touched)
        {
            tlb.Insert(Source, NoPasid, address, 0, entry, tlb.BeginFill());
        }

        foreach (ulong address in touched)
        {
            Assert.True(tlb.TryLookup(Source, NoPasid, address | 0xABC, out IotlbEntry hit));
            Assert.Equal(size, hit.Size);
            Assert.Equal(frame + ((address | 0xABC) & size.OffsetMask()), hit.Translate(address | 0xABC));
        }

        Assert.Equal(touched.Length, tlb.ReadStatistics().Hits);
    }

    [Fact]
    public void PageInvalidationWithAm9RemovesEveryPieceOfA2MiBPage()
    {
        var tlb = new IoTlb(1024);
        ulong inputBase = 0x4020_0000UL;
        var large = new IotlbEntry(0x8000_0000UL, PageSize.Size2M, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        var other = new IotlbEntry(0x9000_0000UL, PageSize.Size2M, CachedRights.Read, Domain + 1, CachedTranslationType.SecondStage);
        for (ulong page = 0; page < 512; page += 37)
        {
            tlb.Insert(Source, NoPasid, inputBase + (page << 12), 0, large, tlb.BeginFill());
            tlb.Insert(Source + 1, NoPasid, inputBase + (page << 12), 0, other, tlb.BeginFill());
        }

        tlb.InvalidatePagesInDomain(Domain, inputBase + 0x1234, 9);

        for (ulong page = 0; page < 512; page += 37)
        {
            Assert.False(tlb.TryLookup(Source, NoPasid, inputBase + (page << 12), out _));
            Assert.True(tlb.TryLookup(Source + 1, NoPasid, inputBase + (page << 12), out _));
        }
    }

    [Fact]
    public void A4KiBInvalidationInsideALargePageRemovesPiecesTaggedWithOtherPages()
    {
        var tlb = new IoTlb(1024);
        var large = new IotlbEntry(0x8000_0000UL, PageSize.Size2M, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        var small = new IotlbEntry(0x7000_0000UL, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        tlb.Insert(Source, NoPasid, 0x4020_0000, 0, large, tlb.BeginFill());
        tlb.Insert(Source, NoPasid, 0x5000_0000, 0, small, tlb.BeginFill());

        // The 2 MiB page overlaps the invalidated 4 KiB page although its piece is tagged with another page.
        tlb.InvalidatePagesInDomain(Domain, 0x4030_0000, 0);

        Assert.False(tlb.TryLookup(Source, NoPasid, 0x4020_0000, out _));
        Assert.True(tlb.TryLookup(Source, NoPasid, 0x5000_0000, out _)); // a 4 KiB entry outside the range survives
    }

    [Fact]
    public void PageSelectiveScopesFollowTables23And24()
    {
        var tlb = new IoTlb(1024);
        const ulong address = 0x10_0000;
        var secondStage = new IotlbEntry(0x1000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        var firstStageElsewhere = new IotlbEntry(0x2000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.FirstStage);
        var firstStageHere = new IotlbEntry(0x3000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.Nested);

        // P_IOTLB page-selective: only first-stage/nested entries with the PASID and address.
        tlb.Insert(Source, 3, address, 3, secondStage, tlb.BeginFill());
        tlb.Insert(Source, 4, address, 4, firstStageHere, tlb.BeginFill());
        tlb.Insert(Source, 4, 0x90_0000, 4, firstStageElsewhere, tlb.BeginFill());
        tlb.Insert(Source, 3, 0x90_0000, 3, firstStageHere, tlb.BeginFill());
        tlb.InvalidatePagesInPasid(Domain, 4, address, 0);
        Assert.True(tlb.TryLookup(Source, 3, address, out _));
        Assert.False(tlb.TryLookup(Source, 4, address, out _));
        Assert.True(tlb.TryLookup(Source, 4, 0x90_0000, out _));
        Assert.True(tlb.TryLookup(Source, 3, 0x90_0000, out _));

        // IOTLB page-selective in domain: second-stage by address, and every first-stage entry of the domain.
        tlb.InvalidatePagesInDomain(Domain, address, 0);
        Assert.False(tlb.TryLookup(Source, 3, address, out _));
        Assert.False(tlb.TryLookup(Source, 4, 0x90_0000, out _));
        Assert.False(tlb.TryLookup(Source, 3, 0x90_0000, out _));
    }

    [Fact]
    public void PasidSelectiveInvalidationRemovesEveryTypeWithThatDomainAndPasid()
    {
        var tlb = new IoTlb(1024);
        var ss = new IotlbEntry(0x1000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        var fs = new IotlbEntry(0x2000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.FirstStage);
        tlb.Insert(Source, NoPasid, 0x1000, 0, ss, tlb.BeginFill()); // no PASID: tagged with RID_PASID 0
        tlb.Insert(Source, 9, 0x2000, 9, fs, tlb.BeginFill());
        tlb.Insert(Source, 9, 0x3000, 9, ss, tlb.BeginFill());

        tlb.InvalidatePasid(Domain, 9);

        Assert.True(tlb.TryLookup(Source, NoPasid, 0x1000, out _));
        Assert.False(tlb.TryLookup(Source, 9, 0x2000, out _));
        Assert.False(tlb.TryLookup(Source, 9, 0x3000, out _));
        tlb.InvalidatePasid(Domain, 0);
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x1000, out _));
    }

    [Fact]
    public void AWalkOvertakenByAnInvalidationIsNotCached()
    {
        var tlb = new IoTlb(1024);
        var entry = new IotlbEntry(0x5000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);

        uint stamp = tlb.BeginFill();
        tlb.InvalidateDomain(Domain);
        tlb.Insert(Source, NoPasid, 0x1000, 0, entry, stamp);
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x1000, out _));

        stamp = tlb.BeginFill();
        tlb.InvalidatePagesInDomain(Domain, 0x1000, 0);
        tlb.Insert(Source, NoPasid, 0x1000, 0, entry, stamp);
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x1000, out _));

        stamp = tlb.BeginFill();
        tlb.InvalidateAll();
        tlb.Insert(Source, NoPasid, 0x1000, 0, entry, stamp);
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x1000, out _));
        Assert.Equal(3, tlb.ReadStatistics().DroppedFills);

        // A walk that starts after the invalidation is cached.
        tlb.Insert(Source, NoPasid, 0x1000, 0, entry, tlb.BeginFill());
        Assert.True(tlb.TryLookup(Source, NoPasid, 0x1000, out _));
    }

    [Fact]
    public void TheClockWrapClearsEverythingAndTheCacheKeepsWorking()
    {
        var tlb = new IoTlb(64);
        var entry = new IotlbEntry(0x5000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        tlb.ClockForTest = IoTlb.WrapLimit - 3;
        tlb.Insert(Source, NoPasid, 0x1000, 0, entry, tlb.BeginFill());
        tlb.Insert(Source, NoPasid, 0x2000, 0, entry, tlb.BeginFill());
        tlb.InvalidatePagesInDomain(Domain, 0x2000, 0);         // clock = limit - 2
        uint staleWalk = tlb.BeginFill();
        tlb.InvalidateDomain(Domain + 1);                       // limit - 1
        Assert.True(tlb.TryLookup(Source, NoPasid, 0x1000, out _));
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x2000, out _));

        tlb.InvalidateDomain(Domain + 2);                       // reaches the limit: full reset
        Assert.Equal(0u, tlb.ClockForTest);
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x1000, out _));
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x2000, out _));

        // A walk stamped before the reset is dropped; fresh walks are cached and invalidations still work.
        tlb.Insert(Source, NoPasid, 0x3000, 0, entry, staleWalk);
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x3000, out _));
        tlb.Insert(Source, NoPasid, 0x2000, 0, entry, tlb.BeginFill());
        Assert.True(tlb.TryLookup(Source, NoPasid, 0x2000, out _));
        tlb.InvalidateDomain(Domain);
        Assert.False(tlb.TryLookup(Source, NoPasid, 0x2000, out _));
        tlb.Insert(Source, NoPasid, 0x2000, 0, entry, tlb.BeginFill());
        Assert.True(tlb.TryLookup(Source, NoPasid, 0x2000, out _));
        Assert.Equal(1u, tlb.ClockForTest);
    }

    [Theory]
    [InlineData(1 << 10)]
    [InlineData(1 << 20)]
    public void DomainPasidAndGlobalInvalidationTouchConstantState(int capacity)
    {
        var tlb = new IoTlb(capacity);
        for (int i = 0; i < capacity; i++)
        {
            var entry = new IotlbEntry((ulong)i << 12, PageSize.Size4K, CachedRights.Read, (ushort)(1 + (i & 1)), CachedTranslationType.FirstStage);
            tlb.Insert(Source, 1, (ulong)i << 12, 1, entry, 0);
        }

        tlb.InvalidateDomain(1);
        Assert.Equal(1, tlb.LastInvalidationFootprint);
        tlb.InvalidatePasid(2, 1);
        Assert.Equal(1, tlb.LastInvalidationFootprint);
        tlb.InvalidateAll();
        Assert.Equal(1, tlb.LastInvalidationFootprint);

        // Page-selective work depends on the range only: pages x sets per group, plus its stamp slots.
        tlb.InvalidatePagesInPasid(2, 1, 0, 3);
        Assert.Equal(1 + (8 * IoTlb.GroupSize), tlb.LastInvalidationFootprint);
    }

    [Fact]
    public void DomainInvalidationKeepsOtherDomains()
    {
        var tlb = new IoTlb(1 << 12);
        for (int i = 0; i < 1000; i++)
        {
            var entry = new IotlbEntry((ulong)i << 12, PageSize.Size4K, CachedRights.Read, (ushort)(1 + (i & 1)), CachedTranslationType.SecondStage);
            tlb.Insert(Source, NoPasid, (ulong)i << 12, 0, entry, tlb.BeginFill());
        }

        tlb.InvalidateDomain(1);
        int hits = 0;
        for (int i = 0; i < 1000; i++)
        {
            bool hit = tlb.TryLookup(Source, NoPasid, (ulong)i << 12, out IotlbEntry entry);
            Assert.False(hit && entry.DomainId == 1);
            hits += hit ? 1 : 0;
        }

        Assert.True(hits > 400, $"{hits} of 500 domain-2 entries survived");
    }

    [Fact]
    public void TryLookupAllocatesNothing()
    {
        var tlb = new IoTlb(1024);
        var entry = new IotlbEntry(0x5000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        for (int i = 0; i < 64; i++)
        {
            tlb.Insert(Source, NoPasid, (ulong)i << 12, 0, entry, tlb.BeginFill());
        }

        long sink = Lookups(tlb); // warm up (tiering, statics)

        // An allocation on the lookup path would show in every run; the runtime's own one-off work (a tier-up landing
        // mid-loop) shows in one at most, so the least any run allocated must be zero.
        long least = long.MaxValue;
        for (int run = 0; run < 5; run++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            sink += Lookups(tlb);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, least);
        Assert.True(sink > 0);

        static long Lookups(IoTlb tlb)
        {
            long found = 0;
            for (int i = 0; i < 10_000; i++)
            {
                found += tlb.TryLookup(Source, NoPasid, (ulong)(i & 127) << 12, out IotlbEntry e) ? (long)e.PageFrame : 0;
            }

            return found;
        }
    }

    [Fact]
    public void StatisticsCountEachKind()
    {
        var tlb = new IoTlb(64);
        var entry = new IotlbEntry(0x5000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        tlb.Insert(Source, NoPasid, 0x1000, 0, entry, tlb.BeginFill());
        tlb.TryLookup(Source, NoPasid, 0x1000, out _);
        tlb.TryLookup(Source, NoPasid, 0x2000, out _);
        tlb.InvalidateAll();
        tlb.InvalidateDomain(1);
        tlb.InvalidatePagesInDomain(1, 0, 0);
        tlb.InvalidatePagesInDomain(1, 0, 12);
        tlb.InvalidatePasid(1, 1);
        tlb.InvalidatePagesInPasid(1, 1, 0, 0);

        IotlbStatistics stats = tlb.ReadStatistics();
        Assert.Equal(1, stats.Hits);
        Assert.Equal(1, stats.Misses);
        Assert.Equal(1, stats.Inserts);
        Assert.Equal(1, stats.GlobalInvalidations);
        Assert.Equal(2, stats.DomainInvalidations); // one asked for, one widened from AM=12
        Assert.Equal(1, stats.DomainPageInvalidations);
        Assert.Equal(1, stats.WidenedInvalidations);
        Assert.Equal(1, stats.PasidInvalidations);
        Assert.Equal(1, stats.PasidPageInvalidations);
    }

    [Fact]
    public void CountersLoseNoLookupWhenThreadsAndIotlbsInterleave()
    {
        // Each thread counts in its own block, so even with more threads than processors and every thread
        // alternating between two IOTLBs, the sums are exact once the threads have finished.
        const int Threads = 8;
        const int LookupsPerIotlb = 20_000;
        IoTlb[] tlbs = [new IoTlb(64), new IoTlb(64)];
        var entry = new IotlbEntry(0x5000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        foreach (IoTlb tlb in tlbs)
        {
            tlb.Insert(Source, NoPasid, 0x1000, 0, entry, tlb.BeginFill());
        }

        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(worker => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < LookupsPerIotlb; i++)
            {
                foreach (IoTlb tlb in tlbs)
                {
                    tlb.TryLookup(Source, NoPasid, (i & 1) == 0 ? 0x1000UL : 0x2000UL, out _);
                }
            }
        })).ToArray();
        Array.ForEach(workers, w => w.Start());
        Array.ForEach(workers, w => w.Join());

        foreach (IoTlb tlb in tlbs)
        {
            IotlbStatistics stats = tlb.ReadStatistics();
            Assert.Equal(Threads * LookupsPerIotlb / 2, stats.Hits);
            Assert.Equal(Threads * LookupsPerIotlb / 2, stats.Misses);
        }
    }

    [Fact]
    public void ConflictingFillsEvictRoundRobin()
    {
        var tlb = new IoTlb(64);
        var entry = new IotlbEntry(0x5000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        for (int i = 0; i < 1000; i++)
        {
            tlb.Insert((ushort)i, NoPasid, 0x1000, 0, entry, tlb.BeginFill());
        }

        IotlbStatistics stats = tlb.ReadStatistics();
        Assert.Equal(1000, stats.Inserts);
        Assert.True(stats.Evictions >= 1000 - 32, $"{stats.Evictions} evictions"); // one page: a group of 4 sets x 8 ways
        Assert.True(tlb.TryLookup(999, NoPasid, 0x1000, out _));
    }

    /// <summary>
    /// A fill into a full set takes a way an invalidation killed before it evicts a live one, even when the set was
    /// last found all live (the liveness hint must not outlive the invalidation).
    /// </summary>
    [Fact]
    public void AFillTakesADeadWayBeforeEvictingALiveOne()
    {
        const int GroupWays = IoTlb.GroupSize * 8;
        const int Fills = 200;
        var tlb = new IoTlb(64);
        var old = new IotlbEntry(0x5000, PageSize.Size4K, CachedRights.Read, Domain, CachedTranslationType.SecondStage);
        for (int i = 0; i < Fills; i++)
        {
            tlb.Insert((ushort)i, NoPasid, 0x1000, 0, old, tlb.BeginFill());
        }

        Assert.Equal(Fills - GroupWays, tlb.ReadStatistics().Evictions); // one page: every set of its group full and live

        tlb.InvalidateDomain(Domain);
        var fresh = new IotlbEntry(0x6000, PageSize.Size4K, CachedRights.Read, Domain + 1, CachedTranslationType.SecondStage);
        for (int i = 0; i < 8; i++) // at most 8 per set, so no set runs out of dead ways
        {
            tlb.Insert((ushort)(Fills + i), NoPasid, 0x1000, 0, fresh, tlb.BeginFill());
        }

        Assert.Equal(Fills - GroupWays, tlb.ReadStatistics().Evictions);
        for (int i = 0; i < 8; i++)
        {
            Assert.True(tlb.TryLookup((ushort)(Fills + i), NoPasid, 0x1000, out _));
        }
    }
}
