using CsCheck;
using VtdEngine.Tables;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Tests.Engine;

[Trait("Category", "Caches")]
public class BurstTranslationTests
{
    private const ushort Sid = 0x0500;

    private static (TranslationUnit Unit, SparsePhysicalMemory Memory, ulong LevelOne) ReadOnlyPageUnit()
    {
        var memory = new SparsePhysicalMemory(64UL << 20);
        var frames = new FrameAllocator(memory, 16UL << 20, 16UL << 20);
        ulong root = frames.Allocate(), contexts = frames.Allocate(), directory = frames.Allocate(), pasids = frames.Allocate();
        ulong l4 = frames.Allocate(), l3 = frames.Allocate(), l2 = frames.Allocate(), l1 = frames.Allocate();
        ScalableModeRootEntry.Create(contexts, 0).Write(memory, root, Sid >> 8);
        ScalableModeContextEntry.Create(directory, 0).Write(memory, contexts, 0);
        PasidDirectoryEntry.Create(pasids).Write(memory, directory, 0);
        memory.Write64(l4, SecondStageEntry.Table(l3).Value);
        memory.Write64(l3, SecondStageEntry.Table(l2).Value);
        memory.Write64(l2, SecondStageEntry.Table(l1).Value);
        memory.Write64(l1, SecondStageEntry.Leaf(0x300_0000, PageSize.Size4K, writable: false).Value);
        memory.Write64(l1 + 8, SecondStageEntry.Leaf(0x301_0000, PageSize.Size4K).Value);
        PasidTableEntry.SecondStage(4, l4, addressWidth: 2).Write(memory, pasids, 0);
        var unit = new TranslationUnit(memory);
        unit.SetRootTable(root, RootTableMode.Scalable);
        unit.TranslationEnabled = true;
        return (unit, memory, l1);
    }

    [Fact]
    public void ARequestReusingThePreviousEntryStillGetsItsOwnPermissionCheck()
    {
        var (unit, _, _) = ReadOnlyPageUnit();
        DmaRequest[] burst =
        [
            new(Sid, 0x10, AccessKind.Read),
            new(Sid, 0x20, AccessKind.Read),
            new(Sid, 0x30, AccessKind.Write),     // same page, read-only: must fault, not reuse
            new(Sid, 0x1040, AccessKind.Write),
            new(Sid, 0x1080, AccessKind.Atomic),
        ];
        var results = new TranslationResult[burst.Length];
        unit.Translate(burst, results);

        Assert.Equal(0x300_0010UL, results[0].Address);
        Assert.Equal(0x300_0020UL, results[1].Address);
        Assert.Equal(0, results[1].TableReads);
        Assert.Equal(FaultReason.SgnNoWrite, results[2].Fault);
        Assert.Equal(0x301_0040UL, results[3].Address);
        Assert.Equal(0x301_0080UL, results[4].Address);
        for (var i = 0; i < burst.Length; i++)
        {
            var single = unit.Translate(burst[i]);
            Assert.Equal(single.Status, results[i].Status);
            Assert.Equal(single.Address, results[i].Address);
            Assert.Equal(single.Fault, results[i].Fault);
        }
        var statistics = unit.ReadStatistics();
        Assert.True(statistics.IotlbHits >= 3, statistics.ToString());
        Assert.Equal(2, statistics.Faults); // the burst's write fault and the single replay's
    }

