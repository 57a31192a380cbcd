using VtdEngine.Tables;

namespace VtdEngine.Tests.Engine;

[Trait("Category", "Caches")]
public class TranslationPortTests
{
    [Fact]
    public void APortTranslatesExactlyAsTheUnitAndCountsForItself()
    {
        const ushort sid = 0x0600;
        var memory = new SparsePhysicalMemory(64UL << 20);
        var frames = new FrameAllocator(memory, 16UL << 20, 16UL << 20);
        ulong root = frames.Allocate(), contexts = frames.Allocate(), directory = frames.Allocate(), pasids = frames.Allocate();
        ulong pml4 = frames.Allocate(), pdpt = frames.Allocate();
        ScalableModeRootEntry.Create(contexts, 0).Write(memory, root, sid >> 8);
        ScalableModeContextEntry.Create(directory, 0).Write(memory, contexts, 0);
        PasidDirectoryEntry.Create(pasids).Write(memory, directory, 0);
        memory.Write64(pml4, FirstStageEntry.Table(pdpt).Value);
        memory.Write64(pdpt, FirstStageEntry.Leaf(0x4000_0000, PageSize.Size1G, writable: false).Value);
        PasidTableEntry.FirstStage(2, pml4).Write(memory, pasids, 0);
        var unit = new TranslationUnit(memory);
        unit.SetRootTable(root, RootTableMode.Scalable);
        unit.TranslationEnabled = true;
        var port = unit.OpenPort();

        DmaRequest[] requests =
        [
            new(sid, 0x1000, AccessKind.Read), new(sid, 0x1000, AccessKind.Read), new(sid, 0x2000, AccessKind.Write),
            new(sid, 0x8000_0000, AccessKind.Read), new(sid, 0xFEE0_0000, AccessKind.Write),
        ];
        var before = unit.ReadStatistics();
        foreach (var request in requests)
        {
            var viaPort = port.Translate(request);
            var viaUnit = unit.Translate(request);
            Assert.Equal(viaUnit.Status, viaPort.Status);
            Assert.Equal(viaUnit.Address, viaPort.Address);
            Assert.Equal(viaUnit.Fault, viaPort.Fault);
        }
        var burst = new TranslationResult[requests.Length];
        port.Translate(requests, burst);
        Assert.Equal(0x4000_1000UL, burst[1].Address);
        Assert.Equal(FaultReason.SgnNoWrite, burst[2].Fault);

        var after = unit.ReadStatistics();
        Assert.True(after.IotlbHits - before.IotlbHits >= 4, after.ToString());
        Assert.True(after.IotlbMisses - before.IotlbMisses >= 2, after.ToString());
    }

    [Fact]
    public void APortDoesNotServeAPasidWiderThanTwentyBitsFromTheIotlb()
    {
        const ushort sid = 0x0610;
        var memory = new SparsePhysicalMemory(64UL << 20);
        var frames = new FrameAllocator(memory, 16UL << 20, 16UL << 20);
        ulong root = frames.Allocate(), contexts = frames.Allocate(), directory = frames.Allocate(), pasids = frames.Allocate();
        ScalableModeRootEntry.Create(contexts, 0).Write(memory, root, sid >> 8);
        ScalableModeContextEntry.Create(directory, 0, ridPasid: 1).Write(memory, contexts, 0x10);
        PasidDirectoryEntry.Create(pasids).Write(memory, directory, 0);
        PasidTableEntry.PassThroughTranslation(3).Write(memory, pasids, 0);
        var unit = new TranslationUnit(memory);
        unit.SetRootTable(root, RootTableMode.Scalable);
        unit.TranslationEnabled = true;
        var port = unit.OpenPort();

        Assert.True(port.Translate(new DmaRequest(sid, 0x5000, AccessKind.Read, pasid: 0)).IsSuccess);   // fills the IOTLB
        // 0x100000 & 0xFFFFF == 0: a key that dropped the high bit would hit PASID 0's entry.
        Assert.Equal(FaultReason.SgnPasidBeyondPss, port.Translate(new DmaRequest(sid, 0x5000, AccessKind.Read, pasid: 0x100000)).Fault);
        var burst = new TranslationResult[1];
        port.Translate([new DmaRequest(sid, 0x5000, AccessKind.Read, pasid: 0x100000)], burst);
        Assert.Equal(FaultReason.SgnPasidBeyondPss, burst[0].Fault);
    }
}
