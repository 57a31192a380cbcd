using VtdEngine.Tables;

namespace VtdEngine.Tests.Engine;

/// <summary>
/// The PASID cache keeps only Q0–Q2 of a 512-bit PASID-table entry because it caches no entry with reserved bits set
/// and every bit of Q3–Q7 is reserved (VT-d §9.6) whatever the unit supports.
/// </summary>
[Trait("Category", "Caches")]
public class PasidCacheEntryTests
{
    public static TheoryData<string> Profiles() => ["default", "minimal", "caching-mode"];

    [Theory]
    [MemberData(nameof(Profiles))]
    public void EveryBitOfTheUpperFiveQwordsIsReserved(string name)
    {
        var profile = name switch
        {
            "minimal" => CapabilityProfile.Default with
            {
                SupervisorRequests = false,
                ExtendedAccessedFlag = false,
                Nested = false,
                SecondStageAccessedDirty = false,
                FirstStage5Level = false,
                PassThrough = false,
            },
            "caching-mode" => CapabilityProfile.Default with { CachingMode = true, PageRequests = true },
            _ => CapabilityProfile.Default,
        };
        foreach (var valid in new[] { PasidTableEntry.SecondStage(3, 0x10_0000, 2), PasidTableEntry.FirstStage(3, 0x20_0000) })
        {
            Assert.False(valid.HasReservedBits(profile));
            for (var qword = 3; qword < 8; qword++)
            {
                for (var bit = 0; bit < 64; bit++)
                {
                    var value = 1UL << bit;
                    var entry = qword switch
                    {
                        3 => valid with { Q3 = value },
                        4 => valid with { Q4 = value },
                        5 => valid with { Q5 = value },
                        6 => valid with { Q6 = value },
                        _ => valid with { Q7 = value },
                    };
                    Assert.True(entry.HasReservedBits(profile), $"Q{qword} bit {bit} under the {name} profile");
                }
            }
        }
    }
}
