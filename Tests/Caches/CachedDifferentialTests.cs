using System.Text;
using CsCheck;
using Xunit.Abstractions;
using VtdEngine.Iotlb;
using VtdEngine.Tables;
using VtdEngine.Tests.Reference;
using VtdEngine.Tests.Walker;

namespace VtdEngine.Tests.Caches;

/// <summary>
/// Differential tests of the cached engine (IOTLB, context cache, PASID cache) against the uncached reference walker,
/// through random sequences of translations and table edits (<see cref="CacheScenario"/>).
/// </summary>
/// <remarks>
/// The reference walks a copy-on-touch view of the engine's memory per request, so both see the same image (including
/// the A/D bits the engine set) and only results are compared. Requests come from a small working set translated over
/// and over, and the tests assert that the IOTLB really served a large share of them.
/// </remarks>
[Trait("Category", "Caches")]
public class CachedDifferentialTests(ITestOutputHelper output)
{
    // Fixed CsCheck seeds and bounded sizes: reproducible, and both properties together stay well under 20 s.
    private const string InvalidatedSeed = "2rZ8k0Jq3xWf";
    private const string UninvalidatedSeed = "5mQd1Yt7cVb0";
    private const int Images = 40;
    private const int Edits = 40;
    private const int TranslationsPerStep = 48;

    /// <summary>Smallest IOTLB hit rate (hits over lookups) a run must reach, so it cannot silently test only misses.</summary>
    private const double MinimumHitRate = 0.4;

    /// <summary>Property A: after every edit followed by the invalidations Table 28 requires, every translation equals
    /// the reference exactly.</summary>
    [Fact]
    public void ProperlyInvalidatedEditsTranslateExactlyAsTheReference() =>
        CheckHitRate(Run(InvalidatedSeed, invalidate: true));

    /// <summary>Property B: after an edit without its invalidations, each translation equals the reference on the image
    /// before or after the edit, never anything else; once the invalidations are issued, exactly the new one.</summary>
    [Fact]
    public void UninvalidatedEditsYieldTheOldOrTheNewTranslation() =>
        CheckHitRate(Run(UninvalidatedSeed, invalidate: false));

    private static (long Hits, long Lookups) Run(string seed, bool invalidate)
    {
        long hits = 0, lookups = 0;
        Gen.Int.Sample(imageSeed =>
        {
            var statistics = CheckScenario(imageSeed, invalidate);
            hits += statistics.Hits;
            lookups += statistics.Hits + statistics.Misses;
        }, seed: seed, iter: Images, threads: 1, print: s => $"image seed {s} ({(invalidate ? "invalidated" : "uninvalidated")})");
        return (hits, lookups);
    }

    private void CheckHitRate((long Hits, long Lookups) run)
    {
        var rate = (double)run.Hits / run.Lookups;
        output.WriteLine($"IOTLB hit rate {rate:P1} ({run.Hits}/{run.Lookups})");
        Assert.True(rate >= MinimumHitRate, $"IOTLB hit rate {rate:P1} ({run.Hits}/{run.Lookups}) is below {MinimumHitRate:P0}");
    }

    /// <summary>Runs one scenario; returns the unit's IOTLB statistics.</summary>
    internal static IotlbStatistics CheckScenario(int seed, bool invalidate)
    {
        var random = new Random(seed);
        var scenario = CacheScenario.Create(random);
        var unit = scenario.Unit;
        var now = new OverlayMemory(scenario.Memory);
        var reference = scenario.CreateReference(now);
        var history = new List<string> { $"seed {seed}, {scenario.Builder.Mode} mode, IOTLB {unit.Options.IotlbEntries} entries" };

        for (var step = 0; step < Edits; step++)
        {
            for (var i = 0; i < TranslationsPerStep; i++)
            {
                var request = scenario.WorkingSet[random.Next(scenario.WorkingSet.Count)];
                now.Reset();
                var expected = reference.Translate(request);
                var actual = ReferenceResult.FromEngine(unit.Translate(request));
                if (!DifferentialWalkTests.Agree(expected, actual))
                {
                    Assert.Fail(Describe(history, request, $"engine {actual}, reference {expected}"));
                }
            }

            var before = invalidate ? null : scenario.Memory.Clone();
            var edit = scenario.RandomEdit(random, allowDirectorySwitch: invalidate);
            history.Add($"edit {step}: {edit.Description}; invalidations: {string.Join(", ", edit.Invalidations.Select(Show))}");
            if (before is not null && edit.Invalidations.Count > 0)
            {
                CheckOldOrNew(scenario, random, before, history);
            }
            foreach (var request in edit.Invalidations)
            {
                unit.Invalidate(request);
            }
        }
        return unit.IotlbStatisticsForTest;
    }

    /// <summary>Between an edit and its invalidations the engine may use stale cached state or walk the new tables.</summary>
    private static void CheckOldOrNew(CacheScenario scenario, Random random, IPhysicalMemory before, List<string> history)
    {
        var now = new OverlayMemory(scenario.Memory);
        var old = new OverlayMemory(before);
        var newReference = scenario.CreateReference(now);
        var oldReference = scenario.CreateReference(old);
        for (var i = 0; i < TranslationsPerStep; i++)
        {
            var request = scenario.WorkingSet[random.Next(scenario.WorkingSet.Count)];
            now.Reset();
            old.Reset();
            var expectedNew = newReference.Translate(request);
            var expectedOld = oldReference.Translate(request);
            var actual = ReferenceResult.FromEngine(scenario.Unit.Translate(request));
            if (!DifferentialWalkTests.Agree(expectedNew, actual) && !DifferentialWalkTests.Agree(expectedOld, actual))
            {
                Assert.Fail(Describe(history, request,
                    $"before invalidation: engine {actual}, reference on the old image {expectedOld}, on the new image {expectedNew}"));
            }
        }
    }

    private static string Show(InvalidationRequest request) => request.Kind switch
    {
        InvalidationKind.IotlbPage or InvalidationKind.PasidIotlbPage =>
            $"{request.Kind}(did {request.DomainId}, pasid {request.Pasid}, 0x{request.Address:x}, am {request.AddressMask})",
        InvalidationKind.ContextCacheDevice => $"{request.Kind}(sid {request.SourceId:x4})",
        _ => $"{request.Kind}(did {request.DomainId}, pasid {request.Pasid})",
    };

    private static string Describe(List<string> history, DmaRequest request, string what)
    {
        var text = new StringBuilder();
        text.AppendLine(what);
        text.AppendLine($"request: {request}");
        foreach (var line in history)
        {
            text.AppendLine(line);
        }
        return text.ToString();
    }
}
