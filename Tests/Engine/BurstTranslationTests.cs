using VtdEngine.Tables;

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
}
