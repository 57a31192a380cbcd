using VtdEngine.Iotlb;
using VtdEngine.Tables;
using VtdEngine.Tests.Caches;
using VtdEngine.Tests.Reference;
using VtdEngine.Tests.Walker;

namespace VtdEngine.Tests.Engine;

/// <summary>
/// What a <see cref="TranslationPort"/> may keep for itself between calls — copies of IOTLB hits, by requester and
/// page — must never change an answer: every test warms a port (the same request translated more than once, singly
/// and in bursts) and then asks something that a copy kept too long, kept under too loose a key or with rights too
/// loose would answer differently from the unit.
/// </summary>
[Trait("Category", "Caches")]
public class PortCacheTests
{
    /// <summary>
    /// A 4 KiB page and a 2 MiB page the tests map in either stage of a <see cref="TwoStageRig"/>. Their page numbers
    /// differ in the low bits (0x308 against 0x40000–0x40003), so a small page-indexed array keeps copies of both.
    /// </summary>
    private const ulong SmallIova = 0x30_8000;
    private const ulong LargeIova = 0x4000_0000;
    private const ulong OldFrame = 0x8_0000_0000;
    private const ulong NewFrame = 0x9_0000_0000;

    public static TheoryData<bool> Stages => [false, true];

    // -----------------------------------------------------------------------------------------------------------------
    // Rights
    // -----------------------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Stages))]
    public void AWriteToAReadOnlyPageFaultsAsTheUnitAfterTheReadsThatWarmedIt(bool firstStage)
    {
        var rig = new TwoStageRig();
        var port = rig.Unit.OpenPort();
        rig.Map(firstStage, SmallIova, OldFrame, writable: false);
        var read = TwoStageRig.Request(firstStage, SmallIova + 0x40);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(OldFrame + 0x40, port.Translate(read).Address);
        }

