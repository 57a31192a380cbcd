using VtdEngine.Tables;

namespace VtdEngine.Tests;

public class CapabilityProfileTests
{
    [Fact]
    public void DefaultProfileAdvertisesScalableModeAndFiveLevelPaging()
    {
        var profile = CapabilityProfile.Default;
        Assert.NotEqual(0UL, profile.ExtendedCapability & (1UL << 43));
        Assert.NotEqual(0UL, profile.Capability & (1UL << 60));
        Assert.Equal(56UL, (profile.Capability >> 16) & 0x3F);
        Assert.Equal(19UL, (profile.ExtendedCapability >> 35) & 0x1F);
    }
}
