using VtdEngine.Tables;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Tests.Walker;

/// <summary>Hand-built checks of the reference walker, so that it can serve as the oracle of the differential tests.</summary>
[Trait("Category", "Walker")]
public class ReferenceWalkerTests
{
    private const ulong Page = 0x1_2345_6000;
    private static readonly ushort s_device = DmaRequest.MakeSourceId(3, 4, 1);
    private static readonly ushort s_upperDevice = DmaRequest.MakeSourceId(3, 20, 2);

    private static DmaRequest Untranslated(ulong address, AccessKind access = AccessKind.Read, uint pasid = DmaRequest.NoPasid,
        bool privileged = false, ushort? sourceId = null) =>
        new(sourceId ?? s_device, address, access, pasid, privileged);

    private static void AssertFault(ReferenceResult result, FaultReason expected, bool fpd = false)
    {
        Assert.Equal(TranslationStatus.Fault, result.Status);
        Assert.Equal(expected, result.Fault);
        Assert.Equal(fpd, result.FaultRecordingDisabled);
        Assert.Equal(0UL, result.Address);
        Assert.Equal(AccessRights.None, result.Rights);
        Assert.Equal(PageSize.Size4K, result.PageSize);
        Assert.Equal((ushort)0, result.DomainId);
    }

    private static void AssertSuccess(ReferenceResult result, ulong address, PageSize size, AccessRights rights, ushort did)
    {
        Assert.Equal(new ReferenceResult(TranslationStatus.Success, address, FaultReason.None, false, size, rights, did), result);
    }

    private const AccessRights Rwu = AccessRights.Read | AccessRights.Write | AccessRights.User;

    // ----------------------------------------------------------------------------------------------------- general

    [Fact]
    public void TranslationDisabledPassesEverythingThrough()
    {
        var b = new TableBuilder(mode: RootTableMode.Legacy);
        var walker = new ReferenceWalker(b.Memory, b.Profile, b.RootTable, RootTableMode.Legacy, translationEnabled: false);
        AssertSuccess(walker.Translate(Untranslated(0xDEAD_B000, AccessKind.Write, pasid: 5)), 0xDEAD_B000, PageSize.Size4K, Rwu, 0);
        Assert.Equal(TranslationStatus.Interrupt, walker.Translate(Untranslated(0xFEE0_1000, AccessKind.Write)).Status);
    }

    [Theory]
    [InlineData(AccessKind.Read)]
    [InlineData(AccessKind.Write)]
    [InlineData(AccessKind.Atomic)]
    public void InterruptWindowWithoutPasidIsAnInterrupt(AccessKind access)
    {
        var b = new TableBuilder();
        var result = b.CreateReference().Translate(Untranslated(0xFEEF_FFFC, access));
        Assert.Equal(TranslationStatus.Interrupt, result.Status);
        Assert.Equal(0xFEEF_FFFCUL, result.Address);
        Assert.Equal(FaultReason.None, result.Fault);
    }

    [Theory]
    [InlineData(RootTableMode.Reserved, FaultReason.RtaInvalidRootTableAddress)]
    [InlineData(RootTableMode.AbortDma, FaultReason.RtaAbortDma)]
    public void RootTableModeFaults(RootTableMode mode, FaultReason expected)
    {
        var b = new TableBuilder();
        AssertFault(new ReferenceWalker(b.Memory, b.Profile, b.RootTable, mode, true).Translate(Untranslated(0x1000)), expected);
        var noAdms = b.Profile with { AbortDmaMode = false, ScalableMode = false };
        AssertFault(new ReferenceWalker(b.Memory, noAdms, b.RootTable, mode, true).Translate(Untranslated(0x1000)),
            FaultReason.RtaInvalidRootTableAddress);
        AssertFault(new ReferenceWalker(b.Memory, noAdms, b.RootTable, RootTableMode.Scalable, true).Translate(Untranslated(0x1000)),
            FaultReason.RtaInvalidRootTableAddress);
    }

    // ------------------------------------------------------------------------------------------------------ legacy

