using VtdEngine.Tables;

namespace VtdEngine.Tests.Engine;

[Trait("Category", "Walker")]
public class WalkerSmokeTests
{
    private const ushort Sid = 0x0310; // 03:02.0

    private static (SparsePhysicalMemory Memory, FrameAllocator Frames, TranslationUnit Unit, ulong PasidTable) ScalableUnit()
    {
        var memory = new SparsePhysicalMemory(64UL << 20);
        var frames = new FrameAllocator(memory, 16UL << 20, 48UL << 20);
        var root = frames.Allocate();
        var contextTable = frames.Allocate();
        var directory = frames.Allocate();
        var pasidTable = frames.Allocate();
        ScalableModeRootEntry.Create(contextTable, 0).Write(memory, root, Sid >> 8);
        ScalableModeContextEntry.Create(directory, pasidDirectorySize: 0, ridPasid: 0).Write(memory, contextTable, unchecked((byte)Sid));
        PasidDirectoryEntry.Create(pasidTable).Write(memory, directory, 0);
        var unit = new TranslationUnit(memory);
        unit.SetRootTable(root, RootTableMode.Scalable);
        unit.TranslationEnabled = true;
        return (memory, frames, unit, pasidTable);
    }

    [Fact]
    public void SecondStageFourLevelMapsA4KPage()
    {
        var (memory, frames, unit, pasidTable) = ScalableUnit();
        var l4 = frames.Allocate();
        var l3 = frames.Allocate();
        var l2 = frames.Allocate();
        var l1 = frames.Allocate();
        const ulong iova = 0x1234_5678_9000;
        memory.Write64(l4 + ((ulong)PageTableGeometry.LevelIndex(iova, 4) * 8), SecondStageEntry.Table(l3).Value);
        memory.Write64(l3 + ((ulong)PageTableGeometry.LevelIndex(iova, 3) * 8), SecondStageEntry.Table(l2).Value);
        memory.Write64(l2 + ((ulong)PageTableGeometry.LevelIndex(iova, 2) * 8), SecondStageEntry.Table(l1).Value);
        memory.Write64(l1 + ((ulong)PageTableGeometry.LevelIndex(iova, 1) * 8), SecondStageEntry.Leaf(0xABC000, PageSize.Size4K, writable: false).Value);
        PasidTableEntry.SecondStage(7, l4, addressWidth: 2).Write(memory, pasidTable, 0);

        var read = unit.Translate(new DmaRequest(Sid, iova + 0x12, AccessKind.Read));
        Assert.Equal(TranslationStatus.Success, read.Status);
        Assert.Equal(0xABC012UL, read.Address);
        Assert.Equal(7, read.DomainId);
        Assert.Equal(8, read.TableReads);

        var write = unit.Translate(new DmaRequest(Sid, iova, AccessKind.Write));
        Assert.Equal(FaultReason.SgnNoWrite, write.Fault);
        Assert.True(write.IsRecordable);
    }

    [Fact]
    public void FirstStageSetsAccessedAndDirtyAndChecksUserBit()
    {
        var (memory, frames, unit, pasidTable) = ScalableUnit();
        var pml4 = frames.Allocate();
        var pdpt = frames.Allocate();
        const ulong iova = 0x4000_0000; // PML4 0, PDPT 1
        memory.Write64(pml4, FirstStageEntry.Table(pdpt).Value);
        memory.Write64(pdpt + 8, FirstStageEntry.Leaf(0x8000_0000, PageSize.Size1G).Value);
        PasidTableEntry.FirstStage(9, pml4).Write(memory, pasidTable, 0);

        var result = unit.Translate(new DmaRequest(Sid, iova + 0x1234_5678, AccessKind.Write));
        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(0x8000_0000UL + 0x1234_5678, result.Address);
        Assert.Equal(PageSize.Size1G, result.PageSize);
        var leaf = new FirstStageEntry(memory.Read64(pdpt + 8));
        Assert.True(leaf.Accessed && leaf.Dirty);
        Assert.True(new FirstStageEntry(memory.Read64(pml4)).Accessed);

        memory.Write64(pdpt + 8, FirstStageEntry.Leaf(0x8000_0000, PageSize.Size1G, user: false).Value);
        Assert.Equal(FaultReason.SgnUserSupervisor, unit.Translate(new DmaRequest(Sid, iova, AccessKind.Read)).Fault);
        var trace = unit.Trace(new DmaRequest(Sid, iova, AccessKind.Read));
        Assert.Equal(6, trace.Steps.Count);
        Assert.Equal(FaultReason.SgnUserSupervisor, trace.Result.Fault);
        Assert.Contains("FS level-3 entry", trace.ToString(), StringComparison.Ordinal);
    }
}

[Trait("Category", "Walker")]
public class InterruptWindowTranslationRequestTests
{
    [Theory]
    [InlineData(RootTableMode.Scalable)]
    [InlineData(RootTableMode.Legacy)]
    public void AnAtsRequestWithoutPasidToTheInterruptWindowCompletesWithWriteOnly(RootTableMode mode)
    {
        var memory = new SparsePhysicalMemory(64UL << 20);
        var frames = new FrameAllocator(memory, 16UL << 20, 16UL << 20);
        ulong root = frames.Allocate(), contexts = frames.Allocate(), directory = frames.Allocate();
        if (mode == RootTableMode.Scalable)
        {
            ScalableModeRootEntry.Create(contexts, 0).Write(memory, root, 0);
            ScalableModeContextEntry.Create(directory, 0, deviceTlbEnable: true).Write(memory, contexts, 8);
        }
        else
        {
            RootEntry.Create(contexts).Write(memory, root, 0);
            ContextEntry.Create(1, 2, frames.Allocate(), TranslationType.UntranslatedWithDeviceTlb).Write(memory, contexts, 8);
        }
        var unit = new TranslationUnit(memory);
        unit.SetRootTable(root, mode);
        unit.TranslationEnabled = true;

        var result = unit.Translate(new DmaRequest(0x0008, 0xFEE0_1000, AccessKind.Write, addressType: AddressType.TranslationRequest));

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(0xFEE0_1000UL, result.Address);
        Assert.Equal(AccessRights.Write | AccessRights.User, result.Rights);
        // The same address as an untranslated write is an interrupt, not DMA.
        Assert.Equal(TranslationStatus.Interrupt, unit.Translate(new DmaRequest(0x0008, 0xFEE0_1000, AccessKind.Write)).Status);
    }
}
