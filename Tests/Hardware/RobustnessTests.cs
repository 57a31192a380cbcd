using VtdEngine.Hardware;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Hardware;

[Trait("Category", "Hardware")]
public class RobustnessTests
{
    private static readonly int[] s_interesting =
    [
        RegisterOffsets.Gcmd, RegisterOffsets.Rtaddr, RegisterOffsets.Rtaddr + 4, RegisterOffsets.Ccmd, RegisterOffsets.Ccmd + 4,
        RegisterOffsets.Fsts, RegisterOffsets.Fectl, RegisterOffsets.Iqt, RegisterOffsets.Iqa, RegisterOffsets.Iqa + 4,
        RegisterOffsets.Ics, RegisterOffsets.Iectl, 0x100, 0x108, 0x10C, 0x22C, 0x23C, 0x29C,
    ];

    private static InvalidationDescriptor RandomDescriptor(Random random, ulong statusPage)
    {
        var pick = random.Next(6);
        return pick switch
        {
            0 => new InvalidationDescriptor((ulong)random.NextInt64(), (ulong)random.NextInt64(), (ulong)random.Next(2), 0),
            1 => InvalidationDescriptor.Wait(statusPage + ((ulong)random.Next(1024) * 4), (uint)random.Next(),
                random.Next(2) == 0, random.Next(2) == 0, random.Next(2) == 0),
            2 => new InvalidationDescriptor((uint)(random.Next(0x80) & 0xF) | ((uint)random.Next(4) << 4) | ((ulong)(uint)random.Next(0x10000) << 16),
                (ulong)random.NextInt64() & ~0xF80UL),
            _ => InvalidationDescriptor.Encode(new InvalidationRequest((InvalidationKind)random.Next(14), (ushort)random.Next(16),
                (uint)random.Next(1 << 20), (ushort)random.Next(), (byte)random.Next(4), (ulong)random.NextInt64() & ~0xFFFUL,
                (byte)random.Next(20), random.Next(2) == 0, random.Next(2) == 0)),
        };
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomRegisterTrafficNeverThrowsAndKeepsTheStateConsistent(int seed)
    {
        var random = new Random(seed);
        var rig = new ScalableRig(CapabilityProfile.Default with { PageRequests = seed % 2 == 0 }, boot: seed % 2 == 0);
        var driver = rig.Driver;
        var hardware = rig.Hardware;
        var queuePages = rig.Frames.Allocate();
        for (var i = 1; i < 8; i++)
        {
            rig.Frames.Allocate(); // 32 KiB of contiguous queue space for QS up to 3
        }
        var interrupts = 0;
        var queueErrors = 0;
        hardware.Interrupt += _ => interrupts++;

        for (var step = 0; step < 20_000; step++)
        {
            var offset = random.Next(4) == 0 ? (ulong)s_interesting[random.Next(s_interesting.Length)] : (ulong)random.Next(0x1001);
            var value = random.Next(3) switch
            {
                0 => (ulong)random.NextInt64(),
                1 => (ulong)random.Next(0x100) << (random.Next(8) * 8),
                _ => offset == RegisterOffsets.Iqa
                    ? queuePages | ((uint)random.Next(2) << 11) | (uint)random.Next(4)
                    : offset == RegisterOffsets.Rtaddr ? rig.Root | ((uint)random.Next(4) << 10)
                    : (ulong)random.Next(0x8000) << 4,
            };
            switch (random.Next(10))
            {
                case 0:
                    hardware.WriteRegister64(offset, value);
                    break;
                case 1:
                    hardware.ReadRegister64(offset);
                    hardware.ReadRegister32(offset);
                    break;
                case 2:
                    var wide = (driver.Read64(RegisterOffsets.Iqa) & (1UL << 11)) != 0;
                    var slot = (ulong)random.Next(32 * 1024 / 32) * (wide ? 32UL : 16UL) % (32 * 1024);
                    RandomDescriptor(random, driver.StatusPage).Write(rig.Memory, queuePages + slot, wide);
                    break;
                case 3:
                    hardware.Translate(new DmaRequest((ushort)random.Next(), (ulong)random.NextInt64(), (AccessKind)random.Next(3),
                        random.Next(2) == 0 ? DmaRequest.NoPasid : (uint)random.Next(1 << 20), random.Next(2) == 0,
                        (AddressType)random.Next(3)));
                    break;
                case 4:
                    hardware.WriteRegister32(ulong.MaxValue - (ulong)random.Next(16), (uint)value);
                    hardware.WriteRegister64((ulong)random.NextInt64(), value);
                    break;
                default:
                    hardware.WriteRegister32(offset, (uint)value);
                    break;
            }
            AssertConsistent(hardware);
            queueErrors += (hardware.ReadRegister32((ulong)RegisterOffsets.Fsts) & (uint)FaultStatus.InvalidationQueueError) != 0 ? 1 : 0;
        }
        // The traffic reached the interesting paths: descriptors executed, queue errors, events.
        Assert.NotEmpty(rig.Executed);
        Assert.True(queueErrors > 0);
        Assert.True(interrupts > 0);
    }

    [Fact]
    public void ObserversAndInterruptHandlersMayCallBackIntoTheRegisterFile()
    {
        var rig = new ScalableRig();
        var driver = rig.Driver;
        var seen = new List<uint>();
        // An invalidation observer runs inside the register write that triggered it; it may read and even write IQT.
        rig.Hardware.Unit.Invalidated += _ =>
        {
            seen.Add(driver.Read32(RegisterOffsets.Fsts));
            driver.Write64(RegisterOffsets.Iqt, driver.Read64(RegisterOffsets.Iqt));
        };
        // Interrupt handlers run after the lock is released, like an OS handler servicing the fault.
        rig.Hardware.Interrupt += m =>
        {
            if (m.Source == InterruptSource.FaultEvent)
            {
                driver.ClearFaultRecord(driver.FaultRecordIndex);
            }
        };
        driver.SetupFaultInterrupt();
        Assert.True(driver.Submit(InvalidationRequest.IotlbGlobal(), InvalidationRequest.PasidCacheGlobal()));
        Assert.Equal([0u, 0u], seen);
        rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x1000, AccessKind.Read));
        Assert.Equal(FaultStatus.None, driver.FaultStatus);
    }

    [Fact]
    public void ResetReturnsEveryRegisterToItsResetValue()
    {
        var rig = new ScalableRig();
        rig.Hardware.Translate(new DmaRequest(ScalableRig.Sid, 0x1000, AccessKind.Read));
        rig.Hardware.Reset();
        Assert.Equal(GlobalStatus.None, rig.Hardware.Status);
        Assert.False(rig.Hardware.Unit.TranslationEnabled);
        Assert.Equal(0UL, rig.Driver.Read64(RegisterOffsets.Rtaddr));
        Assert.Equal(0UL, rig.Driver.Read64(RegisterOffsets.Iqa));
        Assert.Equal(1u << 31, rig.Driver.Read32(RegisterOffsets.Fectl));
        Assert.Equal(1u << 31, rig.Driver.Read32(RegisterOffsets.Iectl));
        Assert.Equal(0u, rig.Driver.Read32(RegisterOffsets.Fsts));
        Assert.False(rig.Hardware.ReadFaultRecord(0).Fault);
        // And the unit boots again from there.
        rig.Boot();
        Assert.True(rig.Hardware.Unit.TranslationEnabled);
    }

    [Fact]
    public void MisalignedAndOutOfWindowAccessesReadZeroAndAreIgnored()
    {
        var rig = new ScalableRig();
        Assert.Equal(0u, rig.Hardware.ReadRegister32(RegisterOffsets.Cap + 2));
        Assert.Equal(0UL, rig.Hardware.ReadRegister64(RegisterOffsets.Gsts)); // 4- but not 8-aligned
        Assert.Equal(0UL, rig.Hardware.ReadRegister64(0x1_0000));
        Assert.Equal(0UL, rig.Hardware.ReadRegister64(ulong.MaxValue - 7));
        var before = rig.Hardware.Status;
        rig.Hardware.WriteRegister32(RegisterOffsets.Gcmd + 1, 0);
        rig.Hardware.WriteRegister64(RegisterOffsets.Gsts, 0);
        Assert.Equal(before, rig.Hardware.Status);
        Assert.Equal(0x1000, rig.Hardware.RegisterWindowSize);
    }

    private static void AssertConsistent(RemappingHardwareUnit hardware)
    {
        var iqa = hardware.ReadRegister64((ulong)RegisterOffsets.Iqa);
        var queueBytes = 4096UL << (int)(iqa & 7);
        var iqh = hardware.ReadRegister64((ulong)RegisterOffsets.Iqh);
        Assert.True(iqh < queueBytes, $"IQH 0x{iqh:x} outside a 0x{queueBytes:x}-byte queue");
        Assert.Equal(0UL, iqh & 0xF);
        if ((hardware.Status & GlobalStatus.QueuedInvalidationEnableStatus) == 0)
        {
            Assert.Equal(0UL, iqh);
        }
        var fsts = hardware.ReadRegister32((ulong)RegisterOffsets.Fsts);
        var anyF = Enumerable.Range(0, hardware.FaultRecordingRegisterCount).Any(i => hardware.ReadFaultRecord(i).Fault);
        Assert.Equal(anyF, (fsts & (uint)FaultStatus.PrimaryPendingFault) != 0);
        Assert.True(((fsts >> 8) & 0xFF) < (uint)hardware.FaultRecordingRegisterCount);
        Assert.Equal(0u, fsts & 0xFFFF_0088); // reserved bits read 0
        Assert.Equal(0u, (uint)hardware.Status & ~0xC480_0000u); // only TES, RTPS, QIES, CFIS ever set
        Assert.Equal(0u, hardware.ReadRegister32((ulong)RegisterOffsets.Gcmd));
        Assert.Equal(hardware.Unit.TranslationEnabled, (hardware.Status & GlobalStatus.TranslationEnableStatus) != 0);
    }
}
