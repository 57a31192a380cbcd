using VtdEngine.Tables;

namespace VtdEngine.Tests.Engine;

[Trait("Category", "Caches")]
public class TranslationCacheTests
{
    private const ushort Sid = 0x0108;

    private sealed class Rig
    {
        public SparsePhysicalMemory Memory { get; } = new(64UL << 20);
        public FrameAllocator Frames { get; }
        public TranslationUnit Unit { get; }
        public ulong PasidTable { get; }
        public ulong ContextTable { get; }
        public ulong Directory { get; }

        public Rig()
        {
            Frames = new FrameAllocator(Memory, 16UL << 20, 48UL << 20);
            var root = Frames.Allocate();
            ContextTable = Frames.Allocate();
            Directory = Frames.Allocate();
            PasidTable = Frames.Allocate();
            ScalableModeRootEntry.Create(ContextTable, 0).Write(Memory, root, Sid >> 8);
            ScalableModeContextEntry.Create(Directory, 0).Write(Memory, ContextTable, unchecked((byte)Sid));
            PasidDirectoryEntry.Create(PasidTable).Write(Memory, Directory, 0);
            Unit = new TranslationUnit(Memory);
            Unit.SetRootTable(root, RootTableMode.Scalable);
            Unit.TranslationEnabled = true;
        }

        public TranslationResult Read(ulong address, uint pasid = DmaRequest.NoPasid) =>
            Unit.Translate(new DmaRequest(Sid, address, AccessKind.Read, pasid));
    }

    [Fact]
    public void PasidCacheServesTheOldEntryUntilPasidSelectiveInvalidation()
    {
        var rig = new Rig();
        PasidTableEntry.PassThroughTranslation(3).Write(rig.Memory, rig.PasidTable, 0);
        var first = rig.Read(0x5000);
        Assert.True(first.IsSuccess);
        Assert.True(first.TableReads > 0);

        PasidTableEntry.Clear(rig.Memory, rig.PasidTable, 0);
        var stale = rig.Read(0x6000);
        Assert.True(stale.IsSuccess, "without invalidation the cached PASID entry may still be used");
        Assert.Equal(0, stale.TableReads);

        // VT-d Table 28: PASID-selective PASID-cache invalidation, then the PASID's IOTLB entries.
        rig.Unit.Invalidate(InvalidationRequest.PasidCachePasid(3, 0));
        Assert.Equal(FaultReason.SptNotPresent, rig.Read(0x7000).Fault);
        Assert.True(rig.Read(0x5000).IsSuccess, "a PASID-cache invalidation leaves the IOTLB alone");
        rig.Unit.Invalidate(InvalidationRequest.PasidIotlb(3, 0));
        Assert.Equal(FaultReason.SptNotPresent, rig.Read(0x5000).Fault);
    }

    [Fact]
    public void DeviceSelectiveContextInvalidationHonoursTheFunctionMask()
    {
        var rig = new Rig();
        PasidTableEntry.PassThroughTranslation(3).Write(rig.Memory, rig.PasidTable, 0);
        Assert.True(rig.Read(0x1000).IsSuccess);
        var context = ScalableModeContextEntry.Create(rig.Directory, 0) with { Q0 = 0 };
        context.Write(rig.Memory, rig.ContextTable, unchecked((byte)Sid));
        // Each read below uses a fresh page, so the IOTLB misses and the context cache decides.
        rig.Unit.Invalidate(InvalidationRequest.PasidCacheGlobal());
        Assert.True(rig.Read(0x2000).IsSuccess, "the context cache still holds the old entry");
        rig.Unit.Invalidate(InvalidationRequest.ContextCacheDevice(0, 0x0110, functionMask: 3));
        Assert.True(rig.Read(0x3000).IsSuccess, "another device's invalidation leaves this one cached");

        // Masking all three function bits of 01:01.7 covers 01:01.0.
        rig.Unit.Invalidate(InvalidationRequest.ContextCacheDevice(0, 0x010F, functionMask: 3));
        Assert.Equal(FaultReason.SctNotPresent, rig.Read(0x4000).Fault);
    }

    [Fact]
    public void AFaultIsNeverCached()
    {
        var rig = new Rig();
        Assert.Equal(FaultReason.SptNotPresent, rig.Read(0x1000).Fault);
        PasidTableEntry.PassThroughTranslation(3).Write(rig.Memory, rig.PasidTable, 0);
        Assert.True(rig.Read(0x1000).IsSuccess);
    }

    [Fact]
    public void TraceAlwaysWalksTheTables()
    {
        var rig = new Rig();
        PasidTableEntry.PassThroughTranslation(3).Write(rig.Memory, rig.PasidTable, 0);
        rig.Read(0x1000);
        var trace = rig.Unit.Trace(new DmaRequest(Sid, 0x1000, AccessKind.Read));
        Assert.Equal(4, trace.Steps.Count);
        Assert.Equal(4, trace.Result.TableReads);
    }
}