        var write = TwoStageRig.Request(firstStage, SmallIova + 0x48, AccessKind.Write);
        var atomic = TwoStageRig.Request(firstStage, SmallIova + 0x50, AccessKind.Atomic);
        Assert.Equal(FaultReason.SgnNoWrite, port.Translate(write).Fault);
        Assert.Equal(FaultReason.SgnNoWrite, port.Translate(atomic).Fault);
        AssertPortAgreesWithUnit(rig.Unit, port, read, write, read, atomic, read, write);
    }

    [Fact]
    public void AFirstStageWriteAfterWarmReadsStillSetsTheDirtyBitInMemory()
    {
        var rig = new TwoStageRig();
        var port = rig.Unit.OpenPort();
        rig.Map(firstStage: true, SmallIova, OldFrame);
        rig.Map(firstStage: true, SmallIova + 0x1000, OldFrame + 0x1000);
        rig.Map(firstStage: true, LargeIova, NewFrame, PageSize.Size2M);

        // Single requests: three reads leave A set and D clear; the write after them must walk and set D.
        var read = TwoStageRig.Request(true, SmallIova + 0x10);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(port.Translate(read).IsSuccess);
        }
        AssertDirty(rig, SmallIova, PageSize.Size4K, expected: false);
        var write = port.Translate(TwoStageRig.Request(true, SmallIova + 0x18, AccessKind.Write));
        Assert.Equal(OldFrame + 0x18, write.Address);
        Assert.Equal(1, write.FlagWrites);
        AssertDirty(rig, SmallIova, PageSize.Size4K, expected: true);

        // In one burst: reads of a page, then a write to it.
        var results = new TranslationResult[4];
        port.Translate(
        [
            TwoStageRig.Request(true, SmallIova + 0x1000), TwoStageRig.Request(true, SmallIova + 0x1008),
            TwoStageRig.Request(true, SmallIova + 0x1010), TwoStageRig.Request(true, SmallIova + 0x1018, AccessKind.Write),
        ], results);
        Assert.All(results, r => Assert.True(r.IsSuccess));
        AssertDirty(rig, SmallIova + 0x1000, PageSize.Size4K, expected: true);

        // A 2 MiB page read through bursts (the window serves its other 4 KiB pages), then written in another 4 KiB page.
        DmaRequest[] reads = [.. Enumerable.Range(0, 4).Select(i => TwoStageRig.Request(true, LargeIova + ((ulong)i << 12)))];
        for (var pass = 0; pass < 2; pass++)
        {
            port.Translate(reads, results);
            Assert.All(results, r => Assert.True(r.IsSuccess));
        }
        AssertDirty(rig, LargeIova, PageSize.Size2M, expected: false);
        Assert.True(port.Translate(TwoStageRig.Request(true, LargeIova + 0x2000, AccessKind.Atomic)).IsSuccess);
        AssertDirty(rig, LargeIova, PageSize.Size2M, expected: true);
    }

    [Fact]
    public void ASecondStageWriteWithAccessedDirtyEnabledAfterWarmReadsStillSetsTheDirtyBitInMemory()
    {
        const uint pasid = 2;
        var rig = new TwoStageRig();
        var root = rig.Builder.SetupSecondStage(rig.Directory, pasid, domainId: 5, accessedDirty: true);
        rig.Builder.MapSecondStage(root, 4, SmallIova, OldFrame, PageSize.Size4K);
        var slot = rig.Builder.LeafSlot(root, 4, SmallIova, PageSize.Size4K);
        var port = rig.Unit.OpenPort();
        var read = new DmaRequest(TwoStageRig.Sid, SmallIova, AccessKind.Read, pasid);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(port.Translate(read).IsSuccess);
        }
        Assert.False(new SecondStageEntry(rig.Memory.Read64(slot)).Dirty);
        var write = port.Translate(new DmaRequest(TwoStageRig.Sid, SmallIova + 8, AccessKind.Write, pasid));
        Assert.Equal(OldFrame + 8, write.Address);
        Assert.True(new SecondStageEntry(rig.Memory.Read64(slot)).Dirty, "the write was served without setting D");
    }

    /// <summary>
    /// Every first-stage rights combination a PASID entry and a leaf can make (SRE, WPE, U/S, R/W), plus RID_PRIV for
    /// requests without PASID: after a port was warmed with one access kind and privilege, every access kind and
    /// privilege gets the unit's answer — supervisor requests are refused without SRE even after a user read hit,
    /// user requests are refused a supervisor page even after a supervisor read hit, and a supervisor write to a
    /// read-only page is allowed exactly when WPE is clear.
    /// </summary>
    [Fact]
    public void SupervisorAndUserRequestsGetTheUnitsAnswersWhateverRequestWarmedThePage()
    {
        const ushort ridPrivSid = 0x0018;
        var rig = new TwoStageRig();
        var builder = rig.Builder;
        var privilegedDirectory = builder.AttachScalable(ridPrivSid, ridPriv: true);
        (ushort Sid, uint Pasid, ulong Root)[] requesters =
        [
            (TwoStageRig.Sid, 2, builder.SetupFirstStage(rig.Directory, 2, 4, supervisorRequests: true)),
            (TwoStageRig.Sid, 3, builder.SetupFirstStage(rig.Directory, 3, 5, supervisorRequests: true, writeProtect: true)),
            (TwoStageRig.Sid, 4, builder.SetupFirstStage(rig.Directory, 4, 6)),
            (ridPrivSid, DmaRequest.NoPasid, builder.SetupFirstStage(privilegedDirectory, 0, 7, supervisorRequests: true)),
        ];
        (bool Writable, bool User)[] pages = [(true, true), (false, true), (true, false), (false, false)];
        foreach (var (_, _, root) in requesters)
        {
            for (var p = 0; p < pages.Length; p++)
            {
                builder.MapFirstStage(root, 4, SmallIova + ((ulong)p << 12), OldFrame + ((ulong)p << 12), PageSize.Size4K,
                    pages[p].Writable, pages[p].User);
            }
        }
        var unit = rig.Unit;
        var port = unit.OpenPort();

        foreach (var (sid, pasid, _) in requesters)
        {
            for (var p = 0; p < pages.Length; p++)
            {
                // A request without PASID carries no privilege of its own (RID_PRIV decides), whatever its PR flag.
                DmaRequest[] kinds =
                [
                    .. from access in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Atomic }
                    from privileged in new[] { false, true }
                    select new DmaRequest(sid, SmallIova + ((ulong)p << 12) + 0x20, access, pasid, privileged),
                ];
                foreach (var warm in kinds)
                {
                    unit.FlushAllCaches();
                    port.Translate(warm);
                    port.Translate(warm);
                    AssertPortAgreesWithUnit(unit, port, kinds);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------------------------------
    // Keys
    // -----------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// ATS translation requests and translated requests are never served from what untranslated DMA warmed, nor the
    /// other way round: a translation request reports rights (a denial is a grant of nothing, not a fault), a
    /// translated request passes its address through, and without DTE both fault.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AtsRequestsGetTheUnitsAnswersOnAPageUntranslatedRequestsWarmedAndViceVersa(bool deviceTlb)
    {
        var rig = new TwoStageRig(deviceTlb: deviceTlb);
        var unit = rig.Unit;
        var port = unit.OpenPort();
        foreach (var firstStage in new[] { false, true })
        {
            rig.Map(firstStage, SmallIova, OldFrame, writable: false);
            foreach (var page in new[] { TwoStageRig.FixedIova, SmallIova })
            {
                var address = page + 0x28;
                DmaRequest[] untranslated =
                [
                    TwoStageRig.Request(firstStage, address), TwoStageRig.Request(firstStage, address, AccessKind.Write),
                ];
                DmaRequest[] ats =
                [
                    .. from type in new[] { AddressType.TranslationRequest, AddressType.Translated }
                    from access in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Atomic }
                    select TwoStageRig.Request(firstStage, address, access, addressType: type),
                ];
                foreach (var (warm, probes) in new[] { (untranslated, ats), (ats, untranslated) })
                {
                    unit.FlushAllCaches();
                    foreach (var request in warm.Concat(warm))
                    {
                        port.Translate(request);
                    }
                    AssertPortAgreesWithUnit(unit, port, [.. probes, .. warm, .. probes]);
                }
            }
        }
    }

    /// <summary>
    /// Seven requesters map the same 1024 IOVA pages to frames of their own, so in any small per-port array their
    /// copies land on each other's slots: other source-ids (another bus, another function), other PASIDs of one
    /// source-id (one differing only in bit 12), and a request without PASID beside PASID 0 and beside its own
    /// RID_PASID (5), which as a request PASID is refused. Each must get its own translation every time.
    /// </summary>
    [Fact]
    public void RequestersWhosePagesAliasEachGetTheirOwnTranslation()
    {
        const int pages = 1024;
        const ushort a = 0x0010, b = 0x0110, c = 0x0011;
        const ulong iova = 0x100_0000;
        var builder = new TableBuilder();
        var directoryA = builder.AttachScalable(a, ridPasid: 5);
        var directoryB = builder.AttachScalable(b);
        var directoryC = builder.AttachScalable(c);
        (ushort Sid, uint Pasid, ulong Root, bool FirstStage)[] requesters =
        [
            (a, DmaRequest.NoPasid, builder.SetupSecondStage(directoryA, 5, 1), false),
            (a, 0, builder.SetupFirstStage(directoryA, 0, 2), true),
            (a, 1, builder.SetupFirstStage(directoryA, 1, 3), true),
            (a, 0x1001, builder.SetupFirstStage(directoryA, 0x1001, 4), true),
            (b, DmaRequest.NoPasid, builder.SetupSecondStage(directoryB, 0, 5), false),
            (b, 1, builder.SetupFirstStage(directoryB, 1, 6), true),
            (c, DmaRequest.NoPasid, builder.SetupSecondStage(directoryC, 0, 7), false),
        ];
        for (var r = 0; r < requesters.Length; r++)
        {
            var (_, _, root, firstStage) = requesters[r];
            for (var page = 0; page < pages; page++)
            {
                var input = iova + ((ulong)page << 12);
                if (firstStage)
                {
                    builder.MapFirstStage(root, 4, input, Frame(r, page), PageSize.Size4K);
                }
                else
                {
                    builder.MapSecondStage(root, 4, input, Frame(r, page), PageSize.Size4K);
                }
            }
        }
        var port = builder.CreateUnit().OpenPort();
        var ridPasidAsPasid = new DmaRequest(a, iova, AccessKind.Read, pasid: 5);

        // Singly, twice over, every requester's page p in turn: each request's slot was last filled by another requester.
        for (var round = 0; round < 2; round++)
        {
            for (var page = 0; page < pages; page++)
            {
                for (var r = 0; r < requesters.Length; r++)
                {
                    var access = (page + round) % 3 == 0 ? AccessKind.Write : AccessKind.Read;
                    var request = new DmaRequest(requesters[r].Sid, iova + ((ulong)page << 12) + 8, access, requesters[r].Pasid);
                    Check(r, page, request, port.Translate(request));
                }
            }
            Assert.Equal(FaultReason.SctPasidEqualsRidPasid, port.Translate(ridPasidAsPasid).Fault);
        }

        // In bursts: every requester's page p next to each other, 256 pages apart between bursts.
        var burst = new DmaRequest[requesters.Length * 2];
        var results = new TranslationResult[burst.Length];
        for (var round = 0; round < 2; round++)
        {
            for (var k = 0; k < pages; k++)
            {
                var page = ((k * 256) + (k / 4)) % pages;
                for (var i = 0; i < burst.Length; i++)
                {
                    var (sid, pasid, _, _) = requesters[i % requesters.Length];
                    burst[i] = new DmaRequest(sid, iova + ((ulong)page << 12) + ((ulong)i * 8), AccessKind.Read, pasid);
                }
                port.Translate(burst, results);
                for (var i = 0; i < burst.Length; i++)
                {
                    Check(i % requesters.Length, page, burst[i], results[i]);
                }
            }
        }

        static ulong Frame(int requester, int page) => ((ulong)(requester + 1) << 32) + ((ulong)page << 12);

        void Check(int requester, int page, DmaRequest request, TranslationResult result)
        {
            var expected = Frame(requester, page) + (request.Address & 0xFFF);
            if (!result.IsSuccess || result.Address != expected || result.DomainId != requester + 1)
            {
                Assert.Fail($"{request}: {result}, expected 0x{expected:x} (did {requester + 1})");
            }
        }
    }

    // -----------------------------------------------------------------------------------------------------------------
    // Invalidation
    // -----------------------------------------------------------------------------------------------------------------

    /// <summary>Every way software can end a cached translation of the stage's pages, by name.</summary>
    public static TheoryData<bool, string> Invalidations()
    {
        var data = new TheoryData<bool, string>();
        foreach (var firstStage in new[] { false, true })
        {
            foreach (var (kind, _) in RemapStress.CoveringInvalidations(firstStage, SmallIova))
            {
                data.Add(firstStage, kind);
            }
            foreach (var kind in s_unitFlushes.Keys)
            {
                data.Add(firstStage, kind);
            }
        }
        return data;
    }

    /// <summary>What drops every cached translation besides a global invalidation (VT-d §10.4.4 SRTP with ESRTPS, TE).</summary>
    private static readonly Dictionary<string, Action<TranslationUnit>> s_unitFlushes = new()
    {
        ["flush all caches"] = unit => unit.FlushAllCaches(),
        ["set the same root table"] = unit => unit.SetRootTable(unit.RootTableAddress, unit.Mode),
        ["re-enable translation"] = unit => unit.TranslationEnabled = true,
    };

    /// <summary>
    /// A 4 KiB page and a 2 MiB page warm in a port (singly, and the large one's 4 KiB pages through the burst
    /// window), remapped, then invalidated in one of the ways that cover them: the next single request and the next
    /// burst see only the new frames.
    /// </summary>
    [Theory]
    [MemberData(nameof(Invalidations))]
    public void EveryInvalidationCoveringAPageEndsAWarmPortsCopyOfIt(bool firstStage, string kind)
    {
        var (unit, port, requests) = WarmPageAndLargePage(firstStage, out var remap);

        remap(true);
        if (s_unitFlushes.TryGetValue(kind, out var flush))
        {
            flush(unit);
        }
        else
        {
            unit.Invalidate(RemapStress.CoveringInvalidations(firstStage, SmallIova).Single(c => c.Kind == kind).Request);
            unit.Invalidate(RemapStress.CoveringInvalidations(firstStage, LargeIova, 9).Single(c => c.Kind == kind).Request);
        }
        AssertTranslateTo(port, requests, NewFrame, warm: false);
    }

    /// <summary>
    /// A remap without its invalidation may be seen or not — each request gets the old translation or the new one
    /// (here read-only: a write either goes to the old frame or faults), never anything else — and once the
    /// invalidation returned, only the new one.
    /// </summary>
    [Theory]
    [MemberData(nameof(Stages))]
    public void ARemapWithoutInvalidationYieldsTheOldOrTheNewTranslationAndAfterItOnlyTheNew(bool firstStage)
    {
        var (unit, port, requests) = WarmPageAndLargePage(firstStage, out var remap);

        remap(false);
        var results = new TranslationResult[requests.Length];
        for (var round = 0; round < 8; round++)
        {
            port.Translate(requests, results);
            for (var i = 0; i < requests.Length; i++)
            {
                CheckOldOrNew(requests[i], results[i], "burst");
                CheckOldOrNew(requests[i], port.Translate(requests[i]), "single");
            }
        }

        unit.Invalidate(TwoStageRig.PageInvalidation(firstStage, SmallIova));
        unit.Invalidate(TwoStageRig.PageInvalidation(firstStage, LargeIova, 9));
        port.Translate(requests, results);
        for (var i = 0; i < requests.Length; i++)
        {
            AssertNew(requests[i], results[i]);
            AssertNew(requests[i], port.Translate(requests[i]));
        }

        static void CheckOldOrNew(DmaRequest request, TranslationResult result, string path)
        {
            var old = result.IsSuccess && result.Address == Expected(request, OldFrame) && (result.Rights & AccessRights.Write) != 0;
            var isNew = request.Access == AccessKind.Read
                ? result.IsSuccess && result.Address == Expected(request, NewFrame) && (result.Rights & AccessRights.Write) == 0
                : result.Fault == FaultReason.SgnNoWrite;
            Assert.True(old || isNew, $"{path} {request}: {result} is neither the old nor the new translation");
        }

        static void AssertNew(DmaRequest request, TranslationResult result)
        {
            if (request.Access == AccessKind.Read)
            {
                Assert.Equal(Expected(request, NewFrame), result.Address);
            }
            else
            {
                Assert.Equal(FaultReason.SgnNoWrite, result.Fault);
            }
        }
    }

    /// <summary>
    /// More invalidations than a port has generations (4096), each seen by the port between hits on another page,
    /// leave it working: a page warm before them still translates, and when it is warm again after them, a remap with
    /// its invalidation is seen at once.
    /// </summary>
    [Fact]
    public void AWarmPortSeesARemapAfterMoreInvalidationsThanItHasGenerations()
    {
        var rig = new TwoStageRig();
        var unit = rig.Unit;
        var port = unit.OpenPort();
        rig.Map(false, SmallIova, OldFrame);
        DmaRequest[] page = [TwoStageRig.Request(false, SmallIova + 0x30)];
        // Another page, its number unlike the page's in the low bits, so a page-indexed array keeps the page's copy.
        var other = TwoStageRig.Request(false, TwoStageRig.FixedIova + 0x1000);
        AssertTranslateTo(port, page, OldFrame, warm: true);
        var unrelated = InvalidationRequest.IotlbPage(TwoStageRig.SecondStageDid, 0x7000_0000);
        for (var i = 1; i <= 3 * 4096; i++)
        {
            unit.Invalidate(unrelated);
            Assert.Equal(TwoStageRig.FixedBase + 0x1000, port.Translate(other).Address);
            if (i % 1000 == 0)
            {
                AssertTranslateTo(port, page, OldFrame, warm: true);
            }
        }

        AssertTranslateTo(port, page, OldFrame, warm: true);
        rig.Remap(false, SmallIova, NewFrame);
        unit.Invalidate(TwoStageRig.PageInvalidation(false, SmallIova));
        AssertTranslateTo(port, page, NewFrame, warm: false);
    }

    /// <summary>
    /// A port's copy made before a remap and its invalidation must not come back a whole generation cycle later: 64
    /// pages warm, remapped and invalidated at once, then invalidation after invalidation, each seen by the port on
    /// another page, and one of the 64 pages asked after each of the counts around 4096 (wherever the generation
    /// counter comes round to the one the copies were made in) — every one gets its new frame.
    /// </summary>
    [Fact]
    public void ACopyMadeAWholeGenerationCycleAgoDoesNotComeBack()
    {
        const int victims = 64;
        const int cycle = 4096;
        const ulong victimIova = 0x1000_0000;
        var rig = new TwoStageRig();
        var unit = rig.Unit;
        var port = unit.OpenPort();
        var requests = new DmaRequest[victims];
        for (var k = 0; k < victims; k++)
        {
            rig.Map(false, victimIova + ((ulong)k << 12), OldFrame + ((ulong)k << 12));
            requests[k] = TwoStageRig.Request(false, victimIova + ((ulong)k << 12) + 0x10);
        }
        AssertTranslateTo(port, requests, r => OldFrame + (r.Address - victimIova), warm: true);
        for (var k = 0; k < victims; k++)
        {
            rig.Remap(false, victimIova + ((ulong)k << 12), NewFrame + ((ulong)k << 12));
        }
        unit.Invalidate(InvalidationRequest.IotlbDomain(TwoStageRig.SecondStageDid));

        // Another page (slot 0x80 of a page-indexed array, away from the victims' 0..63) lets the port see each invalidation.
        var other = TwoStageRig.Request(false, victimIova + 0x8_0000);
        rig.Map(false, other.Address & ~0xFFFUL, OldFrame + 0x8_0000);
        var unrelated = InvalidationRequest.IotlbPage(TwoStageRig.SecondStageDid, 0x7000_0000);
        for (var i = 0; i < cycle + (victims / 2); i++)
        {
            unit.Invalidate(unrelated);
            port.Translate(other);
            var k = i - (cycle - (victims / 2));
            if (k >= 0)
            {
                var result = port.Translate(requests[k]);
                Assert.True(result.Address == NewFrame + ((ulong)k << 12) + 0x10,
                    $"page {k} after {i + 1} invalidations: {result}, expected 0x{NewFrame + ((ulong)k << 12) + 0x10:x}");
            }
        }
    }

    /// <summary>
    /// When the IOTLB's 32-bit invalidation clock nears wrap, the invalidation that reaches the limit becomes a full
    /// reset and takes none of the usual paths: a warm port must see it all the same.
    /// </summary>
    [Theory]
    [MemberData(nameof(Stages))]
    public void AWarmPortSeesAnInvalidationThatBecameTheIotlbsWrapReset(bool firstStage)
    {
        var (unit, port, requests) = WarmPageAndLargePage(firstStage, out var remap);

        remap(true);
        // One invalidation covering both pages, and it is the reset: any later one would hide a reset the port missed.
        var iotlb = unit.IotlbForTest;
        iotlb.ClockForTest = IoTlb.WrapLimit - 1;
        unit.Invalidate(InvalidationRequest.IotlbDomain(TwoStageRig.Did(firstStage)));
        Assert.Equal(0u, iotlb.ClockForTest);
        AssertTranslateTo(port, requests, NewFrame, warm: false);
    }

    [Theory]
    [MemberData(nameof(Stages))]
    public void TurningTranslationOffAfterWarmHitsPassesEveryRequestThrough(bool firstStage)
    {
        var (unit, port, requests) = WarmPageAndLargePage(firstStage, out _);

        unit.TranslationEnabled = false;
        var results = new TranslationResult[requests.Length];
        port.Translate(requests, results);
        for (var i = 0; i < requests.Length; i++)
        {
            var single = port.Translate(requests[i]);
            Assert.Equal((TranslationStatus.Success, requests[i].Address), (results[i].Status, results[i].Address));
            Assert.Equal((TranslationStatus.Success, requests[i].Address), (single.Status, single.Address));
        }

        unit.TranslationEnabled = true;
        AssertTranslateTo(port, requests, OldFrame, warm: false);
    }

    /// <summary>
    /// SRTP to another set of tables after warm hits: a scalable set that maps the pages elsewhere, then a legacy set
    /// (where requests with PASID fault); the port uses whichever tables are latched.
    /// </summary>
    [Fact]
    public void ANewRootTableAfterWarmHitsIsUsedAtOnce()
    {
        const ulong tableBytes = 8 << 20;
        var memory = new SparsePhysicalMemory(3 * tableBytes);
        var first = new TwoStageRig(new TableBuilder(memory, 0, tableBytes, null, RootTableMode.Scalable));
        var second = new TwoStageRig(new TableBuilder(memory, tableBytes, tableBytes, null, RootTableMode.Scalable));
        var legacy = new TwoStageRig(new TableBuilder(memory, 2 * tableBytes, tableBytes, null, RootTableMode.Legacy));
        foreach (var stage in new[] { false, true })
        {
            first.Map(stage, SmallIova, OldFrame);
            first.Map(stage, LargeIova, OldFrame + 0x20_0000, PageSize.Size2M);
            second.Map(stage, SmallIova, NewFrame);
            second.Map(stage, LargeIova, NewFrame + 0x20_0000, PageSize.Size2M);
        }
        legacy.Map(false, SmallIova, NewFrame + 0x100_0000);
        var unit = first.Unit;
        var port = unit.OpenPort();
        var secondStage = PageAndLargePageRequests(false);
        var firstStage = PageAndLargePageRequests(true);
        AssertTranslateTo(port, [.. secondStage, .. firstStage], OldFrame, warm: true);

        unit.SetRootTable(second.Builder.RootTable, RootTableMode.Scalable);
        AssertTranslateTo(port, [.. secondStage, .. firstStage], NewFrame, warm: true);

        unit.SetRootTable(legacy.Builder.RootTable, RootTableMode.Legacy);
        AssertTranslateTo(port, [secondStage[0], secondStage[1]], NewFrame + 0x100_0000, warm: false);
        Assert.All(firstStage, r => Assert.Equal(FaultReason.RtaPasidInLegacyMode, port.Translate(r).Fault));
    }

    /// <summary>
    /// A 2 MiB page whose output meets the interrupt window (VT-d §3.15) and one whose input holds it (§3.14): after
    /// warm hits on a page that translates, the pages of the window still fault or are interrupts, as the unit says.
    /// </summary>
    [Fact]
    public void LargePagesMeetingTheInterruptWindowAreStillServedPageByPageWhenWarm()
    {
        var rig = new TwoStageRig();
        var unit = rig.Unit;
        var port = unit.OpenPort();
        rig.Map(false, 0x40_0000, 0xFEE0_0000, PageSize.Size2M);
        rig.Map(false, 0xFEE0_0000, NewFrame, PageSize.Size2M);
        DmaRequest[] requests =
        [
            TwoStageRig.Request(false, 0x50_0000), TwoStageRig.Request(false, 0x50_1000, AccessKind.Write),
            TwoStageRig.Request(false, 0x40_0000), TwoStageRig.Request(false, 0x4F_F000, AccessKind.Write),
            TwoStageRig.Request(false, 0xFEF0_0000), TwoStageRig.Request(false, 0xFEF0_1000, AccessKind.Write),
            TwoStageRig.Request(false, 0xFEE0_0000), TwoStageRig.Request(false, 0xFEEF_F000, AccessKind.Write),
        ];
        AssertPortAgreesWithUnit(unit, port, [.. requests, .. requests]);
        Assert.Equal(FaultReason.SgnInterruptRange, port.Translate(requests[2]).Fault);
        Assert.Equal(TranslationStatus.Interrupt, port.Translate(requests[6]).Status);
    }

    // -----------------------------------------------------------------------------------------------------------------
    // Helpers
    // -----------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// A rig with the 4 KiB page and the 2 MiB page of the stage mapped at <see cref="OldFrame"/> and warm in a port;
    /// <paramref name="remap"/>(writable) moves both to <see cref="NewFrame"/> without invalidating.
    /// </summary>
    private static (TranslationUnit Unit, TranslationPort Port, DmaRequest[] Requests) WarmPageAndLargePage(bool firstStage,
        out Action<bool> remap)
    {
        var rig = new TwoStageRig();
        var port = rig.Unit.OpenPort();
        rig.Map(firstStage, SmallIova, OldFrame);
        rig.Map(firstStage, LargeIova, OldFrame + 0x20_0000, PageSize.Size2M);
        var requests = PageAndLargePageRequests(firstStage);
        AssertTranslateTo(port, requests, OldFrame, warm: true);
        remap = writable =>
        {
            rig.Remap(firstStage, SmallIova, NewFrame, writable: writable);
            rig.Remap(firstStage, LargeIova, NewFrame + 0x20_0000, PageSize.Size2M, writable);
        };
        return (rig.Unit, port, requests);
    }

    /// <summary>Reads and writes of the 4 KiB page and of four 4 KiB pages of the 2 MiB page, interleaved.</summary>
    private static DmaRequest[] PageAndLargePageRequests(bool firstStage) =>
    [
        TwoStageRig.Request(firstStage, SmallIova + 0x10),
        TwoStageRig.Request(firstStage, SmallIova + 0x18, AccessKind.Write),
        .. Enumerable.Range(0, 4).SelectMany(i => new[]
        {
            TwoStageRig.Request(firstStage, LargeIova + ((ulong)i << 12) + 0x20),
            TwoStageRig.Request(firstStage, LargeIova + ((ulong)i << 12) + 0x28, i == 3 ? AccessKind.Atomic : AccessKind.Read),
        }),
    ];

    /// <summary>The address <paramref name="request"/> translates to when its pages map at <paramref name="frames"/>.</summary>
    private static ulong Expected(DmaRequest request, ulong frames) =>
        frames + (request.Address & (request.Address >= LargeIova ? 0x1F_FFFFUL : 0xFFFUL)) + (request.Address >= LargeIova ? 0x20_0000UL : 0);

    /// <summary>
    /// Translates <paramref name="requests"/> through the port as a burst and one by one (twice each with
    /// <paramref name="warm"/>, so copies the port keeps are used); all must land at <paramref name="frames"/> (see
    /// <see cref="Expected"/>).
    /// </summary>
    private static void AssertTranslateTo(TranslationPort port, DmaRequest[] requests, ulong frames, bool warm) =>
        AssertTranslateTo(port, requests, request => Expected(request, frames), warm);

    private static void AssertTranslateTo(TranslationPort port, DmaRequest[] requests, Func<DmaRequest, ulong> expectedOf, bool warm)
    {
        var results = new TranslationResult[requests.Length];
        for (var pass = 0; pass < (warm ? 2 : 1); pass++)
        {
            port.Translate(requests, results);
            for (var i = 0; i < requests.Length; i++)
            {
                var single = port.Translate(requests[i]);
                var expected = expectedOf(requests[i]);
                Assert.True(results[i].Address == expected && single.Address == expected,
                    $"{requests[i]}: burst {results[i]}, single {single}, expected 0x{expected:x}");
            }
        }
    }

    /// <summary>Each request through the port then the unit, singly, then all through the port as a burst: identical results.</summary>
    private static void AssertPortAgreesWithUnit(TranslationUnit unit, TranslationPort port, params DmaRequest[] requests)
    {
        foreach (var request in requests)
        {
            AssertSame(request, port.Translate(request), unit.Translate(request), "single");
        }
        var results = new TranslationResult[requests.Length];
        port.Translate(requests, results);
        for (var i = 0; i < requests.Length; i++)
        {
            AssertSame(requests[i], results[i], unit.Translate(requests[i]), $"burst #{i}");
        }

        static void AssertSame(DmaRequest request, TranslationResult viaPort, TranslationResult viaUnit, string path)
        {
            if (!DifferentialWalkTests.Agree(ReferenceResult.FromEngine(viaUnit), ReferenceResult.FromEngine(viaPort)))
            {
                Assert.Fail($"{path} {request} ({request.AddressType}): unit {viaUnit}, port {viaPort}");
            }
        }
    }

    private static void AssertDirty(TwoStageRig rig, ulong iova, PageSize size, bool expected) =>
        Assert.True(new FirstStageEntry(rig.Memory.Read64(rig.Slot(true, iova, size))).Dirty == expected,
            $"D of the first-stage leaf for 0x{iova:x} is {!expected}");

}