    [Theory]
    [InlineData(1, PageSize.Size4K)]
    [InlineData(2, PageSize.Size4K)]
    [InlineData(3, PageSize.Size4K)]
    [InlineData(2, PageSize.Size2M)]
    [InlineData(2, PageSize.Size1G)]
    [InlineData(3, PageSize.Size1G)]
    public void LegacySecondStageTranslatesExactly(int aw, PageSize size)
    {
        var b = new TableBuilder(mode: RootTableMode.Legacy);
        var root = b.AttachLegacy(s_device, domainId: 42, addressWidth: aw);
        const ulong iova = 0x40_0000_0000 - 0x4000_0000; // below 2^39
        const ulong hpa = 0x8_0000_0000;
        b.MapSecondStage(root, aw + 2, iova, hpa, size, readable: true, writable: false);
        var offset = 0x1234_5678UL & size.OffsetMask();
        AssertSuccess(b.CreateReference().Translate(Untranslated(iova + offset)), hpa + offset, size,
            AccessRights.Read | AccessRights.User, 42);
        AssertFault(b.CreateReference().Translate(Untranslated(iova + offset, AccessKind.Write)), FaultReason.LgnNoWrite);
        AssertFault(b.CreateReference().Translate(Untranslated(iova + offset, AccessKind.Atomic)), FaultReason.LgnNoWrite);
    }

    [Fact]
    public void LegacyRootAndContextFaults()
    {
        var b = new TableBuilder(mode: RootTableMode.Legacy);
        var walker = b.CreateReference();
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LrtRootNotPresent);