    /// <summary>
    /// A fault observer that remaps, invalidates and translates through the same port while a burst of that port is
    /// still running: the burst may finish with the entries it already had, but must not leave a copy of them behind in
    /// the generation the observer's call opened, or every later request of the port would get the old frame.
    /// </summary>
    [Fact]
    public void APortReEnteredFromAFaultObserverMidBurstKeepsNoCopyTheInvalidationOvertook()
    {
        var (unit, memory, l1) = ReadOnlyPageUnit();
        var port = unit.OpenPort();
        var handled = false;
        unit.FaultObserver = (_, _) =>
        {
            if (handled)
            {
                return;
            }
            handled = true;
            memory.Write64(l1 + 8, SecondStageEntry.Leaf(0x302_0000, PageSize.Size4K).Value);
            unit.Invalidate(InvalidationRequest.IotlbGlobal());
            port.Translate(new DmaRequest(Sid, 0x10, AccessKind.Read));
        };
        DmaRequest[] burst = [new(Sid, 0x1000, AccessKind.Read), new(Sid, 0x5000, AccessKind.Read), new(Sid, 0x1008, AccessKind.Read)];
        port.Translate(burst, new TranslationResult[burst.Length]);

        Assert.True(handled);
        Assert.Equal(0x302_0018UL, unit.Translate(new DmaRequest(Sid, 0x1018, AccessKind.Read)).Address);
        Assert.Equal(0x302_0018UL, port.Translate(new DmaRequest(Sid, 0x1018, AccessKind.Read)).Address);
        var results = new TranslationResult[1];
        port.Translate([new DmaRequest(Sid, 0x1020, AccessKind.Read)], results);
        Assert.Equal(0x302_0020UL, results[0].Address);
    }

    /// <summary>
    /// The unit, a port and a burst count alike: a cached entry whose rights do not settle the access (a write to a
    /// read-only page) walks and counts as a miss; a PASID wider than the IOTLB key walks uncounted.
    /// </summary>
    [Fact]
    public void EveryEntryPointCountsAPermissionWalkAsAMissAndAWidePasidNotAtAll()
    {
        DmaRequest[] requests = [new(Sid, 0x10, AccessKind.Read), new(Sid, 0x20, AccessKind.Read), new(Sid, 0x30, AccessKind.Write),
            new(Sid, 0x40, AccessKind.Read, pasid: 0x10_0000)];
        var counts = new List<(long Hits, long Misses)>();
        foreach (var entry in new[] { "unit", "port", "burst" })
        {
            var (unit, _, _) = ReadOnlyPageUnit();
            var port = unit.OpenPort();
            foreach (var request in requests)
            {
                if (entry == "burst")
                {
                    unit.Translate([request], new TranslationResult[1]);
                }
                else
                {
                    _ = entry == "unit" ? unit.Translate(request) : port.Translate(request);
                }
            }
            var statistics = unit.ReadStatistics();
            counts.Add((statistics.IotlbHits, statistics.IotlbMisses));
        }
        Assert.Equal([(1L, 2L), (1L, 2L), (1L, 2L)], counts);
    }

    [Fact]
    public void ABurstIssuedAfterAnInvalidationSeesIt()
    {
        var (unit, memory, l1) = ReadOnlyPageUnit();
        DmaRequest[] burst = [new(Sid, 0x1000, AccessKind.Read), new(Sid, 0x1008, AccessKind.Read)];
        var results = new TranslationResult[2];
        unit.Translate(burst, results);
        Assert.Equal(0x301_0008UL, results[1].Address);

        memory.Write64(l1 + 8, SecondStageEntry.Leaf(0x302_0000, PageSize.Size4K).Value);
        unit.Invalidate(InvalidationRequest.IotlbPage(4, 0x1000));
        unit.Translate(burst, results);
        Assert.Equal(0x302_0000UL, results[0].Address);
        Assert.Equal(0x302_0008UL, results[1].Address);
    }

    /// <summary>
    /// A NIC queue's view: a read-only 4 KiB descriptor page at IOVA 0, a writable 4 KiB completion page at 0x1000 and
    /// a writable 2 MiB buffer pool at 0x20_0000, all for (Sid, no PASID) in domain 4.
    /// </summary>
    private static TranslationUnit QueueUnit()
    {
        var (unit, memory, l1) = ReadOnlyPageUnit();
        var l2 = l1 - 0x1000; // ReadOnlyPageUnit allocates l2 just before l1
        Assert.Equal(SecondStageEntry.Table(l1).Value, memory.Read64(l2));
        memory.Write64(l2 + 8, SecondStageEntry.Leaf(0x4000_0000, PageSize.Size2M).Value);
        return unit;
    }

