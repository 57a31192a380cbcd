using VtdEngine.Tables;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Tests.Walker;

/// <summary>Exact engine outputs for tables programmed the way the Linux intel-iommu driver programs them.</summary>
[Trait("Category", "Walker")]
public class LinuxStyleTranslationTests
{
    private const AccessRights Rwu = AccessRights.Read | AccessRights.Write | AccessRights.User;
    private static readonly ushort s_nvme = DmaRequest.MakeSourceId(0x3B, 0, 0);
    private static readonly ushort s_gpu = DmaRequest.MakeSourceId(0x65, 17, 3);

    private static ReferenceResult Run(TableBuilder builder, DmaRequest request)
    {
        var engine = ReferenceResult.FromEngine(builder.CreateUnit().Translate(request));

        // The oracle must agree too, on a copy, so that both stay honest.
        Assert.Equal(builder.CreateReference(builder.Memory.Clone()).Translate(request), engine);
        return engine;
    }

    private static ReferenceResult Ok(ulong address, PageSize size, AccessRights rights, ushort did) =>
        new(TranslationStatus.Success, address, FaultReason.None, false, size, rights, did);

    private static ReferenceResult Fault(FaultReason reason, bool fpd = false) =>
        new(TranslationStatus.Fault, 0, reason, fpd, PageSize.Size4K, AccessRights.None, 0);

    [Fact]
    public void LegacyDmaDomainWithFourLevelTables()
    {
        var b = new TableBuilder(mode: RootTableMode.Legacy);
        var root = b.AttachLegacy(s_nvme, domainId: 1, addressWidth: 2);
        b.MapSecondStage(root, 4, 0xFFFF_F000, 0x1_2345_6000, PageSize.Size4K, writable: false);
        b.MapSecondStage(root, 4, 0x8000_0000, 0x4_0000_0000, PageSize.Size2M);
        b.MapSecondStage(root, 4, 0x40_0000_0000, 0x80_0000_0000, PageSize.Size1G);

        Assert.Equal(Ok(0x1_2345_6ABC, PageSize.Size4K, AccessRights.Read | AccessRights.User, 1),
            Run(b, new DmaRequest(s_nvme, 0xFFFF_FABC, AccessKind.Read)));
        Assert.Equal(Fault(FaultReason.LgnNoWrite), Run(b, new DmaRequest(s_nvme, 0xFFFF_FABC, AccessKind.Write)));
        Assert.Equal(Ok(0x4_001F_FFF8, PageSize.Size2M, Rwu, 1), Run(b, new DmaRequest(s_nvme, 0x801F_FFF8, AccessKind.Write)));
        Assert.Equal(Ok(0x80_3FFF_0000, PageSize.Size1G, Rwu, 1),
            Run(b, new DmaRequest(s_nvme, 0x40_3FFF_0000, AccessKind.Atomic)));
        Assert.Equal(Fault(FaultReason.LgnNoRead), Run(b, new DmaRequest(s_nvme, 0x1000, AccessKind.Read)));
        Assert.Equal(Fault(FaultReason.LctContextNotPresent), Run(b, new DmaRequest((ushort)(s_nvme + 1), 0x1000, AccessKind.Read)));
        Assert.Equal(Fault(FaultReason.LrtRootNotPresent), Run(b, new DmaRequest(s_gpu, 0x1000, AccessKind.Read)));
    }

    [Fact]
    public void LegacyIdentityDomainIsPassThrough()
    {
        var b = new TableBuilder(mode: RootTableMode.Legacy);
        b.AttachLegacy(s_nvme, domainId: 2, type: TranslationType.PassThrough);
        Assert.Equal(Ok(0xF_FFFF_F000, PageSize.Size4K, Rwu, 2), Run(b, new DmaRequest(s_nvme, 0xF_FFFF_F000, AccessKind.Write)));
        Assert.Equal(TranslationStatus.Interrupt, b.CreateUnit().Translate(new DmaRequest(s_nvme, 0xFEE0_0000, AccessKind.Write)).Status);
        Assert.Equal(Fault(FaultReason.LctTranslationBlocked),
            Run(b, new DmaRequest(s_nvme, 0x1000, AccessKind.Read, addressType: AddressType.TranslationRequest)));
        Assert.Equal(Fault(FaultReason.RtaPasidInLegacyMode), Run(b, new DmaRequest(s_nvme, 0x1000, AccessKind.Read, 5)));
    }

