using VtdEngine.Tables;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Tests.Engine;

/// <summary>
/// The first-stage rules a PDE-cache copy must apply to its leaf as the walk does (VT-d §3.6.1): WPE for supervisor
/// writes, and U/S of the levels above the leaf. The leaves here already have A and D set, so the copy, not the A/D
/// update, decides; a copy that judged them loosely would grant what the walk denies, and its IOTLB fill would go on
/// granting it.
/// </summary>
[Trait("Category", "Caches")]
public class FirstStagePdeCopyTests
{
    private const ushort Sid = 0x0300;
    private const uint Pasid = 2;
    private const ushort Did = 7;
    private const ulong Warm = 0x40_0000;
    private const ulong Next = 0x40_1000;
    private const ulong Frame = 0x10_0000;

    public static TheoryData<bool> ViaPort => [false, true];

    [Theory]
    [MemberData(nameof(ViaPort))]
    public void ASupervisorWriteToAReadOnlyLeafOfAWarmRegionHonoursWpe(bool viaPort)
    {
        foreach (var writeProtect in new[] { true, false })
        {
            var (builder, root) = Setup(writeProtect);
            MapDirty(builder, root, Warm, Frame, writable: true);
            MapDirty(builder, root, Next, Frame + 0x1000, writable: false);
            var translate = Entry(builder.CreateUnit(), viaPort);

            Assert.True(translate(Request(Warm, AccessKind.Read, privileged: true)).IsSuccess);
            var write = translate(Request(Next + 8, AccessKind.Write, privileged: true));
            if (writeProtect)
            {
                Assert.Equal(FaultReason.SgnNoWrite, write.Fault);
            }
            else
            {
                Assert.Equal((TranslationStatus.Success, Frame + 0x1008), (write.Status, write.Address));
            }
        }
    }

    [Theory]
    [MemberData(nameof(ViaPort))]
    public void ASupervisorOnlyUpperLevelKeepsUserRequestsOutOfTheLeavesACopyFilled(bool viaPort)
    {
        var (builder, root) = Setup(writeProtect: false);
        MapDirty(builder, root, Warm, Frame, writable: true);
        MapDirty(builder, root, Next, Frame + 0x1000, writable: true);
        var level2 = builder.LeafSlot(root, 4, Warm, PageSize.Size2M);
        builder.Memory.Write64(level2, builder.Memory.Read64(level2) & ~FirstStageEntry.UserBit);
        var translate = Entry(builder.CreateUnit(), viaPort);

        Assert.True(translate(Request(Warm, AccessKind.Read, privileged: true)).IsSuccess);
        var supervisor = translate(Request(Next, AccessKind.Read, privileged: true));
        Assert.Equal(Frame + 0x1000, supervisor.Address);
        Assert.Equal(AccessRights.Read | AccessRights.Write, supervisor.Rights);
        Assert.Equal(FaultReason.SgnUserSupervisor, translate(Request(Next, AccessKind.Read, privileged: false)).Fault);
    }

    private static (TableBuilder Builder, ulong Root) Setup(bool writeProtect)
    {
        var builder = new TableBuilder();
        var directory = builder.AttachScalable(Sid);
        var root = builder.SetupFirstStage(directory, Pasid, Did, supervisorRequests: true, writeProtect: writeProtect);
        return (builder, root);
    }

    /// <summary>Maps a user page with A and D already set, so neither a walk nor a copy has a flag to write.</summary>
    private static void MapDirty(TableBuilder builder, ulong root, ulong va, ulong frame, bool writable)
    {
        builder.MapFirstStage(root, 4, va, frame, PageSize.Size4K, writable);
        var slot = builder.LeafSlot(root, 4, va, PageSize.Size4K);
        builder.Memory.Write64(slot, builder.Memory.Read64(slot) | FirstStageEntry.AccessedBit | FirstStageEntry.DirtyBit);
    }

    private static Func<DmaRequest, TranslationResult> Entry(TranslationUnit unit, bool viaPort)
    {
        if (!viaPort)
        {
            return request => unit.Translate(request);
        }
        var port = unit.OpenPort();
        return request => port.Translate(request);
    }

    private static DmaRequest Request(ulong address, AccessKind access, bool privileged) =>
        new(Sid, address, access, Pasid, privileged);
}