    [Fact]
    public void ABurstLooksUpEachPageOnceAndServesEveryFourKibInsideALargePageFromIt()
    {
        var unit = QueueUnit();
        const int Packets = 24;
        var burst = new List<DmaRequest>();
        for (var k = 0; k < Packets; k++)
        {
            burst.Add(new(Sid, (ulong)k * 16, AccessKind.Read));                       // descriptor
            burst.Add(new(Sid, 0x20_0000 + ((ulong)k * 0x1_0800), AccessKind.Write));   // buffer: a new 4 KiB page of the 2 MiB page each time
            burst.Add(new(Sid, 0x1000 + ((ulong)k * 16), AccessKind.Write));            // completion
        }
        // Warm the IOTLB: one walk per page (the writes set D), then one IOTLB lookup per page in the burst.
        foreach (var warm in new[] { burst[0], burst[1], burst[2] })
        {
            Assert.True(unit.Translate(warm).IsSuccess);
        }
        var before = unit.ReadStatistics();
        var lookupsBefore = unit.IotlbStatisticsForTest;

        var results = new TranslationResult[burst.Count];
        unit.Translate(burst.ToArray(), results);

        var after = unit.ReadStatistics();
        var lookupsAfter = unit.IotlbStatisticsForTest;
        Assert.Equal(before.Walks, after.Walks);
        Assert.Equal(3, lookupsAfter.Hits - lookupsBefore.Hits);
        Assert.Equal(0, lookupsAfter.Misses - lookupsBefore.Misses);
        Assert.Equal(burst.Count, after.IotlbHits - before.IotlbHits);
        for (var i = 0; i < burst.Count; i++)
        {
            var single = unit.Translate(burst[i]);
            Assert.Equal(TranslationStatus.Success, results[i].Status);
            Assert.Equal(single.Address, results[i].Address);
            Assert.Equal(single.PageSize, results[i].PageSize);
            Assert.Equal(single.Rights, results[i].Rights);
        }
        Assert.Equal(0x4000_0000UL + (23 * 0x1_0800), results[(23 * 3) + 1].Address);
    }

