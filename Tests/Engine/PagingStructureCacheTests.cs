using VtdEngine.Tables;

namespace VtdEngine.Tests.Engine;

[Trait("Category", "Caches")]
public class PagingStructureCacheTests
{
    private const ushort Sid = 0x0200;
    private const ushort Did = 9;

    /// <summary>A second-stage (or first-stage) 4-level table mapping 512 4 KiB pages at IOVA 0 through one level-1 table.</summary>
    private sealed class Rig
    {
        public SparsePhysicalMemory Memory { get; } = new(64UL << 20);
        public TranslationUnit Unit { get; }
        public ulong LevelOne { get; }
        public ulong LevelTwo { get; }

        public Rig(bool firstStage)
        {
            var frames = new FrameAllocator(Memory, 16UL << 20, 16UL << 20);
            ulong root = frames.Allocate(), contexts = frames.Allocate(), directory = frames.Allocate(), pasids = frames.Allocate();
            ulong l4 = frames.Allocate(), l3 = frames.Allocate();
            LevelTwo = frames.Allocate();
            LevelOne = frames.Allocate();
            ScalableModeRootEntry.Create(contexts, 0).Write(Memory, root, Sid >> 8);
            ScalableModeContextEntry.Create(directory, 0).Write(Memory, contexts, 0);
            PasidDirectoryEntry.Create(pasids).Write(Memory, directory, 0);
            if (firstStage)
            {
                Memory.Write64(l4, FirstStageEntry.Table(l3).Value);
                Memory.Write64(l3, FirstStageEntry.Table(LevelTwo).Value);
                Memory.Write64(LevelTwo, FirstStageEntry.Table(LevelOne).Value);
                for (var i = 0; i < 512; i++)
                {
                    Memory.Write64(LevelOne + ((ulong)i * 8), FirstStageEntry.Leaf(0x100_0000UL + ((ulong)i << 12), PageSize.Size4K).Value);
                }
                PasidTableEntry.FirstStage(Did, l4).Write(Memory, pasids, 0);
            }
            else
            {
                Memory.Write64(l4, SecondStageEntry.Table(l3).Value);
                Memory.Write64(l3, SecondStageEntry.Table(LevelTwo).Value);
                Memory.Write64(LevelTwo, SecondStageEntry.Table(LevelOne).Value);
                for (var i = 0; i < 512; i++)
                {
                    Memory.Write64(LevelOne + ((ulong)i * 8), SecondStageEntry.Leaf(0x100_0000UL + ((ulong)i << 12), PageSize.Size4K).Value);
                }
                PasidTableEntry.SecondStage(Did, l4, addressWidth: 2).Write(Memory, pasids, 0);
            }
            Unit = new TranslationUnit(Memory);
            Unit.SetRootTable(root, RootTableMode.Scalable);
            Unit.TranslationEnabled = true;
        }

        public TranslationResult Write(int page) => Unit.Translate(new DmaRequest(Sid, (ulong)page << 12, AccessKind.Write));

        /// <summary>Points the level-2 entry at a copy of the level-1 table whose pages are shifted by 16 MiB.</summary>
        public void MoveLevelOne(bool firstStage)
        {
            var copy = LevelOne + (1UL << 20);
            for (var i = 0; i < 512; i++)
            {
                var frame = 0x200_0000UL + ((ulong)i << 12);
                Memory.Write64(copy + ((ulong)i * 8), firstStage
                    ? FirstStageEntry.Leaf(frame, PageSize.Size4K).Value
                    : SecondStageEntry.Leaf(frame, PageSize.Size4K).Value);
            }
            Memory.Write64(LevelTwo, firstStage ? FirstStageEntry.Table(copy).Value : SecondStageEntry.Table(copy).Value);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AMissInAWarmRegionReadsOnlyTheLeaf(bool firstStage)
    {
        var rig = new Rig(firstStage);
        Assert.Equal(8, rig.Write(0).TableReads);      // root, context, PASID dir, PASID entry, 4 levels
        var warm = rig.Write(1);                       // another page: IOTLB miss, every other cache warm
        Assert.True(warm.IsSuccess);
        Assert.Equal(0x100_1000UL, warm.Address);
        Assert.Equal(1, warm.TableReads);
        Assert.Equal(0, rig.Write(1).TableReads);      // and now an IOTLB hit
    }

    [Fact]
    public void SecondStagePageInvalidationWithIhKeepsTheCachedTableAndWithoutIhDropsIt()
    {
        var rig = new Rig(firstStage: false);
        rig.Write(0);
        rig.MoveLevelOne(firstStage: false);
        // IH=1 says only leaves changed: the cached level-1 table may still be used (VT-d Table 23).
        rig.Unit.Invalidate(InvalidationRequest.IotlbPage(Did, 0x2000, 0, invalidationHint: true));
        Assert.Equal(0x100_2000UL, rig.Write(2).Address);
        rig.Unit.Invalidate(InvalidationRequest.IotlbPage(Did, 0x3000, 0, invalidationHint: false));
        var moved = rig.Write(3);
        Assert.Equal(0x200_3000UL, moved.Address);
        Assert.Equal(4, moved.TableReads);
    }

    [Fact]
    public void FirstStagePageInvalidationInTheDomainDropsFirstStageTablesEvenWithIh()
    {
        var rig = new Rig(firstStage: true);
        rig.Write(0);
        rig.MoveLevelOne(firstStage: true);
        // Table 23: a page-selective IOTLB invalidation drops every first-stage paging-structure entry of the DID.
        rig.Unit.Invalidate(InvalidationRequest.IotlbPage(Did, 0x7000, 0, invalidationHint: true));
        Assert.Equal(0x200_2000UL, rig.Write(2).Address);
    }

    [Fact]
    public void PasidPageInvalidationWithIhKeepsFirstStageTablesAndPasidSelectiveDropsThem()
    {
        var rig = new Rig(firstStage: true);
        rig.Write(0);
        rig.MoveLevelOne(firstStage: true);
        rig.Unit.Invalidate(InvalidationRequest.PasidIotlbPage(Did, 0, 0x2000, 0, invalidationHint: true));
        Assert.Equal(0x100_2000UL, rig.Write(2).Address);
        rig.Unit.Invalidate(InvalidationRequest.PasidIotlb(Did, 0));
        Assert.Equal(0x200_3000UL, rig.Write(3).Address);
    }
}
