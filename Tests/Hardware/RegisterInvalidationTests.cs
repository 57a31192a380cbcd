using VtdEngine.Hardware;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Hardware;

[Trait("Category", "Hardware")]
public class RegisterInvalidationTests
{
    private const ulong Icc = 1UL << 63;
    private const ulong Ivt = 1UL << 63;

    private static ScalableRig LegacyRig()
    {
        var rig = new ScalableRig(boot: false);
        rig.Driver.SetRootEntry(rig.Frames.Allocate(), RootTableMode.Legacy);
        return rig;
    }

    private static int Caig(ScalableRig rig) => (int)((rig.Driver.Read64(RegisterOffsets.Ccmd) >> 59) & 3);

    private static int Iaig(ScalableRig rig) => (int)((rig.Driver.Read64(rig.Hardware.IotlbRegisterOffset) >> 57) & 3);

    [Fact]
    public void ScalableModeRefusesRegisterBasedInvalidation()
    {
        var rig = new ScalableRig();
        rig.Executed.Clear();
        rig.Driver.Write64(RegisterOffsets.Ccmd, Icc | (1UL << 61));
        Assert.Equal(0UL, rig.Driver.Read64(RegisterOffsets.Ccmd) & Icc);
        Assert.Equal(0, Caig(rig));
        rig.Driver.Write64(rig.Hardware.IotlbRegisterOffset, Ivt | (1UL << 60));
        Assert.Equal(0UL, rig.Driver.Read64(rig.Hardware.IotlbRegisterOffset) & Ivt);
        Assert.Equal(0, Iaig(rig));
        Assert.Empty(rig.Executed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LegacyModePerformsContextInvalidationsAndReportsTheGranularity(bool split)
    {
        var rig = LegacyRig();
        var driver = new GuestDriver(rig.Hardware, rig.Frames, split);
        driver.Write64(RegisterOffsets.Ccmd, Icc | (1UL << 61));
        Assert.Equal(1, Caig(rig));
        driver.Write64(RegisterOffsets.Ccmd, Icc | (2UL << 61) | 5);
        Assert.Equal(2, Caig(rig));
        driver.Write64(RegisterOffsets.Ccmd, Icc | (3UL << 61) | (2UL << 32) | (0x0310UL << 16) | 5);
        Assert.Equal(3, Caig(rig));
        Assert.Equal(0UL, driver.Read64(RegisterOffsets.Ccmd) & Icc);
        driver.Write64(RegisterOffsets.Ccmd, Icc); // CIRG=00 is reserved: error
        Assert.Equal(0, Caig(rig));
        Assert.Equal(
            [InvalidationRequest.ContextCacheGlobal(), new(InvalidationKind.ContextCacheDomain, 5), InvalidationRequest.ContextCacheDevice(5, 0x0310, 2)],
            rig.Executed);
    }

    [Fact]
    public void LegacyModePerformsIotlbInvalidationsAndCoarsensWhatItCannotDo()
    {
        var rig = new ScalableRig(CapabilityProfile.Default with { MaxAddressMaskValue = 9 }, boot: false);
        rig.Driver.SetRootEntry(rig.Frames.Allocate(), RootTableMode.Legacy);
        var iotlb = rig.Hardware.IotlbRegisterOffset;
        rig.Driver.Write64(iotlb, Ivt | (1UL << 60));
        Assert.Equal(1, Iaig(rig));
        rig.Driver.Write64(rig.Hardware.InvalidateAddressRegisterOffset, 0x4_0000_0000 | (1 << 6) | 2);
        rig.Driver.Write64(iotlb, Ivt | (3UL << 60) | (9UL << 32));
        Assert.Equal(3, Iaig(rig));
        rig.Driver.Write64(rig.Hardware.InvalidateAddressRegisterOffset, 0x4_0000_0000 | 12); // AM beyond MAMV
        rig.Driver.Write64(iotlb, Ivt | (3UL << 60) | (9UL << 32));
        Assert.Equal(2, Iaig(rig));
        Assert.Equal(
            [InvalidationRequest.IotlbGlobal(), InvalidationRequest.IotlbPage(9, 0x4_0000_0000, 2, invalidationHint: true), InvalidationRequest.IotlbDomain(9)],
            rig.Executed);
        Assert.Equal(0x4_0000_000CUL, rig.Driver.Read64(rig.Hardware.InvalidateAddressRegisterOffset));
    }

    [Fact]
    public void RegisterInvalidationIsRefusedWhileQueuedInvalidationIsEnabled()
    {
        var rig = LegacyRig();
        rig.Driver.EnableQueuedInvalidation(wide: false);
        rig.Driver.Write64(RegisterOffsets.Ccmd, Icc | (1UL << 61));
        Assert.Equal(0, Caig(rig));
        Assert.Empty(rig.Executed);
    }

    [Fact]
    public void SrtpLatchesWithoutRaisingSoftwareInvalidationEvents()
    {
        var rig = new ScalableRig();
        rig.Executed.Clear();
        rig.Driver.SetRootEntry(rig.Root, RootTableMode.Scalable);
        Assert.Empty(rig.Executed); // FlushAllCaches is internal housekeeping, not a software invalidation
        Assert.True((rig.Driver.Status & GlobalStatus.RootTablePointerStatus) != 0);
    }
}