    [Fact]
    public void TheBurstWindowServesALargePageUntilTheRequesterChanges()
    {
        var unit = QueueUnit();
        Assert.True(unit.Translate(new DmaRequest(Sid, 0x20_0000, AccessKind.Read)).IsSuccess);
        DmaRequest[] burst =
        [
            new(Sid, 0x20_0000, AccessKind.Read),           // an IOTLB hit: remembered for the whole 2 MiB page
            new(Sid, 0x20_1000, AccessKind.Write),          // inside it: reused, no table read
            new(Sid, 0x20_2000, AccessKind.Atomic),
            new(Sid + 1, 0x20_3000, AccessKind.Read),       // another requester, no context entry: faults
            new(Sid, 0x20_4000, AccessKind.Read),           // back to Sid: the window was emptied, so this walks
            new(Sid, 0x20_5000, AccessKind.Read),           // the walk's fill went into the window: reused
        ];
        var results = new TranslationResult[burst.Length];
        unit.Translate(burst, results);

        Assert.Equal([0x4000_0000UL, 0x4000_1000UL, 0x4000_2000UL], results[..3].Select(r => r.Address));
        Assert.All(results[..3], r => Assert.Equal(0, r.TableReads));
        Assert.Equal(TranslationStatus.Fault, results[3].Status);
        Assert.Equal(0x4000_4000UL, results[4].Address);
        Assert.NotEqual(0, results[4].TableReads);
        Assert.Equal(0x4000_5000UL, results[5].Address);
        Assert.Equal(0, results[5].TableReads);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomBurstsAgreeWithSingleTranslations(int seed)
    {
        // Pages mapped 4 KiB read-only, 4 KiB writable, 2 MiB writable, and unmapped space, from two requesters (one
        // without a context entry), in random order: every burst result must be what a single translation gives.
        var unit = QueueUnit();
        var random = new Random(seed);
        ulong[] bases = [0x0, 0x1000, 0x20_0000, 0x30_0000, 0x40_0000, 0x2000];
        for (var round = 0; round < 50; round++)
        {
            var burst = new DmaRequest[random.Next(1, 80)];
            for (var i = 0; i < burst.Length; i++)
            {
                var address = bases[random.Next(bases.Length)] + (ulong)random.Next(0, 0x1000) * (random.Next(4) == 0 ? 0x1000UL : 1UL);
                burst[i] = new DmaRequest(random.Next(8) == 0 ? (ushort)(Sid + 1) : Sid, address, (AccessKind)random.Next(3));
            }
            var results = new TranslationResult[burst.Length];
            unit.Translate(burst, results);
            for (var i = 0; i < burst.Length; i++)
            {
                var single = unit.Translate(burst[i]);
                Assert.Equal((single.Status, single.Address, single.Fault, single.PageSize, single.Rights),
                    (results[i].Status, results[i].Address, results[i].Fault, results[i].PageSize, results[i].Rights));
            }
        }
    }

    [Fact]
    public void ALargePageWhoseOutputMeetsTheInterruptWindowIsServedOnlyPageByPage()
    {
        // 2 MiB at IOVA 0x40_0000 -> 0xFEE0_0000: its upper 1 MiB translates, its lower 1 MiB is the interrupt window
        // and faults (VT-d §3.15), so a success in one 4 KiB page must not answer for another.
        var (unit, memory, l1) = ReadOnlyPageUnit();
        memory.Write64(l1 - 0x1000 + 16, SecondStageEntry.Leaf(0xFEE0_0000, PageSize.Size2M).Value);
        Assert.True(unit.Translate(new DmaRequest(Sid, 0x50_0000, AccessKind.Read)).IsSuccess);
        DmaRequest[] burst = [new(Sid, 0x50_0000, AccessKind.Read), new(Sid, 0x50_1000, AccessKind.Read), new(Sid, 0x40_0000, AccessKind.Read)];
        var results = new TranslationResult[burst.Length];
        unit.Translate(burst, results);

        Assert.Equal(0xFEF0_0000UL, results[0].Address);
        Assert.Equal(0xFEF0_1000UL, results[1].Address);
        Assert.NotEqual(0, results[1].TableReads); // another 4 KiB page of that 2 MiB page walks
        Assert.Equal(FaultReason.SgnInterruptRange, results[2].Fault);
    }

    /// <summary>Through a port, the third pass is answered from its first-level TLB's copies.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WellFormedImagesTranslateTheSameInABurstAsOneByOne(bool throughPort) =>
        // Every PGTT, 4/5-level first stage, large pages, SRE/WPE/U-S, A/D updates, privileged requests with and
        // without PASID, ATS requests: the stream grouped by requester (so the burst window serves many requests) and
        // each request followed by a neighbour in its 2 MiB region, translated three times (cold, then warm).
        Gen.Int.Sample(seed =>
        {
            var random = new Random(seed);
            var image = TableImageGenerator.Generate(random);
            var stream = TableImageGenerator.Requests(image, random, 24)
                .SelectMany(r => new[] { r, new DmaRequest(r.SourceId, r.Address ^ ((ulong)random.Next(1 << 21) & ~0xFFFUL), r.Access, r.Pasid, r.Privileged, r.AddressType) })
                .OrderBy(r => ((ulong)r.SourceId << 32) | r.Pasid)
                .ToArray();
            var burstMemory = image.Memory.Clone();
            var single = image.CreateUnit();
            var burst = new TranslationUnit(burstMemory, image.Profile);
            burst.SetRootTable(single.RootTableAddress, single.Mode);
            burst.TranslationEnabled = single.TranslationEnabled;
            var port = burst.OpenPort();
            var results = new TranslationResult[stream.Length];
            for (var pass = 0; pass < 3; pass++)
            {
                if (throughPort)
                {
                    port.Translate(stream, results);
                }
                else
                {
                    burst.Translate(stream, results);
                }
                for (var i = 0; i < stream.Length; i++)
                {
                    var one = single.Translate(stream[i]);
                    Assert.True((one.Status, one.Address, one.Fault, one.PageSize, one.Rights, one.DomainId)
                        == (results[i].Status, results[i].Address, results[i].Fault, results[i].PageSize, results[i].Rights, results[i].DomainId),
                        $"seed {seed} pass {pass} #{i} {stream[i]}: one by one {one}, burst {results[i]}");
                }
            }
            foreach (var frame in image.Builder.Frames)
            {
                Assert.True(image.Memory.GetFrame(frame >> 12).SequenceEqual(burstMemory.GetFrame(frame >> 12)), $"seed {seed}: memory differs in frame 0x{frame:x}");
            }
        }, seed: "2bW9Kc1xQm0a", iter: 400, threads: 1);
}
