using VtdEngine.Fuzzing;

namespace VtdEngine.Tests.FuzzRegression;

/// <summary>
/// Replays every committed fuzz input through the same oracle code the fuzzer runs: the regressions
/// (Tests/Fuzz/regressions/TARGET/*, each an input that once crashed or broke an oracle) and the seed corpus
/// (Tests/Fuzz/corpus/TARGET/*). A new finding becomes a regression by copying afl's crash file there.
/// </summary>
[Trait("Category", "Fuzz")]
public class FuzzRegressionTests
{
    /// <summary>(target, path relative to Tests/Fuzz) of every committed input.</summary>
    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        var root = FuzzFolder();
        foreach (var kind in (string[])["regressions", "corpus"])
        {
            foreach (var target in FuzzTargets.All)
            {
                var folder = Path.Combine(root, kind, target);
                if (!Directory.Exists(folder))
                {
                    continue;
                }
                foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal))
                {
                    if (!file.EndsWith(".md", StringComparison.Ordinal))
                    {
                        data.Add(target, Path.GetRelativePath(root, file));
                    }
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void CommittedInputPassesItsOracle(string target, string path)
    {
        var bytes = File.ReadAllBytes(Path.Combine(FuzzFolder(), path));
        FuzzTargets.Run(target, bytes);
    }

    [Fact]
    public void EveryTargetHasSeeds()
    {
        foreach (var target in FuzzTargets.All)
        {
            var folder = Path.Combine(FuzzFolder(), "corpus", target);
            Assert.True(Directory.Exists(folder) && Directory.GetFiles(folder).Length > 0, $"no seed corpus for {target}");
        }
    }

    [Fact]
    public void CommittedSeedsAreWhatMakeCorpusWrites()
    {
        foreach (var target in FuzzTargets.All)
        {
            foreach (var (name, bytes) in SeedCorpus.For(target))
            {
                var path = Path.Combine(FuzzFolder(), "corpus", target, name);
                Assert.True(File.Exists(path), $"{path} is missing: run VtdEngine.Fuzz --make-corpus Tests/Fuzz/corpus");
                Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(path)), $"{path} is stale: rerun --make-corpus");
            }
        }
    }

    /// <summary>
    /// Found by the translate target (regressions/translate/iotlb-pasid-beyond-20-bits): the IOTLB key keeps 20 PASID
    /// bits, so PASID 0x100000 hit the entry PASID 0 had filled instead of faulting SGN.10.
    /// </summary>
    [Fact]
    public void IotlbDoesNotServeAPasidBeyondTwentyBits()
    {
        var bytes = SeedCorpus.Image(RootTableMode.Scalable, SeedCorpus.ScalableImage());
        var harness = new DifferentialHarness(FuzzImage.Decode(bytes, out _), flushOnSelfModification: true);
        var device = FuzzImage.Devices[1];
        var filled = harness.Probe(new FuzzRequest(new DmaRequest(device, 0, AccessKind.Read, pasid: 0), RequestOp.Translate));
        Assert.True(filled.IsSuccess);
        var wide = harness.Probe(new FuzzRequest(new DmaRequest(device, 0, AccessKind.Read, pasid: 1u << 20), RequestOp.Translate));
        Assert.Equal(FaultReason.SgnPasidBeyondPss, wide.Fault);
    }

    /// <summary>Tests/Fuzz of the checkout the test assembly was built from.</summary>
    internal static string FuzzFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "VtdEngine.sln")))
            {
                return Path.Combine(dir.FullName, "Tests", "Fuzz");
            }
        }
        throw new DirectoryNotFoundException("VtdEngine.sln not found above " + AppContext.BaseDirectory);
    }
}
