using System.Runtime.Intrinsics;
using VtdEngine.Iotlb.Probing;

namespace VtdEngine.Tests.Iotlb;

/// <summary>Each vector width of the set probe against the scalar twin, on seeded random sets.</summary>
[Trait("Category", "Iotlb")]
[Trait("Category", "Vector")]
public class TagProbeTests
{
    public static TheoryData<string> Shapes => new() { "empty", "all-match", "duplicates", "no-match", "random" };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void V128MatchesScalar(string shape)
    {
        if (!Vector128.IsHardwareAccelerated)
        {
            return;
        }

        AssertAgrees(shape, TagProbe.Match<V128Probe>);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void V256MatchesScalar(string shape)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            return;
        }

        AssertAgrees(shape, TagProbe.Match<V256Probe>);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void V512MatchesScalar(string shape)
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            return;
        }

        AssertAgrees(shape, TagProbe.Match<V512Probe>);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DispatchedProbeMatchesScalar(string shape) =>
        AssertAgrees(shape, static (set, tag) => TagProbe.Match(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(set), tag));

    [Fact]
    public void ScalarProbeReportsEveryMatchingWay()
    {
        ulong[] set = [5, 7, 5, 0, 0, 5, 9, 5];
        Assert.Equal(0b1010_0101u, TagProbe.Match<ScalarProbe>(set, 5));
        Assert.Equal(0b0001_1000u, TagProbe.Match<ScalarProbe>(set, 0));
        Assert.Equal(0u, TagProbe.Match<ScalarProbe>(set, 6));
    }

    [Fact]
    public void ProbeRejectsShortSpans() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => TagProbe.Match<ScalarProbe>(new ulong[7], 1));

    private delegate uint Probe(ReadOnlySpan<ulong> set, ulong tag);

    private static void AssertAgrees(string shape, Probe probe)
    {
        var random = new Random(HashCode.Combine(shape.Length, shape[0], 1234));
        for (int round = 0; round < 2000; round++)
        {
            ulong[] set = MakeSet(shape, random, out ulong tag);

            // Also probe at an offset inside a bigger array, as the IOTLB does.
            ulong[] padded = new ulong[16];
            int offset = random.Next(0, 9);
            set.CopyTo(padded, offset);
            uint expected = TagProbe.Match<ScalarProbe>(set, tag);
            Assert.Equal(expected, probe(set, tag));
            Assert.Equal(expected, probe(padded.AsSpan(offset, 8), tag));
            Assert.Equal(expected, probe(padded.AsSpan(offset), tag) & 0xFF);
        }
    }

    private static ulong[] MakeSet(string shape, Random random, out ulong tag)
    {
        ulong[] set = new ulong[8];
        tag = (ulong)random.NextInt64() | 1;
        switch (shape)
        {
            case "empty":
                break;
            case "all-match":
                Array.Fill(set, tag);
                break;
            case "duplicates":
                for (int i = 0; i < 8; i++)
                {
                    set[i] = random.Next(2) == 0 ? tag : tag ^ (1UL << random.Next(64));
                }

                break;
            case "no-match":
                for (int i = 0; i < 8; i++)
                {
                    // Differ in exactly one bit, including the top bit that movemask reads.
                    set[i] = tag ^ (1UL << random.Next(64));
                }

                break;
            default:
                for (int i = 0; i < 8; i++)
                {
                    set[i] = random.Next(4) == 0 ? tag : (ulong)random.NextInt64();
                }

                break;
        }

        return set;
    }
}
