using VtdEngine.Hardware;

namespace VtdEngine.Tests.Hardware;

[Trait("Category", "Hardware")]
public class BootTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinuxStyleBootTranslatesRemapsAndRecordsFaults(bool splitWrites)
    {
        var rig = new ScalableRig(splitWrites: splitWrites, boot: false);
        var driver = rig.Driver;

        // Probe: CAP/ECAP as the driver reads them (64-bit reads).
        var cap = driver.Read64(RegisterOffsets.Cap);
        var ecap = driver.Read64(RegisterOffsets.Ecap);
        Assert.Equal(rig.Hardware.Profile.Capability, cap);
        Assert.True((ecap & (1UL << 43)) != 0, "ECAP.SMTS");
        Assert.True((ecap & (1UL << 1)) != 0, "ECAP.QI");
        Assert.Equal(0x10u, driver.Read32(RegisterOffsets.Ver));
        Assert.Equal(16 * (int)((cap >> 24) & 0x3FF), rig.Hardware.FaultRecordingRegisterOffset(0));
        Assert.Equal((16 * (int)((ecap >> 8) & 0x3FF)) + 8, rig.Hardware.IotlbRegisterOffset);

        rig.Boot();
        Assert.Equal(GlobalStatus.RootTablePointerStatus | GlobalStatus.QueuedInvalidationEnableStatus
            | GlobalStatus.TranslationEnableStatus, driver.Status);
        Assert.Equal(rig.Root | (1UL << 10), driver.Read64(RegisterOffsets.Rtaddr));
        Assert.Equal(RootTableMode.Scalable, rig.Hardware.Unit.Mode);
        Assert.Equal(driver.Queue | (1UL << 11), driver.Read64(RegisterOffsets.Iqa)); // DW reads back (QEMU bug 515457757f)
        Assert.Equal(
            [InvalidationKind.ContextCacheGlobal, InvalidationKind.PasidCacheGlobal, InvalidationKind.IotlbGlobal],
            rig.Executed.Select(r => r.Kind));
        Assert.Equal(driver.Read64(RegisterOffsets.Iqt), driver.QueueHead);
        driver.SetupFaultInterrupt(data: 0x4C, address: 0xFEE0_2000);

        // DMA through the second stage.
        const ulong iova = 0x12_3456_7000;
        rig.Map(iova, 0x0ABC_D000);
        var read = rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, iova + 0x10, AccessKind.Read));
        Assert.True(read.IsSuccess, read.ToString());
        Assert.Equal(0x0ABC_D010UL, read.Address);

        // Remap the page, then the invalidation Table 28 asks for after a second-stage PTE change.
        rig.Map(iova, 0x0DEF_0000);
        rig.Executed.Clear();
        Assert.True(driver.Submit(InvalidationRequest.IotlbPage(ScalableRig.DomainId, iova)));
        Assert.Equal([InvalidationRequest.IotlbPage(ScalableRig.DomainId, iova)], rig.Executed);
        var remapped = rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, iova + 0x10, AccessKind.Write));
        Assert.Equal(0x0DEF_0010UL, remapped.Address);

        // A request with PASID 5: PASIDE=1 and the directory entry is present, but the PASID entry is not (SPT.2).
        var fault = rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x7777_7123, AccessKind.Read, pasid: 5, privileged: true));
        Assert.Equal(FaultReason.SptNotPresent, fault.Fault);
        var record = driver.ReadFaultRecord(0);
        Assert.True(record.Fault);
        Assert.Equal(FaultReason.SptNotPresent, record.Reason);
        Assert.Equal(ScalableRig.Sid, record.SourceId);
        Assert.True(record.PasidPresent);
        Assert.Equal(5u, record.PasidValue);
        Assert.True(record.Privileged);
        Assert.Equal(0x7777_7000UL, record.FaultInfo);
        Assert.True(record.Type1); // read
        Assert.False(record.Type2);
        Assert.Equal(AddressType.Untranslated, record.AddressType);
        Assert.Equal(FaultStatus.PrimaryPendingFault, driver.FaultStatus);
        Assert.Equal(0, driver.FaultRecordIndex);
        Assert.Equal([new InterruptMessage(InterruptSource.FaultEvent, 0xFEE0_2000, 0x4C)], driver.Interrupts);

        // A second fault while PPF is set is recorded in the next FRCD but raises no new event.
        var write = rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x9000, AccessKind.Write, pasid: 6));
        Assert.Equal(FaultReason.SptNotPresent, write.Fault);
        var second = driver.ReadFaultRecord(1);
        Assert.True(second.Fault);
        Assert.Equal(AccessKind.Write, second.Access);
        Assert.False(second.Privileged);
        Assert.Single(driver.Interrupts);
        Assert.Equal(0, driver.FaultRecordIndex);

        // Servicing both records clears PPF; the next fault is a new event.
        driver.ClearFaultRecord(0);
        driver.ClearFaultRecord(1);
        Assert.Equal(FaultStatus.None, driver.FaultStatus);
        rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x9000, AccessKind.Atomic, pasid: 6));
        Assert.Equal(2, driver.Interrupts.Count);
        Assert.Equal(2, driver.FaultRecordIndex);
        Assert.Equal(AccessKind.Atomic, driver.ReadFaultRecord(2).Access);
    }

    [Fact]
    public void TranslationDisabledPassesDmaThroughAndTeToggles()
    {
        var rig = new ScalableRig();
        rig.Driver.EnableTranslation(false);
        Assert.False(rig.Hardware.Unit.TranslationEnabled);
        var result = rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x1234_5000, AccessKind.Write));
        Assert.Equal(0x1234_5000UL, result.Address);
        rig.Driver.EnableTranslation();
        Assert.True(rig.Hardware.Unit.TranslationEnabled);
        Assert.Equal(FaultReason.SssNotPresent,
            rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x1234_5000, AccessKind.Write)).Fault);
    }

    [Fact]
    public void RtaddrTakesEffectOnlyOnSrtpAndReservedModesFaultRta1()
    {
        var rig = new ScalableRig();
        rig.Driver.Write64(RegisterOffsets.Rtaddr, rig.Root | (2UL << 10)); // TTM=10: reserved
        Assert.Equal(RootTableMode.Scalable, rig.Hardware.Unit.Mode);
        rig.Driver.GlobalCommand(GlobalStatus.RootTablePointerStatus, set: true);
        Assert.Equal(RootTableMode.Reserved, rig.Hardware.Unit.Mode);
        Assert.Equal(FaultReason.RtaInvalidRootTableAddress,
            rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x1000, AccessKind.Read)).Fault);

        rig.Driver.Write64(RegisterOffsets.Rtaddr, rig.Root | (3UL << 10)); // TTM=11: abort DMA (ECAP.ADMS)
        rig.Driver.GlobalCommand(GlobalStatus.RootTablePointerStatus, set: true);
        Assert.Equal(FaultReason.RtaAbortDma, rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x1000, AccessKind.Read)).Fault);
        Assert.Equal(FaultReason.RtaInvalidRootTableAddress, rig.Hardware.ReadFaultRecord(0).Reason);
        Assert.Equal(FaultReason.RtaAbortDma, rig.Hardware.ReadFaultRecord(1).Reason);
    }
}
