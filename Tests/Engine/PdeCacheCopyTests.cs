using VtdEngine.Tables;
using VtdEngine.Tests.Caches;
using VtdEngine.Tests.Reference;
using VtdEngine.Tests.Walker;

namespace VtdEngine.Tests.Engine;

/// <summary>
/// The PDE-cache copy a port's or a thread's first-level TLB keeps per requester and 2 MiB region after a second-stage
/// walk that ended in a 4 KiB leaf, from which the next IOTLB miss in the region reads only the leaf. Every test warms a
/// region with one read and then asks for pages of it that the IOTLB has never held, so that the copy either answers or
/// has to step aside; each answer is compared with the uncached walk of the same memory (which the reference walker
/// must agree with), A/D writes are checked in memory, and no copy may outlive an invalidation that returned before
/// the request was issued.
/// </summary>
[Trait("Category", "Caches")]
public class PdeCacheCopyTests
{
    /// <summary>The region the tests warm: <see cref="Pages"/> 4 KiB leaves of one level-1 table.</summary>
    private const ulong Region = 0x60_0000;
    private const int Pages = 8;
    private const ulong OldFrame = 0x8_0000_0000;
    private const ulong NewFrame = 0x9_0000_0000;

    /// <summary>Whose second-stage walks a test makes.</summary>
    public enum Mode
    {
        /// <summary>Scalable mode, requests without PASID: RID_PASID 0's second-stage-only entry, DID 1.</summary>
        RidPasid,

        /// <summary>Scalable mode, requests with PASID 2: a second-stage-only entry of its own, DID 5.</summary>
        Pasid,

        /// <summary>Legacy mode, DID 1.</summary>
        Legacy,
    }

    /// <summary>The entry point requests go through: a port's first-level TLB or the calling thread's, singly or in bursts.</summary>
    public enum Via
    {
        Port,
        Unit,
        PortBurst,
        UnitBurst,
    }

    public static TheoryData<Mode, Via> ModesAndPaths() => Combine(Enum.GetValues<Mode>());

    /// <summary>The modes with a PASID-table entry, whose SSADE and SRE the tests set.</summary>
    public static TheoryData<Mode, Via> ScalableModesAndPaths() => Combine([Mode.RidPasid, Mode.Pasid]);

    public static TheoryData<Via> Paths() => [.. Enum.GetValues<Via>()];

    public static TheoryData<Mode, Via> ModesAndBursts()
    {
        var data = new TheoryData<Mode, Via>();
        foreach (var mode in Enum.GetValues<Mode>())
        {
            data.Add(mode, Via.PortBurst);
            data.Add(mode, Via.UnitBurst);
        }
        return data;
    }

    public static TheoryData<RootTableMode, Via> RootModesAndPaths()
    {
        var data = new TheoryData<RootTableMode, Via>();
        foreach (var mode in new[] { RootTableMode.Scalable, RootTableMode.Legacy })
        {
            foreach (var via in Enum.GetValues<Via>())
            {
                data.Add(mode, via);
            }
        }
        return data;
    }

    public static TheoryData<Mode, string, Via> EditsAndPaths()
    {
        var data = new TheoryData<Mode, string, Via>();
        foreach (var mode in Enum.GetValues<Mode>())
        {
            foreach (var (name, _) in Edits(mode))
            {
                foreach (var via in Enum.GetValues<Via>())
                {
                    data.Add(mode, name, via);
                }
            }
        }
        return data;
    }

