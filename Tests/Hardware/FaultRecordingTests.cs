using VtdEngine.Hardware;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Hardware;

[Trait("Category", "Hardware")]
public class FaultRecordingTests
{
    private static DmaRequest Unmapped(ulong address) => new(ScalableRig.Sid, address, AccessKind.Write);

    [Fact]
    public void FaultsBeyondTheRecordingRegistersOverflowOnce()
    {
        var rig = new ScalableRig();
        var driver = rig.Driver;
        driver.SetupFaultInterrupt();
        var n = rig.Hardware.FaultRecordingRegisterCount;
        Assert.Equal(8, n);
        for (var i = 0; i < n; i++)
        {
            rig.Hardware.Translate(Unmapped((ulong)i << 12));
        }
        Assert.All(Enumerable.Range(0, n), i => Assert.Equal((ulong)i << 12, driver.ReadFaultRecord(i).FaultInfo));
        Assert.Equal(FaultStatus.PrimaryPendingFault, driver.FaultStatus);

        // NFR+1 unserviced faults: the index has wrapped onto a full FRCD, so PFO is set and the fault dropped.
        rig.Hardware.Translate(Unmapped(0x99_9000));
        Assert.Equal(FaultStatus.PrimaryPendingFault | FaultStatus.PrimaryFaultOverflow, driver.FaultStatus);
        Assert.Equal(0UL, driver.ReadFaultRecord(0).FaultInfo);
        Assert.Single(driver.Interrupts);

        // While PFO is set every fault is dropped, even into a free FRCD.
        driver.ClearFaultRecord(0);
        rig.Hardware.Translate(Unmapped(0x77_7000));
        Assert.False(driver.ReadFaultRecord(0).Fault);

        // Servicing everything clears PPF and PFO; the next fault lands at the wrapped index 0 and is a new event.
        for (var i = 1; i < n; i++)
        {
            driver.ClearFaultRecord(i);
        }
        driver.Write32(RegisterOffsets.Fsts, (uint)FaultStatus.PrimaryFaultOverflow);
        Assert.Equal(FaultStatus.None, driver.FaultStatus);
        rig.Hardware.Translate(Unmapped(0x55_5000));
        Assert.Equal(0x55_5000UL, driver.ReadFaultRecord(0).FaultInfo);
        Assert.Equal(0, driver.FaultRecordIndex);
        Assert.Equal(2, driver.Interrupts.Count);
    }

