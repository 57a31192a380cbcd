using VtdEngine.Ownership;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Docs;

/// <summary>The README's examples, kept compiling and true.</summary>
[Trait("Category", "Docs")]
public class ReadmeExampleTests
{
    [Fact]
    public void TheLowLevelEmbeddingExampleTranslatesAsDocumented()
    {
        var memory = new SparsePhysicalMemory(1UL << 30);
        var frames = new FrameAllocator(memory, 512UL << 20, 64UL << 20);
        ulong root = frames.Allocate(), contexts = frames.Allocate(), directory = frames.Allocate(), pasids = frames.Allocate();
        ulong pml4 = frames.Allocate(), pdpt = frames.Allocate();
        ScalableModeRootEntry.Create(contexts, 0).Write(memory, root, bus: 0x03);
        ScalableModeContextEntry.Create(directory, pasidDirectorySize: 0).Write(memory, contexts, devfn: 0x10);
        PasidDirectoryEntry.Create(pasids).Write(memory, directory, pasid: 0);
        PasidTableEntry.FirstStage(domainId: 1, pml4).Write(memory, pasids, pasid: 0);
        memory.Write64(pml4, FirstStageEntry.Table(pdpt).Value);
        memory.Write64(pdpt, FirstStageEntry.Leaf(0x4000_0000, PageSize.Size1G).Value);

        var unit = new TranslationUnit(memory);
        unit.SetRootTable(root, RootTableMode.Scalable);
        unit.TranslationEnabled = true;
        var request = new DmaRequest(DmaRequest.MakeSourceId(0x03, 2, 0), 0x1234, AccessKind.Write);
        var result = unit.Translate(request);

        Assert.Equal(0x4000_1234UL, result.Address);
        Assert.Equal(FaultReason.None, result.Fault);
        Assert.Contains("FS level-3 entry", unit.Trace(request).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TheOwnershipExampleTranslatesAsDocumented()
    {
        var memory = new SparsePhysicalMemory(256UL << 20);
        var frames = new FrameAllocator(memory, 16UL << 20, 16UL << 20);
        var driver = new IommuDriver();
        var iommu = driver.AddUnit(new TranslationUnit(memory), frames);

        var nic = iommu.ProbeDevice(DmaRequest.MakeSourceId(3, 0, 0), new DeviceOptions { PasidWidth = 8, Ats = true });
        var domain = driver.CreatePagingDomain(iommu);
        domain.Map(iova: 0x20_0000, physical: 64UL << 20, length: 0x40_0000, IommuPermissions.ReadWrite);
        driver.AttachDevice(domain, nic);

        var result = iommu.Unit.Translate(new DmaRequest(nic.SourceId, 0x20_0040, AccessKind.Write));
        Assert.Equal((64UL << 20) + 0x40, result.Address);

        driver.AttachDevicePasid(driver.CreatePagingDomain(iommu), nic, pasid: 5);
        Assert.Equal(0x40_0000UL, domain.Unmap(0x20_0000, 0x40_0000));
        Assert.Equal(TranslationStatus.Fault, iommu.Unit.Translate(new DmaRequest(nic.SourceId, 0x20_0040, AccessKind.Write)).Status);
        driver.DetachDevice(domain, nic);
    }
}
