using VtdEngine.Hardware;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Hardware;

[Trait("Category", "Hardware")]
public class QueuedInvalidationTests
{
    private static readonly InvalidationDescriptor s_before = InvalidationDescriptor.Encode(InvalidationRequest.IotlbDomain(1));
    private static readonly InvalidationDescriptor s_after = InvalidationDescriptor.Encode(InvalidationRequest.IotlbDomain(2));

    /// <summary>
    /// Queues [valid, bad, valid, wait] and checks the queue stopped on the bad one: IQE, the IQEI code, IQH on it, the
    /// first executed and nothing after it.
    /// </summary>
    private static void AssertStopsOn(ScalableRig rig, InvalidationDescriptor bad, InvalidationQueueErrorInfo expected)
    {
        var driver = rig.Driver;
        var start = driver.Read64(RegisterOffsets.Iqt);
        var size = driver.WideDescriptors ? 32UL : 16UL;
        rig.Executed.Clear();
        var tail = driver.Place(start, s_before, bad, s_after, InvalidationDescriptor.Wait(driver.StatusPage, 0x5A5A, statusWrite: true));
        driver.Write64(RegisterOffsets.Iqt, tail);
        Assert.Equal(FaultStatus.InvalidationQueueError, driver.FaultStatus & FaultStatus.InvalidationQueueError);
        Assert.Equal(expected, driver.QueueErrorInfo);
        Assert.Equal(start + size, driver.QueueHead);
        Assert.Equal([InvalidationRequest.IotlbDomain(1)], rig.Executed);
        Assert.NotEqual(0x5A5Au, rig.Memory.Read64(driver.StatusPage) & 0xFFFF_FFFF);

        // Writing IQT again does nothing while IQE is set.
        driver.Write64(RegisterOffsets.Iqt, tail);
        Assert.Equal(start + size, driver.QueueHead);
        Assert.Single(rig.Executed);
    }

    public static TheoryData<string> InvalidDescriptors => ["type0", "typeB", "type0x40", "ccReserved", "ccGranularity00",
        "iotlbGranularity00", "iotlbAmBeyondMamv", "piotlbGranularity00", "piotlbGranularity01", "pcGranularity10",
        "waitPd", "waitAboveHaw", "upperQwords", "pageResponseWithoutPrs", "pdevtlbReserved"];

