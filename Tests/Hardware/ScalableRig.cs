using VtdEngine.Hardware;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Hardware;

/// <summary>
/// A booted scalable-mode unit with one device (03:02.0) whose RID_PASID entry uses a 4-level second-stage table,
/// built with the Tables structs the way the Linux driver lays them out.
/// </summary>
internal sealed class ScalableRig
{
    public const ushort Sid = 0x0310; // 03:02.0
    public const ushort DomainId = 7;

    public ScalableRig(CapabilityProfile? profile = null, bool splitWrites = false, bool boot = true)
    {
        Memory = new SparsePhysicalMemory(64UL << 20);
        Frames = new FrameAllocator(Memory, 16UL << 20, 48UL << 20);
        Hardware = new RemappingHardwareUnit(Memory, profile);
        Hardware.Unit.Invalidated += Executed.Add;
        Driver = new GuestDriver(Hardware, Frames, splitWrites);
        Root = Frames.Allocate();
        ContextTable = Frames.Allocate();
        PasidDirectory = Frames.Allocate();
        PasidTable = Frames.Allocate();
        SecondStageRoot = Frames.Allocate();
        ScalableModeRootEntry.Create(ContextTable, 0).Write(Memory, Root, Sid >> 8);
        ScalableModeContextEntry.Create(PasidDirectory, pasidDirectorySize: 0, pasidEnable: true, ridPasid: 0)
            .Write(Memory, ContextTable, unchecked((byte)Sid));
        PasidDirectoryEntry.Create(PasidTable).Write(Memory, PasidDirectory, 0);
        PasidTableEntry.SecondStage(DomainId, SecondStageRoot, addressWidth: 2).Write(Memory, PasidTable, 0);
        if (boot)
        {
            Boot();
        }
    }

    public SparsePhysicalMemory Memory { get; }

    public FrameAllocator Frames { get; }

    public RemappingHardwareUnit Hardware { get; }

    public GuestDriver Driver { get; }

    public List<InvalidationRequest> Executed { get; } = [];

    public ulong Root { get; }

    public ulong ContextTable { get; }

    public ulong PasidDirectory { get; }

    public ulong PasidTable { get; }

    public ulong SecondStageRoot { get; }

    /// <summary>The Linux order: RTADDR(TTM=01) + SRTP, QI (DW=1), global cc/pc/iotlb flush, TE.</summary>
    public void Boot()
    {
        Driver.SetRootEntry(Root, RootTableMode.Scalable);
        Driver.EnableQueuedInvalidation(wide: true);
        Assert.True(Driver.Submit(InvalidationRequest.ContextCacheGlobal(), InvalidationRequest.PasidCacheGlobal(),
            InvalidationRequest.IotlbGlobal()));
        Driver.EnableTranslation();
    }

    /// <summary>Maps one 4 KiB page in the second-stage table (allocating intermediate tables).</summary>
    public ulong LeafSlot(ulong iova)
    {
        var table = SecondStageRoot;
        for (var level = 4; level > 1; level--)
        {
            var slot = table + ((ulong)PageTableGeometry.LevelIndex(iova, level) * 8);
            var entry = new SecondStageEntry(Memory.Read64(slot));
            if (!entry.Present)
            {
                entry = SecondStageEntry.Table(Frames.Allocate());
                Memory.Write64(slot, entry.Value);
            }
            table = entry.Address(level, 52);
        }
        return table + ((ulong)PageTableGeometry.LevelIndex(iova, 1) * 8);
    }

    public void Map(ulong iova, ulong frame, bool writable = true) =>
        Memory.Write64(LeafSlot(iova), SecondStageEntry.Leaf(frame, PageSize.Size4K, writable: writable).Value);
}