    [Fact]
    public void ScalableSecondLevelOnRidPasid()
    {
        var b = new TableBuilder();
        var directory = b.AttachScalable(s_nvme, pasidDirectorySize: 0);
        var root = b.SetupSecondStage(directory, 0, domainId: 3, addressWidth: 2);
        b.MapSecondStage(root, 4, 0xFFFF_0000, 0x2_0000_0000, PageSize.Size4K);

        Assert.Equal(Ok(0x2_0000_0010, PageSize.Size4K, Rwu, 3), Run(b, new DmaRequest(s_nvme, 0xFFFF_0010, AccessKind.Write)));
        Assert.Equal(Fault(FaultReason.SssNotPresent), Run(b, new DmaRequest(s_nvme, 0xFFFE_0000, AccessKind.Read)));
        Assert.Equal(Fault(FaultReason.SgnAddressBeyondAgaw), Run(b, new DmaRequest(s_nvme, 1UL << 48, AccessKind.Read)));
        Assert.Equal(Fault(FaultReason.SptNotPresent), Run(b, new DmaRequest(s_nvme, 0x1000, AccessKind.Read, pasid: 1)));
        Assert.Equal(Fault(FaultReason.SctDeviceTlbDisabled),
            Run(b, new DmaRequest(s_nvme, 0x1000, AccessKind.Read, addressType: AddressType.TranslationRequest)));
    }

    [Fact]
    public void ScalableFirstLevelSvaWithPasid()
    {
        var b = new TableBuilder();
        var directory = b.AttachScalable(s_gpu, pasidDirectorySize: 1, deviceTlbEnable: true);
        b.SetupPassThrough(directory, 0, domainId: 1);
        var fsRoot = b.SetupFirstStage(directory, 0x42, domainId: 4, FirstStagePagingMode.FiveLevel, supervisorRequests: true,
            writeProtect: true);
        const ulong va = 0x00FF_7F12_3440_0000;
        b.MapFirstStage(fsRoot, 5, va, 0x3_0000_0000, PageSize.Size2M);
        b.MapFirstStage(fsRoot, 5, 0x1000, 0x7000, PageSize.Size4K, writable: false, user: false);

        Assert.Equal(Ok(0x3_0000_1238, PageSize.Size2M, Rwu, 4), Run(b, new DmaRequest(s_gpu, va + 0x1238, AccessKind.Write, 0x42)));
        Assert.Equal(Ok(0x7008, PageSize.Size4K, AccessRights.Read, 4),
            Run(b, new DmaRequest(s_gpu, 0x1008, AccessKind.Read, 0x42, privileged: true)));
        Assert.Equal(Fault(FaultReason.SgnNoWrite), Run(b, new DmaRequest(s_gpu, 0x1008, AccessKind.Write, 0x42, privileged: true)));
        Assert.Equal(Fault(FaultReason.SgnUserSupervisor), Run(b, new DmaRequest(s_gpu, 0x1008, AccessKind.Read, 0x42)));
        Assert.Equal(Ok(0, PageSize.Size4K, AccessRights.None, 0),
            Run(b, new DmaRequest(s_gpu, 0x1008, AccessKind.Read, 0x42, addressType: AddressType.TranslationRequest)));
        Assert.Equal(Fault(FaultReason.SgnNonCanonical), Run(b, new DmaRequest(s_gpu, 0x0100_0000_0000_0000, AccessKind.Read, 0x42)));

        // RID_PASID (requests without PASID) is the pass-through entry of PASID 0.
        Assert.Equal(Ok(0x1234_5678, PageSize.Size4K, Rwu, 1), Run(b, new DmaRequest(s_gpu, 0x1234_5678, AccessKind.Atomic)));
        Assert.Equal(TranslationStatus.Interrupt, b.CreateUnit().Translate(new DmaRequest(s_gpu, 0xFEE0_0004, AccessKind.Write)).Status);
        // Special case S.1: an ATS request without PASID to the window completes write-only, untranslated.
        Assert.Equal(Ok(0xFEE0_0004, PageSize.Size4K, AccessRights.Write | AccessRights.User, 0),
            Run(b, new DmaRequest(s_gpu, 0xFEE0_0004, AccessKind.Write, addressType: AddressType.TranslationRequest)));
    }

    [Fact]
    public void ScalableNestedGuestSva()
    {
        var b = new TableBuilder();
        var directory = b.AttachScalable(s_gpu, pasidDirectorySize: 0);
        var (guest, fsRoot) = b.SetupNested(directory, 7, domainId: 9, addressWidth: 2, accessedDirty: true);
        b.MapFirstStage(fsRoot, 4, 0x7FFF_0000_0000, 0x1_0000_0000, PageSize.Size4K, guest: guest);
        b.MapSecondStage(guest.SecondStageRoot, 4, 0x1_0000_0000, 0x9_C000_0000, PageSize.Size1G);

        Assert.Equal(Ok(0x9_C000_0ABC, PageSize.Size4K, Rwu, 9),
            Run(b, new DmaRequest(s_gpu, 0x7FFF_0000_0ABC, AccessKind.Write, 7)));
        Assert.Equal(Fault(FaultReason.SfsNotPresent), Run(b, new DmaRequest(s_gpu, 0x7FFF_0000_1000, AccessKind.Read, 7)));
        Assert.Equal(Fault(FaultReason.SptSupervisorRequestDisabled),
            Run(b, new DmaRequest(s_gpu, 0x7FFF_0000_0ABC, AccessKind.Read, 7, privileged: true)));
    }
}