    [Theory]
    [MemberData(nameof(InvalidDescriptors))]
    public void InvalidDescriptorStopsTheQueueOnItself(string name)
    {
        var rig = new ScalableRig();
        var (bad, code) = name switch
        {
            "type0" => (new InvalidationDescriptor(0, 0), InvalidationQueueErrorInfo.InvalidDescriptorType),
            "typeB" => (new InvalidationDescriptor(0xB, 0), InvalidationQueueErrorInfo.InvalidDescriptorType),
            "type0x40" => (new InvalidationDescriptor(4UL << 9 | 1, 0), InvalidationQueueErrorInfo.InvalidDescriptorType),
            "ccReserved" => (new InvalidationDescriptor(0x11 | (1UL << 8), 0), InvalidationQueueErrorInfo.ReservedFieldViolation),
            "ccGranularity00" => (new InvalidationDescriptor(0x01, 0), InvalidationQueueErrorInfo.ReservedFieldViolation),
            "iotlbGranularity00" => (new InvalidationDescriptor(0x02, 0), InvalidationQueueErrorInfo.ReservedFieldViolation),
            "iotlbAmBeyondMamv" => (InvalidationDescriptor.Encode(InvalidationRequest.IotlbPage(3, 0, addressMask: 19)),
                InvalidationQueueErrorInfo.ReservedFieldViolation),
            "piotlbGranularity00" => (new InvalidationDescriptor(0x06 | (5UL << 32), 0), InvalidationQueueErrorInfo.ReservedFieldViolation),
            "piotlbGranularity01" => (new InvalidationDescriptor(0x16 | (5UL << 32), 0), InvalidationQueueErrorInfo.ReservedFieldViolation),
            "pcGranularity10" => (new InvalidationDescriptor(0x27, 0), InvalidationQueueErrorInfo.ReservedFieldViolation),
            "waitPd" => (new InvalidationDescriptor(0x05 | (1UL << 7), 0), InvalidationQueueErrorInfo.ReservedFieldViolation),
            "waitAboveHaw" => (InvalidationDescriptor.Wait(1UL << 60, 1, statusWrite: true), InvalidationQueueErrorInfo.ReservedFieldViolation),
            "upperQwords" => (InvalidationDescriptor.Encode(InvalidationRequest.IotlbGlobal()) with { Q3 = 1 },
                InvalidationQueueErrorInfo.ReservedFieldViolation),
            "pageResponseWithoutPrs" => (new InvalidationDescriptor(0x09, 0), InvalidationQueueErrorInfo.InvalidDescriptorType),
            "pdevtlbReserved" => (new InvalidationDescriptor(0x08, 1UL << 5), InvalidationQueueErrorInfo.ReservedFieldViolation),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        AssertStopsOn(rig, bad, code);
    }

    [Fact]
    public void ClearingIqeResumesAtTheHeadOnceSoftwareFixedTheDescriptor()
    {
        var rig = new ScalableRig();
        var driver = rig.Driver;
        AssertStopsOn(rig, new InvalidationDescriptor(0x0B, 0), InvalidationQueueErrorInfo.InvalidDescriptorType);
        var head = driver.QueueHead;
        // Linux qi_check_fault: overwrite the bad descriptor, then clear IQE (RW1C); hardware resumes at IQH.
        InvalidationDescriptor.Encode(InvalidationRequest.PasidCacheDomain(9)).Write(rig.Memory, driver.Queue + head, wide: true);
        driver.Write32(RegisterOffsets.Fsts, (uint)FaultStatus.InvalidationQueueError);
        Assert.Equal(FaultStatus.None, driver.FaultStatus);
        Assert.Equal(driver.Read64(RegisterOffsets.Iqt), driver.QueueHead);
        Assert.Equal([InvalidationRequest.IotlbDomain(1), InvalidationRequest.PasidCacheDomain(9), InvalidationRequest.IotlbDomain(2)],
            rig.Executed);
        Assert.Equal(0x5A5AUL, rig.Memory.Read64(driver.StatusPage) & 0xFFFF_FFFF);
    }

    [Fact]
    public void TailBeyondTheQueueIsAnInvalidTailPointer()
    {
        var rig = new ScalableRig();
        var head = rig.Driver.QueueHead;
        rig.Executed.Clear();
        rig.Driver.Write64(RegisterOffsets.Iqt, 0x1000); // QS=0: a 4 KiB queue
        Assert.Equal(InvalidationQueueErrorInfo.InvalidTailPointer, rig.Driver.QueueErrorInfo);
        Assert.Equal(FaultStatus.InvalidationQueueError, rig.Driver.FaultStatus);
        Assert.Equal(head, rig.Driver.QueueHead);
        Assert.Empty(rig.Executed);
    }

    [Fact]
    public void TailWithBit4InWideModeIsNotAligned()
    {
        var rig = new ScalableRig();
        var head = rig.Driver.QueueHead;
        rig.Driver.Place(head, s_before, s_after);
        rig.Executed.Clear();
        rig.Driver.Write64(RegisterOffsets.Iqt, head + 0x30);
        Assert.Equal(InvalidationQueueErrorInfo.TailPointerNotAligned, rig.Driver.QueueErrorInfo);
        Assert.Equal(head, rig.Driver.QueueHead);
        Assert.Empty(rig.Executed);
    }

    [Fact]
    public void FetchFromUnbackedMemoryIsAFetchError()
    {
        var rig = new ScalableRig(boot: false);
        rig.Driver.SetRootEntry(rig.Root, RootTableMode.Scalable);
        rig.Driver.Write64(RegisterOffsets.Iqa, (1UL << 40) | (1UL << 11)); // no RAM there
        rig.Driver.GlobalCommand(GlobalStatus.QueuedInvalidationEnableStatus, set: true);
        rig.Driver.Write64(RegisterOffsets.Iqt, 0x40);
        Assert.Equal(InvalidationQueueErrorInfo.DescriptorFetchError, rig.Driver.QueueErrorInfo);
        Assert.Equal(0UL, rig.Driver.QueueHead);
        Assert.Empty(rig.Executed);
    }

    [Fact]
    public void NarrowDescriptorsInScalableModeStopOnTheFirstOne()
    {
        var rig = new ScalableRig(boot: false);
        rig.Driver.SetRootEntry(rig.Root, RootTableMode.Scalable);
        rig.Driver.EnableQueuedInvalidation(wide: false);
        Assert.False(rig.Driver.Submit(InvalidationRequest.IotlbGlobal()));
        Assert.Equal(InvalidationQueueErrorInfo.InvalidDescriptorWidth, rig.Driver.QueueErrorInfo);
        Assert.Equal(0UL, rig.Driver.QueueHead);
        Assert.Empty(rig.Executed);
    }

    [Fact]
    public void ReservedTranslationTableModeIsReported()
    {
        var rig = new ScalableRig();
        rig.Driver.SetRootEntry(rig.Root, RootTableMode.Reserved);
        var head = rig.Driver.QueueHead;
        rig.Executed.Clear();
        Assert.False(rig.Driver.Submit(InvalidationRequest.IotlbGlobal()));
        Assert.Equal(InvalidationQueueErrorInfo.InvalidTranslationTableMode, rig.Driver.QueueErrorInfo);
        Assert.Equal(head, rig.Driver.QueueHead);
        Assert.Empty(rig.Executed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LegacyModeAcceptsTypes1To5AtEitherWidthAndRejectsPasidTypes(bool wide)
    {
        var rig = new ScalableRig(boot: false);
        rig.Driver.SetRootEntry(rig.Root, RootTableMode.Legacy);
        rig.Driver.EnableQueuedInvalidation(wide);
        Assert.True(rig.Driver.Submit(InvalidationRequest.ContextCacheDevice(3, 0x0310, 1), InvalidationRequest.IotlbPage(3, 0x4000, 2),
            InvalidationRequest.DeviceTlb(0x0310, 0x8000), new InvalidationRequest(InvalidationKind.InterruptEntryCache)));
        Assert.Equal(4, rig.Executed.Count);
        Assert.Equal(InvalidationRequest.IotlbPage(3, 0x4000, 2), rig.Executed[1]);
        AssertStopsOn(rig, InvalidationDescriptor.Encode(InvalidationRequest.PasidIotlb(3, 5)), InvalidationQueueErrorInfo.InvalidDescriptorType);
    }

    [Fact]
    public void PageResponsesAreNoOpsWithPageRequestSupport()
    {
        var rig = new ScalableRig(CapabilityProfile.Default with { PageRequests = true });
        rig.Executed.Clear();
        Assert.True(rig.Driver.Submit(new InvalidationDescriptor(0x09 | (0x0310UL << 16), 0), new InvalidationDescriptor(0x0A, 0)));
        Assert.Empty(rig.Executed);
    }

    [Fact]
    public void EveryInvalidationKindRoundTripsThroughItsDescriptor()
    {
        var rig = new ScalableRig();
        InvalidationRequest[] requests =
        [
            InvalidationRequest.ContextCacheGlobal(), new(InvalidationKind.ContextCacheDomain, 4),
            InvalidationRequest.ContextCacheDevice(4, 0x0310, 3), InvalidationRequest.PasidCacheGlobal(),
            InvalidationRequest.PasidCacheDomain(4), InvalidationRequest.PasidCachePasid(4, 0xABCDE), InvalidationRequest.IotlbGlobal(),
            InvalidationRequest.IotlbDomain(4), InvalidationRequest.IotlbPage(4, 0x7_0000_0000, 9, invalidationHint: true),
            InvalidationRequest.PasidIotlb(4, 0xFFFFF), InvalidationRequest.PasidIotlbPage(4, 3, 0x20_0000, 9),
            InvalidationRequest.DeviceTlb(0x0310, 0x1_0000, sizeBit: true), InvalidationRequest.PasidDeviceTlb(0x0310, 77, 0x3000, true),
            new(InvalidationKind.InterruptEntryCache),
        ];
        var deviceTlb = new List<InvalidationRequest>();
        rig.Hardware.Unit.DeviceTlbInvalidationHandler = deviceTlb.Add;
        rig.Executed.Clear();
        Assert.True(rig.Driver.Submit(requests));
        Assert.Equal(requests, rig.Executed);
        Assert.Equal(2, deviceTlb.Count);
    }

    [Fact]
    public void WaitWithStatusWriteAndInterruptBothDoBoth()
    {
        var rig = new ScalableRig();
        var driver = rig.Driver;
        driver.Write32(RegisterOffsets.Iedata, 0x51);
        driver.Write32(RegisterOffsets.Ieaddr, 0xFEE0_3000);
        driver.Write32(RegisterOffsets.Iectl, 0);
        var tail = driver.Place(driver.Read64(RegisterOffsets.Iqt),
            InvalidationDescriptor.Wait(driver.StatusPage + 8, 0xCAFE, statusWrite: true, interrupt: true, fence: true));
        driver.Write64(RegisterOffsets.Iqt, tail);
        Assert.Equal(0xCAFEu, rig.Memory.TryRead32(driver.StatusPage + 8, out var status) ? status : 0);
        Assert.Equal(1u, driver.Read32(RegisterOffsets.Ics));
        Assert.Equal([new InterruptMessage(InterruptSource.InvalidationCompletion, 0xFEE0_3000, 0x51)], driver.Interrupts);
        Assert.Equal(FaultStatus.None, driver.FaultStatus);

        // IWC still set: another IF wait completes without a new event.
        tail = driver.Place(tail, InvalidationDescriptor.Wait(interrupt: true));
        driver.Write64(RegisterOffsets.Iqt, tail);
        Assert.Single(driver.Interrupts);

        // IWC is RW1C; once serviced, the next IF raises a new event.
        driver.Write32(RegisterOffsets.Ics, 0);
        Assert.Equal(1u, driver.Read32(RegisterOffsets.Ics));
        driver.Write32(RegisterOffsets.Ics, 1);
        Assert.Equal(0u, driver.Read32(RegisterOffsets.Ics));
        tail = driver.Place(tail, InvalidationDescriptor.Wait(interrupt: true));
        driver.Write64(RegisterOffsets.Iqt, tail);
        Assert.Equal(2, driver.Interrupts.Count);
    }

    [Fact]
    public void MaskedCompletionEventIsHeldPendingAndSentOnUnmask()
    {
        var rig = new ScalableRig();
        var driver = rig.Driver;
        driver.Write32(RegisterOffsets.Iedata, 0x52);
        Assert.Equal(1u << 31, driver.Read32(RegisterOffsets.Iectl)); // IM is set at reset
        var tail = driver.Place(driver.Read64(RegisterOffsets.Iqt), InvalidationDescriptor.Wait(interrupt: true));
        driver.Write64(RegisterOffsets.Iqt, tail);
        Assert.Empty(driver.Interrupts);
        Assert.Equal((1u << 31) | (1u << 30), driver.Read32(RegisterOffsets.Iectl)); // IM + IP

        driver.Write32(RegisterOffsets.Iectl, 0);
        Assert.Equal([new InterruptMessage(InterruptSource.InvalidationCompletion, 0, 0x52)], driver.Interrupts);
        Assert.Equal(0u, driver.Read32(RegisterOffsets.Iectl));
    }

    [Fact]
    public void StatusWriteToUnbackedMemoryIsDroppedAndTheQueueGoesOn()
    {
        var rig = new ScalableRig();
        rig.Executed.Clear();
        var tail = rig.Driver.Place(rig.Driver.Read64(RegisterOffsets.Iqt),
            InvalidationDescriptor.Wait(1UL << 40, 1, statusWrite: true), s_after);
        rig.Driver.Write64(RegisterOffsets.Iqt, tail);
        Assert.Equal(FaultStatus.None, rig.Driver.FaultStatus);
        Assert.Equal(tail, rig.Driver.QueueHead);
        Assert.Equal([InvalidationRequest.IotlbDomain(2)], rig.Executed);
    }

    [Fact]
    public void QueueErrorRaisesAFaultEventOnlyWhenNoOtherConditionIsPending()
    {
        var rig = new ScalableRig();
        rig.Driver.SetupFaultInterrupt();
        AssertStopsOn(rig, new InvalidationDescriptor(0, 0), InvalidationQueueErrorInfo.InvalidDescriptorType);
        Assert.Single(rig.Driver.Interrupts);
        // IQE pending: a primary fault is recorded but raises no second event.
        rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x5000, AccessKind.Read));
        Assert.True(rig.Driver.ReadFaultRecord(0).Fault);
        Assert.Single(rig.Driver.Interrupts);
    }

    [Fact]
    public void DisablingQiResetsTheHead()
    {
        var rig = new ScalableRig();
        Assert.NotEqual(0UL, rig.Driver.QueueHead);
        rig.Driver.GlobalCommand(GlobalStatus.QueuedInvalidationEnableStatus, set: false);
        Assert.Equal(0UL, rig.Driver.QueueHead);
    }
}