    // -----------------------------------------------------------------------------------------------------------------
    // The copy answers
    // -----------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// After one read, every other page of the region — read, written or read-modify-written, writable or not — is an
    /// IOTLB miss that costs one table read, and gets the uncached walk's address, size, rights and DID.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void OtherPagesOfAWarmRegionTranslateAsTheUncachedWalkFromOneLeafRead(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        f.MapRegion(Region, OldFrame, writable: k => k % 4 != 3);
        f.Warm(Region);
        for (var k = 1; k < Pages; k++)
        {
            var access = k % 4 == 3 ? AccessKind.Read : (AccessKind)(k % 3);
            f.AssertFromCopy(f.Request(Page(Region, k) + 0x18, access));
        }
    }

    /// <summary>
    /// The copy is what answers, not the paging-structure cache: with that cache too small to keep the region after
    /// walks of 256 other regions (through another port, whose copies are its own), the warm entry point still reads
    /// one entry, where an entry point without the copy walks from the top.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void AWarmMissReadsOnlyTheLeafAfterThePagingStructureCacheLostTheRegion(Mode mode, Via via) =>
        WarmMissAfterThePagingStructureCacheLostTheRegion(mode, via, otherMemory: false);

    /// <summary>
    /// The same over a memory that is not a <see cref="SparsePhysicalMemory"/>: its copies keep no frame array and ask
    /// the memory for the leaf table on every miss.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void AWarmMissOverAnyMemoryReadsOnlyTheLeaf(Mode mode, Via via) =>
        WarmMissAfterThePagingStructureCacheLostTheRegion(mode, via, otherMemory: true);

    private static void WarmMissAfterThePagingStructureCacheLostTheRegion(Mode mode, Via via, bool otherMemory)
    {
        const int evicting = 256;
        var f = new Fixture(mode, via, options: new TranslationUnitOptions { PagingStructureEntries = 64 }, trapping: otherMemory);
        f.MapRegion(Region, OldFrame);
        for (var i = 0; i < evicting; i++)
        {
            f.Map(Elsewhere(i), NewFrame + ((ulong)i << 12));
        }
        f.Warm(Region);
        var other = f.Unit.OpenPort();
        for (var i = 0; i < evicting; i++)
        {
            Assert.True(other.Translate(f.Request(Elsewhere(i))).IsSuccess);
        }

        f.AssertFromCopy(f.Request(Page(Region, 1)));
        var control = f.Unit.OpenPort().Translate(f.Request(Page(Region, 2)));
        Assert.True(control.IsSuccess && control.TableReads > 1,
            $"a port without the copy read {control.TableReads} entries: the paging-structure cache still held the region");

        static ulong Elsewhere(int i) => 0x4000_0000 + ((ulong)i << 21);
    }

    /// <summary>
    /// A region that one 2 MiB leaf maps leaves no copy of its level-2 table as if it were a level-1 table: its other
    /// 4 KiB pages are IOTLB misses of their own (the IOTLB tags the 4 KiB page touched) and translate as the walk does.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void TheOtherPagesOfALargePageTranslateAsTheWalk(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        f.Rig.Builder.MapSecondStage(f.Root, 4, Region, OldFrame, PageSize.Size2M);
        f.Warm(Region);
        for (var k = 1; k < Pages; k++)
        {
            Assert.Equal(OldFrame + ((ulong)k << 12) + 8, f.Check(f.Request(Page(Region, k) + 8, (AccessKind)(k % 3))).Address);
        }
    }

    // -----------------------------------------------------------------------------------------------------------------
    // The copy steps aside: the walk decides
    // -----------------------------------------------------------------------------------------------------------------

    /// <summary>A page of a warm region whose leaf is not present faults as the walk does; the next page still uses the copy.</summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void ANotPresentLeafInAWarmRegionFaultsAsTheWalkDoes(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        f.MapRegion(Region, OldFrame);
        f.Memory.Write64(f.Slot(Page(Region, 1)), 0);
        f.Warm(Region);
        foreach (var access in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Atomic })
        {
            var result = f.Check(f.Request(Page(Region, 1) + 0x10, access));
            Assert.Equal(f.Fault(FaultReason.SssNotPresent, access == AccessKind.Write ? FaultReason.LgnNoWrite : FaultReason.LgnNoRead),
                result.Fault);
        }
        f.AssertFromCopy(f.Request(Page(Region, 2)));
    }

    /// <summary>Bit 62 is reserved in every second-stage entry: the leaf that sets it faults as in the walk.</summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void ALeafWithReservedBitsInAWarmRegionFaultsAsTheWalkDoes(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        f.MapRegion(Region, OldFrame);
        var slot = f.Slot(Page(Region, 1));
        f.Memory.Write64(slot, f.Memory.Read64(slot) | (1UL << 62));
        f.Warm(Region);
        foreach (var access in new[] { AccessKind.Read, AccessKind.Write })
        {
            Assert.Equal(f.Fault(FaultReason.SssReserved, FaultReason.LssReserved), f.Check(f.Request(Page(Region, 1), access)).Fault);
        }
        f.AssertFromCopy(f.Request(Page(Region, 2)));
    }

    /// <summary>A read warms the region; a write to a read-only page of it still gets its own permission check.</summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void AWriteToAReadOnlyLeafOfAReadWarmedRegionFaultsAndTheReadAfterItUsesTheCopy(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        f.MapRegion(Region, OldFrame, writable: k => k != 1);
        f.Warm(Region);
        foreach (var access in new[] { AccessKind.Write, AccessKind.Atomic })
        {
            Assert.Equal(f.Fault(FaultReason.SgnNoWrite, FaultReason.LgnNoWrite), f.Check(f.Request(Page(Region, 1) + 8, access)).Fault);
        }
        var read = f.AssertFromCopy(f.Request(Page(Region, 1) + 0x10));
        Assert.Equal(AccessRights.Read | AccessRights.User, read.Rights);
        f.AssertFromCopy(f.Request(Page(Region, 2) + 0x10, AccessKind.Write));
    }

    /// <summary>
    /// A read-only level-2 entry above writable leaves: the copy must carry the rights of the levels above the leaf,
    /// so writes fault and reads get read-only rights, as in the walk.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void AReadOnlyUpperLevelDeniesWritesToTheWritableLeavesBelowIt(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        f.MapRegion(Region, OldFrame);
        var pde = f.PdeSlot(Region);
        f.Memory.Write64(pde, f.Memory.Read64(pde) & ~SecondStageEntry.WriteBit);
        f.Warm(Region);
        Assert.Equal(f.Fault(FaultReason.SgnNoWrite, FaultReason.LgnNoWrite), f.Check(f.Request(Page(Region, 1), AccessKind.Write)).Fault);
        Assert.Equal(f.Fault(FaultReason.SgnNoWrite, FaultReason.LgnNoWrite), f.Check(f.Request(Page(Region, 2), AccessKind.Atomic)).Fault);
        var read = f.AssertFromCopy(f.Request(Page(Region, 3)));
        Assert.Equal(AccessRights.Read | AccessRights.User, read.Rights);
        Assert.Equal(f.Fault(FaultReason.SgnNoWrite, FaultReason.LgnNoWrite), f.Check(f.Request(Page(Region, 3), AccessKind.Write)).Fault);
    }

    /// <summary>Outputs at both ends of the interrupt window fault (VT-d §3.15); those just outside it come from the copy.</summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void AnOutputInTheInterruptWindowFaultsAsTheWalkDoes(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        f.MapRegion(Region, OldFrame);
        ulong[] outputs = [0xFEE0_0000, 0xFEEF_F000, 0xFEF0_0000, 0xFEDF_F000];
        for (var i = 0; i < outputs.Length; i++)
        {
            f.Memory.Write64(f.Slot(Page(Region, i + 1)), SecondStageEntry.Leaf(outputs[i], PageSize.Size4K).Value);
        }
        f.Warm(Region);
        for (var i = 0; i < outputs.Length; i++)
        {
            var request = f.Request(Page(Region, i + 1) + 0x20, i % 2 == 0 ? AccessKind.Read : AccessKind.Write);
            if (i < 2)
            {
                Assert.Equal(f.Fault(FaultReason.SgnInterruptRange, FaultReason.LgnInterruptRange), f.Check(request).Fault);
            }
            else
            {
                Assert.Equal(outputs[i] + 0x20, f.AssertFromCopy(request).Address);
            }
        }
    }

    /// <summary>
    /// The 2 MiB region at 0xFEE0_0000 holds the interrupt window (VT-d §3.14) in its lower half only: after a read in
    /// the upper half warmed it, requests without PASID to the lower half are still interrupt messages, even to pages
    /// the tables map; requests with PASID there are DMA and come from the copy.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesAndPaths))]
    public void RequestsWithoutPasidToTheInterruptWindowStayInterruptsAfterTheRestOfItsRegionWarmed(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        ulong[] pages = [0xFEF0_0000, 0xFEE0_1000, 0xFEEF_F000, 0xFEF0_1000];
        for (var i = 0; i < pages.Length; i++)
        {
            f.Map(pages[i], OldFrame + ((ulong)i << 12));
        }
        f.Warm(pages[0]);
        foreach (var page in pages[1..3])
        {
            if (mode == Mode.Pasid)
            {
                f.AssertFromCopy(f.Request(page + 0x40));
                Assert.True(f.Check(f.Request(page + 0x48, AccessKind.Write)).IsSuccess);
                continue;
            }
            foreach (var access in new[] { AccessKind.Read, AccessKind.Write })
            {
                Assert.Equal(TranslationStatus.Interrupt, f.Check(f.Request(page + 0x40, access)).Status);
            }
        }
        f.AssertFromCopy(f.Request(pages[3]));
    }

    /// <summary>
    /// Under SSADE a leaf whose A flag is clear needs the walk's A update (and a write the D update too): the copy must
    /// not answer until the flags are in memory.
    /// </summary>
    [Theory]
    [MemberData(nameof(ScalableModesAndPaths))]
    public void UnderSsadeALeafWithoutTheAccessedFlagIsWalkedAndGetsIt(Mode mode, Via via)
    {
        var f = new Fixture(mode, via, accessedDirty: true);
        f.MapRegion(Region, OldFrame);
        f.Warm(Region);
        f.AssertFlags(Page(Region, 1), accessed: false, dirty: false);
        Assert.True(f.Check(f.Request(Page(Region, 1) + 8)).IsSuccess);
        f.AssertFlags(Page(Region, 1), accessed: true, dirty: false);
        Assert.True(f.Check(f.Request(Page(Region, 2) + 8, AccessKind.Write)).IsSuccess);
        f.AssertFlags(Page(Region, 2), accessed: true, dirty: true);
    }

    /// <summary>
    /// Under SSADE a write to a leaf whose D flag is clear walks and sets it, whether the leaf was never used or was read
    /// from the copy just before (its IOTLB entry then lacks D); a write to a leaf with A and D set comes from the copy.
    /// </summary>
    [Theory]
    [MemberData(nameof(ScalableModesAndPaths))]
    public void UnderSsadeAWriteToALeafWithoutTheDirtyFlagIsWalkedAndSetsIt(Mode mode, Via via)
    {
        var f = new Fixture(mode, via, accessedDirty: true);
        f.MapRegion(Region, OldFrame);
        for (var k = 1; k <= 3; k++)
        {
            var slot = f.Slot(Page(Region, k));
            f.Memory.Write64(slot, f.Memory.Read64(slot) | SecondStageEntry.AccessedBit | (k == 3 ? SecondStageEntry.DirtyBit : 0));
        }
        f.Warm(Region);

        var write = f.Check(f.Request(Page(Region, 1) + 8, AccessKind.Write));
        Assert.Equal((true, 1), (write.IsSuccess, (int)write.FlagWrites));
        f.AssertFlags(Page(Region, 1), accessed: true, dirty: true);

        f.AssertFromCopy(f.Request(Page(Region, 2) + 8));
        f.AssertFlags(Page(Region, 2), accessed: true, dirty: false);
        var afterRead = f.Check(f.Request(Page(Region, 2) + 0x10, AccessKind.Atomic));
        Assert.Equal((true, 1), (afterRead.IsSuccess, (int)afterRead.FlagWrites));
        f.AssertFlags(Page(Region, 2), accessed: true, dirty: true);

        f.AssertFromCopy(f.Request(Page(Region, 3) + 8, AccessKind.Write));
    }

    // -----------------------------------------------------------------------------------------------------------------
    // Keys
    // -----------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Requesters that map one region each to frames of their own — other source ids (another bus, another function),
    /// other PASIDs of one source id (second-stage-only, and a first-stage one beside them) and the request without
    /// PASID — take turns page by page, so each finds the region warmed by the others; each gets its own translation,
    /// and a request with PASID 0 (the RID_PASID) is refused every time.
    /// </summary>
    [Theory]
    [MemberData(nameof(RootModesAndPaths))]
    public void RequestersOfOneRegionNeverShareACopy(RootTableMode rootMode, Via via)
    {
        const ushort otherBus = 0x0110, otherFunction = 0x0011;
        var rig = new TwoStageRig(rootMode);
        var builder = rig.Builder;
        (ushort Sid, uint Pasid, ulong Root, ushort Did, bool FirstStage)[] requesters = rootMode == RootTableMode.Legacy
            ?
            [
                (TwoStageRig.Sid, DmaRequest.NoPasid, rig.SecondStageRoot, TwoStageRig.SecondStageDid, false),
                (otherBus, DmaRequest.NoPasid, builder.AttachLegacy(otherBus, 7), 7, false),
                (otherFunction, DmaRequest.NoPasid, builder.AttachLegacy(otherFunction, 8), 8, false),
            ]
            :
            [
                (TwoStageRig.Sid, DmaRequest.NoPasid, rig.SecondStageRoot, TwoStageRig.SecondStageDid, false),
                (TwoStageRig.Sid, 2, builder.SetupSecondStage(rig.Directory, 2, 5), 5, false),
                (TwoStageRig.Sid, 3, builder.SetupSecondStage(rig.Directory, 3, 6), 6, false),
                (TwoStageRig.Sid, TwoStageRig.FirstStagePasid, rig.FirstStageRoot, TwoStageRig.FirstStageDid, true),
                (otherBus, DmaRequest.NoPasid, builder.SetupSecondStage(builder.AttachScalable(otherBus), 0, 7), 7, false),
                (otherFunction, DmaRequest.NoPasid, builder.SetupSecondStage(builder.AttachScalable(otherFunction), 0, 8), 8, false),
            ];
        for (var r = 0; r < requesters.Length; r++)
        {
            for (var k = 0; k < Pages; k++)
            {
                if (requesters[r].FirstStage)
                {
                    builder.MapFirstStage(requesters[r].Root, 4, Page(Region, k), Frame(r, k), PageSize.Size4K);
                }
                else
                {
                    builder.MapSecondStage(requesters[r].Root, 4, Page(Region, k), Frame(r, k), PageSize.Size4K);
                }
            }
        }
        var entry = new EntryPoint(rig.Unit, via);
        var uncached = new UncachedWalk(builder);
        var ridPasidAsPasid = new DmaRequest(TwoStageRig.Sid, Page(Region, 1), AccessKind.Read, pasid: 0);

        for (var k = 0; k < Pages; k++)
        {
            for (var r = 0; r < requesters.Length; r++)
            {
                var request = new DmaRequest(requesters[r].Sid, Page(Region, k) + 0x28, (AccessKind)(k % 3), requesters[r].Pasid);
                var expected = uncached.Translate(request);
                var result = entry.Translate(request);
                AssertSame(expected, result, request, via);
                Assert.True(result.Address == Frame(r, k) + 0x28 && result.DomainId == requesters[r].Did,
                    $"{request}: {result}, expected 0x{Frame(r, k) + 0x28:x} (did {requesters[r].Did})");
            }
            if (rootMode == RootTableMode.Scalable)
            {
                Assert.Equal(FaultReason.SctPasidEqualsRidPasid, entry.Translate(ridPasidAsPasid).Fault);
            }
        }

        static ulong Frame(int requester, int page) => ((ulong)(requester + 1) << 32) + ((ulong)page << 12);
    }

    /// <summary>
    /// Without SRE a supervisor request (PR=1) is refused (SPT.6) even after user requests of the same PASID warmed the
    /// region, and with SRE a supervisor request's copy serves its own later misses.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void ASupervisorRequestWithoutSreFaultsAfterUserRequestsWarmedItsRegion(Via via)
    {
        var f = new Fixture(Mode.Pasid, via);
        f.MapRegion(Region, OldFrame);
        f.Warm(Region);
        foreach (var access in new[] { AccessKind.Read, AccessKind.Write })
        {
            Assert.Equal(FaultReason.SptSupervisorRequestDisabled, f.Check(f.Request(Page(Region, 1), access, privileged: true)).Fault);
        }
        f.AssertFromCopy(f.Request(Page(Region, 2)));

        var supervisor = new Fixture(Mode.Pasid, via, supervisorRequests: true);
        supervisor.MapRegion(Region, OldFrame);
        Assert.True(supervisor.Translate(supervisor.Request(Region, privileged: true)).IsSuccess);
        supervisor.AssertFromCopy(supervisor.Request(Page(Region, 1), AccessKind.Write, privileged: true));
        supervisor.AssertFromCopy(supervisor.Request(Page(Region, 2)));
    }

    // -----------------------------------------------------------------------------------------------------------------
    // Invalidation
    // -----------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Edits that change what the region's pages translate to, each returning the invalidation VT-d requires after it:
    /// for a paging-structure edit an IOTLB invalidation, for a PASID-table or context entry only the PASID-cache or
    /// context-cache invalidation — the pages the tests then ask for were never in the IOTLB, so nothing else can keep
    /// the old answer.
    /// </summary>
    private static IEnumerable<(string Name, Func<Fixture, InvalidationRequest> Apply)> Edits(Mode mode)
    {
        yield return ("level-2 entry to a new level-1 table, IOTLB page-selective over the region", NewLeafTableUnderTheRegion);
        (string Scope, Func<Fixture, InvalidationRequest> Invalidation)[] contextScopes =
        [
            ("device-selective", f => InvalidationRequest.ContextCacheDevice(f.Did, TwoStageRig.Sid)),
            ("domain-selective", f => new InvalidationRequest(InvalidationKind.ContextCacheDomain, f.Did)),
            ("global", _ => InvalidationRequest.ContextCacheGlobal()),
        ];
        if (mode == Mode.Legacy)
        {
            foreach (var (scope, invalidation) in contextScopes)
            {
                yield return ($"context entry to a new second-stage root, {scope} context cache",
                    f => NewLegacyContext(f, invalidation));
            }
            yield break;
        }
        (string Scope, Func<Fixture, InvalidationRequest> Invalidation)[] pasidScopes =
        [
            ("PASID-selective", f => InvalidationRequest.PasidCachePasid(f.Did, f.PasidEntry)),
            ("domain-selective", f => InvalidationRequest.PasidCacheDomain(f.Did)),
            ("global", _ => InvalidationRequest.PasidCacheGlobal()),
        ];
        foreach (var (scope, invalidation) in pasidScopes)
        {
            yield return ($"PASID entry to a new second-stage root, {scope} PASID cache", f => NewPasidEntryRoot(f, invalidation));
        }
        yield return ("PASID entry to another DID, PASID-selective PASID cache", NewPasidEntryDomain);
        var contextEdit = mode == Mode.RidPasid ? "RID_PRIV set" : "PASIDs disabled";
        foreach (var (scope, invalidation) in contextScopes)
        {
            yield return ($"context entry with {contextEdit}, {scope} context cache", f => NewScalableContext(f, invalidation));
        }
    }

    private static InvalidationRequest NewLeafTableUnderTheRegion(Fixture f)
    {
        f.PointPde(Region, f.NewLeafTable(Region, NewFrame));
        return InvalidationRequest.IotlbPage(f.Did, Region, 9);
    }

    private static InvalidationRequest NewLegacyContext(Fixture f, Func<Fixture, InvalidationRequest> invalidation)
    {
        f.Rig.Builder.SetLegacyContext(TwoStageRig.Sid, ContextEntry.Create(f.Did, 2, f.NewRoot(Region, NewFrame)));
        return invalidation(f);
    }

    private static InvalidationRequest NewPasidEntryRoot(Fixture f, Func<Fixture, InvalidationRequest> invalidation)
    {
        f.SetPasidEntry(Fixture.SecondStageOnly(f.Did, f.NewRoot(Region, NewFrame)));
        return invalidation(f);
    }

    private static InvalidationRequest NewPasidEntryDomain(Fixture f)
    {
        f.SetPasidEntry(Fixture.SecondStageOnly(9, f.Root));
        return InvalidationRequest.PasidCachePasid(f.Did, f.PasidEntry);
    }

    /// <summary>
    /// Requests without PASID become supervisor requests (RID_PRIV), which the RID_PASID entry's SRE=0 refuses;
    /// requests with PASID are refused once the context disables PASIDs.
    /// </summary>
    private static InvalidationRequest NewScalableContext(Fixture f, Func<Fixture, InvalidationRequest> invalidation)
    {
        f.Rig.Builder.SetScalableContext(TwoStageRig.Sid, ScalableModeContextEntry.Create(f.Rig.Directory, 0,
            pasidEnable: f.Mode != Mode.Pasid, ridPriv: f.Mode == Mode.RidPasid));
        return invalidation(f);
    }

    private static Func<Fixture, InvalidationRequest> Edit(Mode mode, string name) => Edits(mode).Single(e => e.Name == name).Apply;

    /// <summary>
    /// A request that overlaps an edit (issued after the edit, before its invalidation returned) gets the old answer or
    /// the new one; every request issued after the invalidation returned gets the new one, as the uncached walk says.
    /// </summary>
    [Theory]
    [MemberData(nameof(EditsAndPaths))]
    public void AfterAnEditsInvalidationEveryPageOfAWarmRegionGetsTheNewAnswer(Mode mode, string edit, Via via)
    {
        var f = new Fixture(mode, via);
        f.MapRegion(Region, OldFrame);
        f.Warm(Region);
        var racing = f.Request(Page(Region, 1) + 8, AccessKind.Write);
        var old = f.Expect(racing);
        var invalidation = Edit(mode, edit)(f);
        var edited = f.Expect(racing);
        Assert.False(Same(old, edited), $"the edit does not change {racing}: {old}");
        var result = f.Translate(racing);
        Assert.True(Same(old, result) || Same(edited, result), $"{racing}: {result} is neither the old {old} nor the new {edited}");

        f.Unit.Invalidate(invalidation);
        for (var k = 2; k < Pages; k++)
        {
            f.Check(f.Request(Page(Region, k) + 8, (AccessKind)(k % 3)));
        }
    }

    /// <summary>
    /// The edit and its invalidation happen while the walk that warms the region is reading its level-1 table: the walk
    /// may answer with the old translation, but the copy it leaves was overtaken and no later request may use it.
    /// </summary>
    [Theory]
    [MemberData(nameof(EditsAndPaths))]
    public void ACopyTakenByAWalkThatAnEditAndItsInvalidationOvertookIsNotUsed(Mode mode, string edit, Via via)
    {
        var f = new Fixture(mode, via, trapping: true);
        f.MapRegion(Region, OldFrame);
        var apply = Edit(mode, edit);
        f.Trap!.Arm(f.LeafTable(Region), () => f.Unit.Invalidate(apply(f)));
        var warm = f.Request(Region + 8);
        var old = f.Expect(warm);
        var result = f.Translate(warm);
        Assert.True(f.Trap.Sprung, "the walk never read the level-1 table");
        var edited = f.Expect(warm);
        Assert.True(Same(old, result) || Same(edited, result), $"{warm}: {result} is neither the old {old} nor the new {edited}");

        for (var k = 1; k < Pages; k++)
        {
            f.Check(f.Request(Page(Region, k) + 8));
        }
    }

    /// <summary>
    /// A fault observer remaps the region's level-2 entry and invalidates it while the burst that warmed the region is
    /// still running: the burst's later request may still be answered from the copy, but what that puts in the IOTLB is
    /// as old as the copy's walk and dies with the invalidation, so the next request sees the new level-1 table.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesAndBursts))]
    public void ABurstStillUsingACopyAnInvalidationOvertookLeavesNothingStaleInTheIotlb(Mode mode, Via via)
    {
        var f = new Fixture(mode, via);
        f.MapRegion(Region, OldFrame);
        var armed = true;
        f.Unit.FaultObserver = (_, _) =>
        {
            if (armed)
            {
                armed = false;
                f.Unit.Invalidate(NewLeafTableUnderTheRegion(f));
            }
        };
        var unmapped = f.Request(0x4000_0000);
        var racing = f.Burst([f.Request(Region), unmapped, f.Request(Page(Region, 1) + 8)])[2];
        Assert.False(armed);
        Assert.True(racing.Address is OldFrame + 0x1008 or NewFrame + 0x1008, $"{racing} is neither the old nor the new translation");

        for (var k = 1; k < Pages; k++)
        {
            Assert.Equal(NewFrame + ((ulong)k << 12) + 8, f.Check(f.Request(Page(Region, k) + 8)).Address);
        }
    }

    /// <summary>
    /// Clearing SRE in the PASID entry of a region that supervisor requests warmed, with only the PASID-cache
    /// invalidation after it: the next supervisor request is refused.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void ClearingSreIsSeenAfterThePasidCacheInvalidationAlone(Via via)
    {
        var f = new Fixture(Mode.Pasid, via, supervisorRequests: true);
        f.MapRegion(Region, OldFrame);
        Assert.True(f.Translate(f.Request(Region, privileged: true)).IsSuccess);
        f.AssertFromCopy(f.Request(Page(Region, 1), privileged: true));

        f.SetPasidEntry(Fixture.SecondStageOnly(f.Did, f.Root));
        f.Unit.Invalidate(InvalidationRequest.PasidCachePasid(f.Did, f.PasidEntry));
        Assert.Equal(FaultReason.SptSupervisorRequestDisabled, f.Check(f.Request(Page(Region, 2), privileged: true)).Fault);
        Assert.True(f.Check(f.Request(Page(Region, 3))).IsSuccess);
    }

    /// <summary>
    /// A fault observer drives the burst's own entry point almost a whole generation cycle (4095) ahead, each
    /// invalidation seen by a translation, while the burst runs: the walks the burst makes after that belong to a
    /// generation no longer current and must leave no copy, or the copy would be found again once the generation
    /// counter came round to it — after a remap and its invalidation. The burst walks eight regions and they are asked
    /// one per generation around the burst's own, so that the test does not depend on the exact count.
    /// </summary>
    [Theory]
    [InlineData(Via.PortBurst)]
    [InlineData(Via.UnitBurst)]
    public void ABurstOutlivedByItsGenerationLeavesNoCopyForTheCounterToComeRoundTo(Via via)
    {
        const int regions = 8;
        const int generations = 4095;
        // The entry point's first call opens generation 1; each invalidation it then sees opens the next.
        const int seenBeforeBurst = 9;
        var f = new Fixture(Mode.RidPasid, via);
        for (var j = 0; j < regions; j++)
        {
            f.MapRegion(RegionAt(j), OldFrame + ((ulong)j << 21));
        }
        // Region 32 takes a PDE slot away from the eight regions' (consecutive regions, consecutive slots); region 40 is unmapped.
        var other = f.Request(RegionAt(32));
        f.Map(RegionAt(32), NewFrame + 0x100_0000);
        var unrelated = InvalidationRequest.IotlbPage(f.Did, 0x7000_0000);
        Assert.True(f.Translate(other).IsSuccess);
        for (var i = 0; i < seenBeforeBurst; i++)
        {
            f.Unit.Invalidate(unrelated);
            f.Translate(other);
        }
        var armed = true;
        f.Unit.FaultObserver = (_, _) =>
        {
            if (!armed)
            {
                return;
            }
            armed = false;
            // Through the wrap to half the regions' count below the burst's generation.
            for (var i = 0; i < generations - (regions / 2); i++)
            {
                f.Unit.Invalidate(unrelated);
                f.Translate(other);
            }
        };
        var burst = f.Burst([f.Request(RegionAt(40)), .. Enumerable.Range(0, regions).Select(j => f.Request(RegionAt(j)))]);
        Assert.False(armed);
        Assert.All(burst[1..], r => Assert.True(r.IsSuccess));

        for (var j = 0; j < regions; j++)
        {
            f.PointPde(RegionAt(j), f.NewLeafTable(RegionAt(j), NewFrame + ((ulong)j << 21)));
        }
        f.Unit.Invalidate(InvalidationRequest.IotlbDomain(f.Did));
        for (var j = 0; j < regions; j++)
        {
            var result = f.Translate(f.Request(Page(RegionAt(j), 1) + 8));
            var expected = NewFrame + ((ulong)j << 21) + 0x1008;
            Assert.True(result.Address == expected, $"region {j}: {result}, expected 0x{expected:x}");
            f.Unit.Invalidate(unrelated);
        }

        static ulong RegionAt(int j) => Region + ((ulong)j << 21);
    }

    // -----------------------------------------------------------------------------------------------------------------
    // Helpers
    // -----------------------------------------------------------------------------------------------------------------

    private static TheoryData<Mode, Via> Combine(IEnumerable<Mode> modes)
    {
        var data = new TheoryData<Mode, Via>();
        foreach (var mode in modes)
        {
            foreach (var via in Enum.GetValues<Via>())
            {
                data.Add(mode, via);
            }
        }
        return data;
    }

    private static ulong Page(ulong region, int k) => region + ((ulong)k << 12);

    private static bool Same(in TranslationResult expected, in TranslationResult actual) =>
        DifferentialWalkTests.Agree(ReferenceResult.FromEngine(expected), ReferenceResult.FromEngine(actual));

    private static void AssertSame(in TranslationResult expected, in TranslationResult actual, DmaRequest request, Via via) =>
        Assert.True(Same(expected, actual) && actual.FlagWrites == expected.FlagWrites,
            $"{request} via {via}: {actual} ({actual.FlagWrites} flag writes), the uncached walk {expected} ({expected.FlagWrites})");

    /// <summary>One of the entry points a <see cref="Via"/> names, on one unit.</summary>
    private sealed class EntryPoint(TranslationUnit unit, Via via)
    {
        private readonly TranslationPort? _port = via is Via.Port or Via.PortBurst ? unit.OpenPort() : null;

        public TranslationResult Translate(DmaRequest request) => via switch
        {
            Via.Port => _port!.Translate(request),
            Via.Unit => unit.Translate(request),
            _ => Burst([request])[0],
        };

        public TranslationResult[] Burst(DmaRequest[] requests)
        {
            var results = new TranslationResult[requests.Length];
            if (_port is null)
            {
                unit.Translate(requests, results);
            }
            else
            {
                _port.Translate(requests, results);
            }
            return results;
        }
    }

    /// <summary>
    /// The uncached walk of a builder's memory as it is now, on a private view so that its A/D writes change nothing;
    /// the reference walker must agree with it.
    /// </summary>
    private sealed class UncachedWalk
    {
        private readonly OverlayMemory _view;
        private readonly TranslationUnit _unit;
        private readonly ReferenceWalker _reference;

        public UncachedWalk(TableBuilder builder)
        {
            _view = new OverlayMemory(builder.Memory);
            _unit = new TranslationUnit(_view, builder.Profile, new TranslationUnitOptions { IotlbEntries = 64, PagingStructureEntries = 64 });
            _unit.SetRootTable(builder.RootTable, builder.Mode);
            _unit.TranslationEnabled = true;
            _reference = builder.CreateReference(_view);
        }

        public TranslationResult Translate(DmaRequest request)
        {
            _view.Reset();
            var walked = _unit.Trace(request).Result;
            _view.Reset();
            var reference = _reference.Translate(request);
            Assert.True(DifferentialWalkTests.Agree(reference, ReferenceResult.FromEngine(walked)),
                $"{request}: the uncached walk says {walked}, the reference walker {reference}");
            return walked;
        }
    }

    /// <summary>Memory that runs an action when a walk first fetches a chosen frame: software acting while a walk is halfway.</summary>
    private sealed class TrappingMemory(IPhysicalMemory inner) : IPhysicalMemory
    {
        private ulong _frame = ulong.MaxValue;
        private Action? _action;

        public bool Sprung { get; private set; }

        public void Arm(ulong address, Action action)
        {
            _frame = address >> 12;
            _action = action;
        }

        public Span<ulong> GetFrame(ulong frameNumber)
        {
            if (frameNumber == _frame && _action is { } action)
            {
                _action = null;
                Sprung = true;
                action();
            }
            return inner.GetFrame(frameNumber);
        }
    }

    /// <summary>
    /// A <see cref="TwoStageRig"/> seen from one <see cref="Mode"/>'s requester through one <see cref="Via"/>: the
    /// requester's second-stage root to map in, its requests, and checks of its answers against the uncached walk.
    /// </summary>
    private sealed class Fixture
    {
        private readonly EntryPoint _entry;
        private readonly UncachedWalk _uncached;

        /// <param name="mode">Whose walks.</param>
        /// <param name="via">Through which entry point.</param>
        /// <param name="accessedDirty">SSADE in the requester's PASID-table entry (scalable modes).</param>
        /// <param name="supervisorRequests">SRE in the requester's PASID-table entry (scalable modes).</param>
        /// <param name="options">A unit of these options instead of the rig's.</param>
        /// <param name="trapping">A unit over a <see cref="TrappingMemory"/> instead of the rig's.</param>
        public Fixture(Mode mode, Via via, bool accessedDirty = false, bool supervisorRequests = false,
            TranslationUnitOptions? options = null, bool trapping = false)
        {
            Mode = mode;
            Via = via;
            Rig = new TwoStageRig(mode == Mode.Legacy ? RootTableMode.Legacy : RootTableMode.Scalable);
            Did = mode == Mode.Pasid ? (ushort)5 : TwoStageRig.SecondStageDid;
            PasidEntry = mode == Mode.Pasid ? 2u : 0u;
            Root = mode == Mode.Pasid ? Rig.Builder.NewFrame() : Rig.SecondStageRoot;
            if (mode != Mode.Legacy)
            {
                SetPasidEntry(SecondStageOnly(Did, Root, accessedDirty, supervisorRequests));
            }
            Trap = trapping ? new TrappingMemory(Rig.Memory) : null;
            if (options is null && Trap is null)
            {
                Unit = Rig.Unit;
            }
            else
            {
                Unit = new TranslationUnit(Trap ?? (IPhysicalMemory)Rig.Memory, Rig.Builder.Profile, options);
                Unit.SetRootTable(Rig.Builder.RootTable, Rig.Builder.Mode);
                Unit.TranslationEnabled = true;
            }
            _entry = new EntryPoint(Unit, via);
            _uncached = new UncachedWalk(Rig.Builder);
        }

        public Mode Mode { get; }

        public Via Via { get; }

        public TwoStageRig Rig { get; }

        public TranslationUnit Unit { get; }

        public TrappingMemory? Trap { get; }

        public SparsePhysicalMemory Memory => Rig.Memory;

        public ushort Did { get; }

        /// <summary>The PASID whose entry the requester's requests use: RID_PASID 0 for requests without PASID.</summary>
        public uint PasidEntry { get; }

        public ulong Root { get; }

        public static PasidTableEntry SecondStageOnly(ushort did, ulong root, bool accessedDirty = false, bool supervisorRequests = false)
        {
            var entry = PasidTableEntry.SecondStage(did, root, 2, accessedDirty);
            return supervisorRequests ? entry with { Q2 = entry.Q2 | 1 } : entry;
        }

        public void SetPasidEntry(PasidTableEntry entry) => Rig.Builder.SetPasidEntry(Rig.Directory, PasidEntry, entry);

        public DmaRequest Request(ulong address, AccessKind access = AccessKind.Read, bool privileged = false) =>
            new(TwoStageRig.Sid, address, access, Mode == Mode.Pasid ? 2 : DmaRequest.NoPasid, privileged);

        public void Map(ulong iova, ulong frame, bool writable = true) =>
            Rig.Builder.MapSecondStage(Root, 4, iova, frame, PageSize.Size4K, writable: writable);

        /// <summary>Maps the region's <see cref="Pages"/> pages to consecutive frames from <paramref name="frames"/>.</summary>
        public void MapRegion(ulong region, ulong frames, Func<int, bool>? writable = null)
        {
            for (var k = 0; k < Pages; k++)
            {
                Map(Page(region, k), frames + ((ulong)k << 12), writable?.Invoke(k) ?? true);
            }
        }

        public ulong Slot(ulong iova) => Rig.Builder.LeafSlot(Root, 4, iova, PageSize.Size4K);

        /// <summary>Host address of the level-2 entry above the region.</summary>
        public ulong PdeSlot(ulong region) => Rig.Builder.LeafSlot(Root, 4, region, PageSize.Size2M);

        public ulong LeafTable(ulong region) => Slot(region) & ~0xFFFUL;

        /// <summary>A level-1 table mapping the region's pages to consecutive frames from <paramref name="frames"/>.</summary>
        public ulong NewLeafTable(ulong region, ulong frames)
        {
            var table = Rig.Builder.NewFrame();
            for (var k = 0; k < Pages; k++)
            {
                Memory.Write64(table + ((ulong)PageTableGeometry.LevelIndex(Page(region, k), 1) * 8),
                    SecondStageEntry.Leaf(frames + ((ulong)k << 12), PageSize.Size4K).Value);
            }
            return table;
        }

        public void PointPde(ulong region, ulong table) => Memory.Write64(PdeSlot(region), SecondStageEntry.Table(table).Value);

        /// <summary>A second-stage root mapping only the region's pages, to consecutive frames from <paramref name="frames"/>.</summary>
        public ulong NewRoot(ulong region, ulong frames)
        {
            var root = Rig.Builder.NewFrame();
            for (var k = 0; k < Pages; k++)
            {
                Rig.Builder.MapSecondStage(root, 4, Page(region, k), frames + ((ulong)k << 12), PageSize.Size4K);
            }
            return root;
        }

        public FaultReason Fault(FaultReason scalable, FaultReason legacy) => Mode == Mode.Legacy ? legacy : scalable;

        public TranslationResult Translate(DmaRequest request) => _entry.Translate(request);

        public TranslationResult[] Burst(DmaRequest[] requests) => _entry.Burst(requests);

        public TranslationResult Expect(DmaRequest request) => _uncached.Translate(request);

        /// <summary>A read of <paramref name="address"/> that must translate: the walk that leaves the region's copy.</summary>
        public void Warm(ulong address)
        {
            var result = Translate(Request(address));
            Assert.True(result.IsSuccess, $"warming 0x{address:x}: {result}");
        }

        /// <summary>Translates <paramref name="request"/>: the uncached walk's answer and flag writes, or the test fails.</summary>
        public TranslationResult Check(DmaRequest request)
        {
            var expected = Expect(request);
            var actual = Translate(request);
            AssertSame(expected, actual, request, Via);
            return actual;
        }

        /// <summary>As <see cref="Check"/>, and the answer is a success that read one table entry, counted as one walk.</summary>
        public TranslationResult AssertFromCopy(DmaRequest request)
        {
            var before = Unit.ReadStatistics();
            var result = Check(request);
            var after = Unit.ReadStatistics();
            Assert.True(result.IsSuccess && result.TableReads == 1 && after.TableReads - before.TableReads == 1
                && after.Walks - before.Walks == 1,
                $"{request} via {Via}: {result} read {result.TableReads} entries ({after.TableReads - before.TableReads} counted, {after.Walks - before.Walks} walks)");
            return result;
        }

        public void AssertFlags(ulong iova, bool accessed, bool dirty)
        {
            var entry = new SecondStageEntry(Memory.Read64(Slot(iova)));
            Assert.True(entry.Accessed == accessed && entry.Dirty == dirty,
                $"leaf of 0x{iova:x}: A={entry.Accessed} D={entry.Dirty}, expected A={accessed} D={dirty}");
        }
    }
}