        var contextTable = b.LegacyContextTable(3);
        b.Memory.Write64(b.RootTable + (3 * 16) + 8, 1);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LrtReserved);
        b.Memory.Write64(b.RootTable + (3 * 16) + 8, 0);

        // Context entry P=0 but FPD=1: the FPD counts, yet LCT.2 is qualified, so recording is disabled.
        b.Memory.Write64(contextTable + ((ulong)(byte)s_device * 16), 2);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LctContextNotPresent, fpd: true);

        var root = b.AttachLegacy(s_device, 7);
        b.MapSecondStage(root, 4, Page, 0x7000, PageSize.Size4K);
        AssertSuccess(walker.Translate(Untranslated(Page + 8)), 0x7008, PageSize.Size4K, Rwu, 7);

        var slot = contextTable + ((ulong)(byte)s_device * 16);
        var lo = b.Memory.Read64(slot);
        b.Memory.Write64(slot, lo | 0x10);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LctReserved);
        b.Memory.Write64(slot, lo | 0xC); // TT=11
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LctInvalidProgramming);
        b.Memory.Write64(slot, lo);
        b.Memory.Write64(slot + 8, (7UL << 8) | 4); // AW=4 is not in SAGAW
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LctInvalidProgramming);

        // Root pointing at unbacked memory.
        b.Memory.Write64(b.RootTable + (3 * 16), 0x40_0000_0000 | 1);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LctAccessError);
        AssertFault(new ReferenceWalker(b.Memory, b.Profile, 0x40_0000_0000, RootTableMode.Legacy, true)
            .Translate(Untranslated(Page)), FaultReason.LrtAccessError);
    }

    [Fact]
    public void LegacySecondStageEntryFaults()
    {
        var b = new TableBuilder(mode: RootTableMode.Legacy);
        var root = b.AttachLegacy(s_device, 9, addressWidth: 2, faultProcessingDisable: true);
        var walker = b.CreateReference();
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LgnNoRead, fpd: true);
        AssertFault(walker.Translate(Untranslated(Page, AccessKind.Write)), FaultReason.LgnNoWrite, fpd: true);
        AssertFault(walker.Translate(Untranslated(Page, AccessKind.Atomic)), FaultReason.LgnNoRead, fpd: true);
        AssertFault(walker.Translate(Untranslated(1UL << 48)), FaultReason.LgnAddressBeyondLimit, fpd: true);

        b.MapSecondStage(root, 4, Page, 0x5000, PageSize.Size4K, readable: false, writable: true);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LgnNoRead, fpd: true);
        AssertSuccess(walker.Translate(Untranslated(Page, AccessKind.Write)), 0x5000, PageSize.Size4K,
            AccessRights.Write | AccessRights.User, 9);

        // Level-4 entry with PS=1 is reserved; a table pointer into unbacked memory is LSS.1; an unbacked root LCT.4.
        var l4 = root + ((ulong)PageTableGeometry.LevelIndex(Page, 4) * 8);
        var good = b.Memory.Read64(l4);
        b.Memory.Write64(l4, good | 0x80);
        AssertFault(walker.Translate(Untranslated(Page, AccessKind.Write)), FaultReason.LssReserved, fpd: true);
        b.Memory.Write64(l4, 0x40_0000_0000 | 3);
        AssertFault(walker.Translate(Untranslated(Page, AccessKind.Write)), FaultReason.LssAccessError, fpd: true);
        b.SetLegacyContext(s_device, ContextEntry.Create(9, 2, 0x40_0000_0000));
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LctInvalidProgramming);
    }

    [Fact]
    public void LegacyPassThroughAndAts()
    {
        var b = new TableBuilder(mode: RootTableMode.Legacy);
        b.AttachLegacy(s_device, 11, type: TranslationType.PassThrough);
        var walker = b.CreateReference();
        AssertSuccess(walker.Translate(Untranslated(0xABC_D123, AccessKind.Atomic)), 0xABC_D123, PageSize.Size4K, Rwu, 11);
        AssertFault(walker.Translate(Untranslated(1UL << 52)), FaultReason.LgnAddressBeyondLimit);
        AssertFault(walker.Translate(new DmaRequest(s_device, 0xFEE0_0000, AccessKind.Read, pasid: DmaRequest.NoPasid,
            addressType: AddressType.TranslationRequest)), FaultReason.LctTranslationBlocked);
        AssertFault(walker.Translate(Untranslated(0x1000, pasid: 1)), FaultReason.RtaPasidInLegacyMode);

        var root = b.AttachLegacy(s_device, 12, type: TranslationType.UntranslatedWithDeviceTlb);
        b.MapSecondStage(root, 4, Page, 0xFEE0_0000, PageSize.Size4K, writable: false);
        AssertSuccess(walker.Translate(new DmaRequest(s_device, 0x77, AccessKind.Write, addressType: AddressType.Translated)),
            0x77, PageSize.Size4K, AccessRights.Read | AccessRights.Write, 0);
        AssertSuccess(walker.Translate(new DmaRequest(s_device, Page, AccessKind.Write, addressType: AddressType.TranslationRequest)),
            0, PageSize.Size4K, AccessRights.None, 0);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.LgnInterruptRange);
    }

    // ---------------------------------------------------------------------------------------------------- scalable

    private static (TableBuilder Builder, ulong Directory) Scalable(CapabilityProfile? profile = null, ushort? device = null,
        bool fpd = false)
    {
        var b = new TableBuilder(profile);
        return (b, b.AttachScalable(device ?? s_device, pasidDirectorySize: 1, faultProcessingDisable: fpd));
    }

    [Fact]
    public void ScalableRootContextAndPasidStructureFaults()
    {
        var (b, directory) = Scalable(device: s_upperDevice);
        var walker = b.CreateReference();
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SrtNotPresent); // lower half absent
        var upper = Untranslated(Page, sourceId: s_upperDevice);
        AssertFault(walker.Translate(upper), FaultReason.SpdNotPresent);

        var rootHi = b.RootTable + (3 * 16) + 8;
        var good = b.Memory.Read64(rootHi);
        b.Memory.Write64(rootHi, good | 0x800);
        AssertFault(walker.Translate(upper), FaultReason.SrtReserved);
        b.Memory.Write64(rootHi, good);

        var context = b.ScalableContextTable(s_upperDevice) + ((ulong)(s_upperDevice & 0x7F) * 32);
        b.Memory.Write64(context + 16, 1);
        AssertFault(walker.Translate(upper), FaultReason.SctReserved);
        b.Memory.Write64(context + 16, 0);
        var c0 = b.Memory.Read64(context);
        b.Memory.Write64(context, c0 | 0x10); // PRE without DTE
        AssertFault(walker.Translate(upper), FaultReason.SctInvalidProgramming);
        b.Memory.Write64(context, c0 & ~1UL);
        AssertFault(walker.Translate(upper), FaultReason.SctNotPresent);
        b.Memory.Write64(context, c0);

        b.Memory.Write64(directory, 0x40_0000_0000 | 1);
        AssertFault(walker.Translate(upper), FaultReason.SptAccessError);
        b.Memory.Write64(directory, 0x2); // FPD, P=0
        AssertFault(walker.Translate(upper), FaultReason.SpdNotPresent, fpd: true);
        b.Memory.Write64(directory, 0);
        var table = b.PasidTable(directory, 0);
        b.Memory.Write64(directory, table | 0x5);
        AssertFault(walker.Translate(upper), FaultReason.SpdReserved);
        b.Memory.Write64(directory, table | 1);

        b.SetPasidEntry(directory, 0, PasidTableEntry.PassThroughTranslation(5) with { Q3 = 1 });
        AssertFault(walker.Translate(upper), FaultReason.SptReserved);
        b.SetPasidEntry(directory, 0, new PasidTableEntry(1 | (5UL << 6), 5, 0, 0, 0, 0, 0, 0)); // PGTT 101
        AssertFault(walker.Translate(upper), FaultReason.SptInvalidProgramming);
        b.SetPasidEntry(directory, 0, PasidTableEntry.PassThroughTranslation(5, faultProcessingDisable: true));
        AssertSuccess(walker.Translate(upper), Page, PageSize.Size4K, Rwu, 5);
        AssertFault(walker.Translate(Untranslated(0xFEE0_0000, pasid: 1, sourceId: s_upperDevice)), FaultReason.SptNotPresent);
    }

    [Fact]
    public void PasidChecksComeInSpecOrder()
    {
        var b = new TableBuilder();
        var directory = b.AttachScalable(s_device, pasidDirectorySize: 0, ridPasid: 3, pasidEnable: true);
        b.SetupPassThrough(directory, 3, 1);
        b.SetupPassThrough(directory, 4, 2);
        var walker = b.CreateReference();
        AssertSuccess(walker.Translate(Untranslated(Page)), Page, PageSize.Size4K, Rwu, 1);
        AssertSuccess(walker.Translate(Untranslated(Page, pasid: 4)), Page, PageSize.Size4K, Rwu, 2);
        AssertFault(walker.Translate(Untranslated(Page, pasid: 3)), FaultReason.SctPasidEqualsRidPasid);
        AssertFault(walker.Translate(Untranslated(Page, pasid: 1 << 13)), FaultReason.SctPasidBeyondDirectory);
        AssertFault(walker.Translate(Untranslated(Page, pasid: 1 << 20)), FaultReason.SgnPasidBeyondPss);
        AssertFault(walker.Translate(Untranslated(Page, pasid: 4, privileged: true)), FaultReason.SptSupervisorRequestDisabled);
        AssertFault(walker.Translate(new DmaRequest(s_device, Page, AccessKind.Read, addressType: AddressType.Translated)),
            FaultReason.SctDeviceTlbDisabled);

        b.AttachScalable(s_device, pasidDirectorySize: 0, pasidEnable: false);
        AssertFault(walker.Translate(Untranslated(Page, pasid: 4)), FaultReason.SctPasidDisabled);
    }

    [Theory]
    [InlineData(1, PageSize.Size4K)]
    [InlineData(2, PageSize.Size2M)]
    [InlineData(3, PageSize.Size1G)]
    public void ScalableSecondStageWithAccessedDirty(int aw, PageSize size)
    {
        var (b, directory) = Scalable();
        var root = b.SetupSecondStage(directory, 0, 21, aw, accessedDirty: true);
        const ulong iova = 0x12_4000_0000;
        const ulong hpa = 0x3_C000_0000;
        b.MapSecondStage(root, aw + 2, iova, hpa, size);
        var walker = b.CreateReference();
        var offset = 0x2B_CDEFUL & size.OffsetMask();

        AssertSuccess(walker.Translate(Untranslated(iova + offset)), hpa + offset, size, Rwu, 21);
        var leaf = LeafSlot(b, root, aw + 2, iova, size);
        Assert.Equal(SecondStageEntry.AccessedBit, b.Memory.Read64(leaf) & (SecondStageEntry.AccessedBit | SecondStageEntry.DirtyBit));
        Assert.NotEqual(0UL, b.Memory.Read64(root + ((ulong)PageTableGeometry.LevelIndex(iova, aw + 2) * 8)) & SecondStageEntry.AccessedBit);

        AssertSuccess(walker.Translate(Untranslated(iova + offset, AccessKind.Write)), hpa + offset, size, Rwu, 21);
        Assert.NotEqual(0UL, b.Memory.Read64(leaf) & SecondStageEntry.DirtyBit);

        AssertFault(walker.Translate(Untranslated(1UL << (30 + (9 * aw)))), FaultReason.SgnAddressBeyondAgaw);
        AssertFault(walker.Translate(Untranslated(iova + (1UL << 30) + (1UL << 21))), FaultReason.SssNotPresent);
    }

    [Fact]
    public void ScalableSecondStageFlagUpdateWithoutSnoopFaults()
    {
        var (b, directory) = Scalable();
        var root = b.NewFrame();
        b.SetPasidEntry(directory, 0, PasidTableEntry.SecondStage(1, root, 2, accessedDirty: true, pageWalkSnoop: false));
        b.MapSecondStage(root, 4, Page, 0x9000, PageSize.Size4K, writable: false);
        var walker = b.CreateReference();
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SssFlagUpdateNoSnoop);
        Assert.Equal(0UL, b.Memory.Read64(root) & SecondStageEntry.AccessedBit);
        AssertFault(walker.Translate(Untranslated(Page, AccessKind.Write)), FaultReason.SssFlagUpdateNoSnoop);
    }

    [Fact]
    public void ScalableSecondStagePermissionsAndReservedBits()
    {
        var (b, directory) = Scalable(fpd: true);
        var root = b.SetupSecondStage(directory, 0, 2, 2);
        b.MapSecondStage(root, 4, Page, 0xA000, PageSize.Size4K, readable: false, writable: true);
        var walker = b.CreateReference();
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SgnNoRead, fpd: true);
        AssertFault(walker.Translate(Untranslated(Page, AccessKind.Atomic)), FaultReason.SgnNoRead, fpd: true);
        AssertSuccess(walker.Translate(Untranslated(Page, AccessKind.Write)), 0xA000, PageSize.Size4K,
            AccessRights.Write | AccessRights.User, 2);
        var leaf = LeafSlot(b, root, 4, Page, PageSize.Size4K);
        b.Memory.Write64(leaf, b.Memory.Read64(leaf) | (1UL << 62));
        AssertFault(walker.Translate(Untranslated(Page, AccessKind.Write)), FaultReason.SssReserved, fpd: true);
        b.Memory.Write64(root + ((ulong)PageTableGeometry.LevelIndex(Page, 4) * 8), 0x40_0000_0000 | 3);
        AssertFault(walker.Translate(Untranslated(Page, AccessKind.Write)), FaultReason.SssAccessError, fpd: true);
        b.SetPasidEntry(directory, 0, PasidTableEntry.SecondStage(2, 0x40_0000_0000, 2));
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SssRootAccessError, fpd: true);
    }

    [Theory]
    [InlineData(FirstStagePagingMode.FourLevel, PageSize.Size4K)]
    [InlineData(FirstStagePagingMode.FourLevel, PageSize.Size2M)]
    [InlineData(FirstStagePagingMode.FourLevel, PageSize.Size1G)]
    [InlineData(FirstStagePagingMode.FiveLevel, PageSize.Size4K)]
    [InlineData(FirstStagePagingMode.FiveLevel, PageSize.Size1G)]
    public void FirstStageTranslatesAndSetsAccessedAndDirty(FirstStagePagingMode mode, PageSize size)
    {
        var (b, directory) = Scalable();
        var levels = mode == FirstStagePagingMode.FiveLevel ? 5 : 4;
        var va = mode == FirstStagePagingMode.FiveLevel ? 0xFF12_3456_4000_0000 : 0xFFFF_8123_4000_0000;
        const ulong pa = 0x5_4000_0000;
        var root = b.SetupFirstStage(directory, 0, 30, mode, extendedAccessed: true);
        b.MapFirstStage(root, levels, va, pa, size);
        var walker = b.CreateReference();
        var offset = 0x3F_FFF8UL & size.OffsetMask();

        AssertSuccess(walker.Translate(Untranslated(va + offset)), pa + offset, size, Rwu, 30);
        var leaf = FirstStageLeafSlot(b, root, levels, va, size);
        const ulong aea = FirstStageEntry.AccessedBit | FirstStageEntry.ExtendedAccessedBit;
        Assert.Equal(aea, b.Memory.Read64(leaf) & (aea | FirstStageEntry.DirtyBit));
        Assert.Equal(aea, b.Memory.Read64(root + ((ulong)PageTableGeometry.LevelIndex(va, levels) * 8)) & aea);

        AssertSuccess(walker.Translate(Untranslated(va + offset, AccessKind.Atomic)), pa + offset, size, Rwu, 30);
        Assert.NotEqual(0UL, b.Memory.Read64(leaf) & FirstStageEntry.DirtyBit);

        AssertFault(walker.Translate(Untranslated(va ^ (1UL << 62))), FaultReason.SgnNonCanonical);
    }

    [Fact]
    public void FirstStagePermissionRules()
    {
        var (b, directory) = Scalable();
        var root = b.SetupFirstStage(directory, 1, 8, supervisorRequests: true, writeProtect: true);
        b.MapFirstStage(root, 4, 0x1000, 0x2_0000, PageSize.Size4K, writable: false, user: false);
        b.MapFirstStage(root, 4, 0x2000, 0x3_0000, PageSize.Size4K, writable: false, user: true);
        var walker = b.CreateReference();

        AssertFault(walker.Translate(Untranslated(0x1000, pasid: 1)), FaultReason.SgnUserSupervisor);
        AssertSuccess(walker.Translate(Untranslated(0x1000, pasid: 1, privileged: true)), 0x2_0000, PageSize.Size4K,
            AccessRights.Read, 8);
        AssertFault(walker.Translate(Untranslated(0x1000, AccessKind.Write, pasid: 1, privileged: true)), FaultReason.SgnNoWrite);
        AssertFault(walker.Translate(Untranslated(0x2000, AccessKind.Write, pasid: 1)), FaultReason.SgnNoWrite);
        AssertSuccess(walker.Translate(Untranslated(0x2000, pasid: 1)), 0x3_0000, PageSize.Size4K,
            AccessRights.Read | AccessRights.User, 8);
        AssertFault(walker.Translate(Untranslated(0x3000, pasid: 1)), FaultReason.SfsNotPresent);

        // Without WPE a supervisor may write through a read-only page; no dirty flag is set on a fault.
        b.SetPasidEntry(directory, 1, PasidTableEntry.FirstStage(8, root, supervisorRequests: true));
        AssertSuccess(walker.Translate(Untranslated(0x2000, AccessKind.Write, pasid: 1, privileged: true)), 0x3_0000,
            PageSize.Size4K, AccessRights.Read | AccessRights.User, 8);
        Assert.NotEqual(0UL, b.Memory.Read64(FirstStageLeafSlot(b, root, 4, 0x2000, PageSize.Size4K)) & FirstStageEntry.DirtyBit);
        Assert.Equal(0UL, b.Memory.Read64(FirstStageLeafSlot(b, root, 4, 0x1000, PageSize.Size4K)) & FirstStageEntry.DirtyBit);
    }

    [Fact]
    public void FirstStageStructureFaults()
    {
        var (b, directory) = Scalable();
        var root = b.SetupFirstStage(directory, 0, 8);
        b.MapFirstStage(root, 4, Page, 0x6000, PageSize.Size4K);
        var walker = b.CreateReference();
        AssertSuccess(walker.Translate(Untranslated(Page)), 0x6000, PageSize.Size4K, Rwu, 8);

        var l4 = root + ((ulong)PageTableGeometry.LevelIndex(Page, 4) * 8);
        var good = b.Memory.Read64(l4);
        b.Memory.Write64(l4, good | FirstStageEntry.PageSizeBit);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SfsReserved);
        b.Memory.Write64(l4, 0x40_0000_0000 | 7);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SfsAccessError);
        b.SetPasidEntry(directory, 0, PasidTableEntry.FirstStage(8, 0x40_0000_0000));
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SfsRootAccessError);
        b.SetPasidEntry(directory, 0, PasidTableEntry.FirstStage(8, root, pageWalkSnoop: false));
        b.Memory.Write64(l4, good & ~FirstStageEntry.AccessedBit);
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SfsFlagUpdateNoSnoop);
        var badMode = PasidTableEntry.FirstStage(8, root);
        b.SetPasidEntry(directory, 0, badMode with { Q2 = badMode.Q2 | (2UL << 2) });
        AssertFault(walker.Translate(Untranslated(Page)), FaultReason.SptInvalidProgramming);
    }

    [Fact]
    public void NestedTranslatesThroughBothStages()
    {
        var (b, directory) = Scalable();
        var (guest, fsRoot) = b.SetupNested(directory, 0, 17, accessedDirty: true);
        const ulong va = 0x7F00_1240_0000;
        const ulong gpa = 0x8000_0000;
        const ulong hpa = 0x2_0000_0000;
        b.MapFirstStage(fsRoot, 4, va, gpa, PageSize.Size2M, guest: guest);
        b.MapSecondStage(guest.SecondStageRoot, 4, gpa, hpa, PageSize.Size4K, writable: false);
        b.MapSecondStage(guest.SecondStageRoot, 4, gpa + 0x1000, hpa + 0x20_0000, PageSize.Size4K);
        var walker = b.CreateReference();

        AssertSuccess(walker.Translate(Untranslated(va + 0x10)), hpa + 0x10, PageSize.Size4K,
            AccessRights.Read | AccessRights.User, 17);
        AssertFault(walker.Translate(Untranslated(va, AccessKind.Write)), FaultReason.SgnNoWrite);
        AssertSuccess(walker.Translate(Untranslated(va + 0x1008, AccessKind.Write)), hpa + 0x20_0008, PageSize.Size4K, Rwu, 17);

        // The FS tables' second-stage leaves got A and D (the FS A/D writes), the FS leaf got D.
        var fsLeafHost = FirstStageLeafSlot(b, fsRoot - guest.GpaOffset, 4, va, PageSize.Size2M, guest.GpaOffset);
        Assert.NotEqual(0UL, b.Memory.Read64(fsLeafHost) & FirstStageEntry.DirtyBit);
        var rootSsLeaf = LeafSlot(b, guest.SecondStageRoot, 4, fsRoot, PageSize.Size4K);
        Assert.Equal(SecondStageEntry.AccessedBit | SecondStageEntry.DirtyBit,
            b.Memory.Read64(rootSsLeaf) & (SecondStageEntry.AccessedBit | SecondStageEntry.DirtyBit));

        // A read-only second-stage mapping of the FS root table denies reading it when SSADE=1.
        b.Memory.Write64(rootSsLeaf, b.Memory.Read64(rootSsLeaf) & ~SecondStageEntry.WriteBit);
        AssertFault(walker.Translate(Untranslated(va)), FaultReason.SfsRootReadDenied);
    }

    [Fact]
    public void NestedFirstStageFlagWriteNeedsSecondStageWrite()
    {
        var (b, directory) = Scalable();
        var (guest, fsRoot) = b.SetupNested(directory, 0, 17, accessedDirty: false);
        b.MapFirstStage(fsRoot, 4, 0x1000, 0x8000_0000, PageSize.Size4K, guest: guest);
        b.MapSecondStage(guest.SecondStageRoot, 4, 0x8000_0000, 0x9000, PageSize.Size4K);
        var rootSsLeaf = LeafSlot(b, guest.SecondStageRoot, 4, fsRoot, PageSize.Size4K);
        b.Memory.Write64(rootSsLeaf, b.Memory.Read64(rootSsLeaf) & ~SecondStageEntry.WriteBit);
        var walker = b.CreateReference();
        AssertFault(walker.Translate(Untranslated(0x1000)), FaultReason.SfsFlagWriteDenied);
        b.Memory.Write64(rootSsLeaf, b.Memory.Read64(rootSsLeaf) & ~SecondStageEntry.ReadBit);
        AssertFault(walker.Translate(Untranslated(0x1000)), FaultReason.SssNotPresent);
        AssertFault(walker.Translate(Untranslated(0x7000_0000_0000)), FaultReason.SssNotPresent);
    }

    [Fact]
    public void GeneratedImagesWalkWithoutExceptionsAndMostHitsTranslate()
    {
        int hits = 0, successes = 0, mutatedFaults = 0, mutatedRequests = 0;
        for (var seed = 0; seed < 300; seed++)
        {
            foreach (var mutate in new[] { false, true })
            {
                var (image, requests) = DifferentialWalkTests.Build(seed, mutate);
                var hitSet = image.Hits.Select(h => (h.SourceId, h.Address, h.Pasid)).ToHashSet();
                var walker = image.CreateReference(image.Memory);
                foreach (var request in requests)
                {
                    var result = walker.Translate(request);
                    if (mutate)
                    {
                        mutatedRequests++;
                        mutatedFaults += result.Status == TranslationStatus.Fault ? 1 : 0;
                    }
                    else if (image.Mode is RootTableMode.Legacy or RootTableMode.Scalable
                        && request.AddressType == AddressType.Untranslated && hitSet.Contains((request.SourceId, request.Address, request.Pasid)))
                    {
                        hits++;
                        successes += result.Status == TranslationStatus.Success ? 1 : 0;
                    }
                }
            }
        }

        // The generator must mostly produce translations that work, or the differential test only compares faults.
        Assert.True(successes * 3 > hits, $"{successes} of {hits} hits translated");
        Assert.True(mutatedFaults > 0 && mutatedFaults < mutatedRequests, $"{mutatedFaults} of {mutatedRequests} faulted");
    }

    [Fact]
    public void ReferenceIsDeterministicOnClonedImages()
    {
        for (var seed = 0; seed < 100; seed++)
        {
            var (image, requests) = DifferentialWalkTests.Build(seed, mutate: seed % 2 == 1);
            var copy = image.Memory.Clone();
            var first = image.CreateReference(image.Memory);
            var second = image.CreateReference(copy);
            foreach (var request in requests)
            {
                Assert.Equal(first.Translate(request), second.Translate(request));
            }
            foreach (var frame in image.Builder.Frames)
            {
                Assert.True(image.Memory.GetFrame(frame >> 12).SequenceEqual(copy.GetFrame(frame >> 12)));
            }
        }
    }

    private static ulong LeafSlot(TableBuilder b, ulong root, int levels, ulong address, PageSize size)
    {
        var table = root;
        for (var level = levels; level > (int)size; level--)
        {
            table = b.Memory.Read64(table + ((ulong)PageTableGeometry.LevelIndex(address, level) * 8)) & 0x000F_FFFF_FFFF_F000;
        }
        return table + ((ulong)PageTableGeometry.LevelIndex(address, (int)size) * 8);
    }

    private static ulong FirstStageLeafSlot(TableBuilder b, ulong root, int levels, ulong address, PageSize size,
        ulong gpaOffset = 0)
    {
        var table = root;
        for (var level = levels; level > (int)size; level--)
        {
            table = (b.Memory.Read64(table + ((ulong)PageTableGeometry.LevelIndex(address, level) * 8)) & 0x000F_FFFF_FFFF_F000)
                - gpaOffset;
        }
        return table + ((ulong)PageTableGeometry.LevelIndex(address, (int)size) * 8);
    }
}