    [Fact]
    public void FaultProcessingDisableSuppressesRecordingAndEvents()
    {
        var rig = new ScalableRig();
        rig.Driver.SetupFaultInterrupt();
        // PASID 1: FPD=1 with P=0 (FPD is evaluated even when the entry is not present).
        rig.Memory.Write64(PasidTableEntry.AddressOf(rig.PasidTable, 1), 2);
        var result = rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x1000, AccessKind.Read, pasid: 1));
        Assert.Equal(FaultReason.SptNotPresent, result.Fault);
        Assert.True(result.FaultRecordingDisabled);
        Assert.False(rig.Driver.ReadFaultRecord(0).Fault);
        Assert.Equal(FaultStatus.None, rig.Driver.FaultStatus);
        Assert.Empty(rig.Driver.Interrupts);

        // The same fault without FPD is recorded.
        rig.Memory.Write64(PasidTableEntry.AddressOf(rig.PasidTable, 1), 0);
        rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x1000, AccessKind.Read, pasid: 1));
        Assert.True(rig.Driver.ReadFaultRecord(0).Fault);
        Assert.Single(rig.Driver.Interrupts);
    }

    [Fact]
    public void MaskedFaultEventIsHeldPendingAndSentWhenUnmasked()
    {
        var rig = new ScalableRig();
        var driver = rig.Driver;
        driver.Write32(RegisterOffsets.Fedata, 0x60);
        driver.Write32(RegisterOffsets.Feaddr, 0xFEE0_4003); // bits 1:0 are reserved
        driver.Write32(RegisterOffsets.Feuaddr, 1);
        Assert.Equal(0xFEE0_4000u, driver.Read32(RegisterOffsets.Feaddr));
        rig.Hardware.Translate(Unmapped(0x3000));
        Assert.Empty(driver.Interrupts);
        Assert.Equal((1u << 31) | (1u << 30), driver.Read32(RegisterOffsets.Fectl));
        driver.Write32(RegisterOffsets.Fectl, 0);
        Assert.Equal([new InterruptMessage(InterruptSource.FaultEvent, 0x1_FEE0_4000, 0x60)], driver.Interrupts);
        Assert.Equal(0u, driver.Read32(RegisterOffsets.Fectl));
    }

    [Fact]
    public void PendingFaultEventIsDroppedWhenSoftwareServicesTheFaultWhileMasked()
    {
        var rig = new ScalableRig();
        rig.Hardware.Translate(Unmapped(0x3000));
        Assert.Equal((1u << 31) | (1u << 30), rig.Driver.Read32(RegisterOffsets.Fectl));
        rig.Driver.ClearFaultRecord(0);
        Assert.Equal(1u << 31, rig.Driver.Read32(RegisterOffsets.Fectl));
        rig.Driver.Write32(RegisterOffsets.Fectl, 0);
        Assert.Empty(rig.Driver.Interrupts);
    }

    [Fact]
    public void StatusBitsAreWriteOneToClearAndReadOnlyFieldsIgnoreWrites()
    {
        var rig = new ScalableRig();
        var driver = rig.Driver;
        rig.Hardware.Translate(Unmapped(0x3000));
        var offset = rig.Hardware.FaultRecordingRegisterOffset(0);
        var before = driver.ReadFaultRecord(0);

        driver.Write32(RegisterOffsets.Fsts, 0);               // writing 0 clears nothing
        driver.Write32(RegisterOffsets.Fsts, 0xFFFF_FF02);     // PPF and FRI are read-only
        Assert.Equal(FaultStatus.PrimaryPendingFault, driver.FaultStatus);
        driver.Write64(offset, ulong.MaxValue);                // FI and the rest of the low qword are read-only
        driver.Write32(offset + 8, 0);
        driver.Write32(offset + 12, 0x7FFF_FFFF);              // every high bit but F: ignored
        Assert.Equal(before, driver.ReadFaultRecord(0));

        driver.Write64(offset + 8, 1UL << 63);                 // qword write of F=1 clears it
        Assert.False(driver.ReadFaultRecord(0).Fault);
        Assert.Equal(before.Reason, driver.ReadFaultRecord(0).Reason); // the rest of the record stays for software
        Assert.Equal(FaultStatus.None, driver.FaultStatus);

        driver.Write32(offset + 12, 1u << 31);                 // F on an empty record stays clear
        Assert.False(driver.ReadFaultRecord(0).Fault);
        Assert.Equal(FaultStatus.None, driver.FaultStatus);
    }

    [Fact]
    public void FaultRecordingIsThreadSafe()
    {
        var rig = new ScalableRig(CapabilityProfile.Default with { FaultRecordingRegisters = 64 });
        rig.Driver.SetupFaultInterrupt();
        Parallel.For(0, 64, i => rig.Hardware.Translate(Unmapped((ulong)i << 12)));
        var pages = Enumerable.Range(0, 64).Select(i => rig.Driver.ReadFaultRecord(i)).ToList();
        Assert.All(pages, r => Assert.True(r.Fault));
        Assert.Equal(64, pages.Select(r => r.FaultInfo).Distinct().Count());
        Assert.Single(rig.Driver.Interrupts);
        rig.Hardware.Translate(Unmapped(0x1_0000_0000));
        Assert.Equal(FaultStatus.PrimaryFaultOverflow | FaultStatus.PrimaryPendingFault, rig.Driver.FaultStatus);
    }

    [Fact]
    public void LegacyRequestsRecordNoPasidAndTranslationRequestsTheirAddressType()
    {
        var rig = new ScalableRig(boot: false);
        rig.Driver.SetRootEntry(rig.Frames.Allocate(), RootTableMode.Legacy);
        rig.Driver.EnableTranslation();
        rig.Hardware.Translate(new DmaRequest(0x0808, 0x1234_5678, AccessKind.Read, addressType: AddressType.Translated));
        var record = rig.Hardware.ReadFaultRecord(0);
        Assert.Equal(FaultReason.LrtRootNotPresent, record.Reason);
        Assert.Equal((ushort)0x0808, record.SourceId);
        Assert.False(record.PasidPresent);
        Assert.Equal(0u, record.PasidValue);
        Assert.Equal(AddressType.Translated, record.AddressType);
        Assert.Equal(0x1234_5000UL, record.FaultInfo);
    }
}
