using System.Text;
using CsCheck;
using Xunit.Abstractions;
using VtdEngine.Tests.Reference;
using VtdEngine.Tests.Walker;

namespace VtdEngine.Tests.Caches;

/// <summary>
/// Differential tests of the cached engine (IOTLB, context cache, PASID cache) against the uncached reference walker,
/// through random sequences of translations and table edits (<see cref="CacheScenario"/>), each request translated
/// by the unit and by a <see cref="TranslationPort"/>, singly and in warm bursts.
/// </summary>
/// <remarks>
/// The reference walks a copy-on-touch view of the engine's memory per request, so both see the same image (including
/// the A/D bits the engine set) and only results are compared. Requests come from a small working set translated over
/// and over, and the tests assert that the IOTLB and the port really served a large share of them.
/// </remarks>
[Trait("Category", "Caches")]
public class CachedDifferentialTests(ITestOutputHelper output)
{
    // Each property starts from a fixed seed; CsCheck draws the later images afresh every run (a failure prints the
    // seed that reproduces it). Bounded sizes keep both properties together well under 20 s.
    private const string InvalidatedSeed = "2rZ8k0Jq3xWf";
    private const string UninvalidatedSeed = "5mQd1Yt7cVb0";
    private const int Images = 40;
    private const int Edits = 40;
    private const int TranslationsPerStep = 48;

    /// <summary>Working-set requests a port burst takes, each at least twice, some with a neighbour in their 16 KiB.</summary>
    private const int BurstPicks = 6;

    /// <summary>Smallest hit rate (hits over lookups) of the unit and of the port a run must reach, so it cannot
    /// silently test only misses. Runs draw fresh images, and their rates spread over 40–52 %: the floor sits well
    /// below that spread (a cache that served nothing would show about 0 %).</summary>
    private const double MinimumHitRate = 0.3;

    /// <summary>Property A: after every edit followed by the invalidations Table 28 requires, every translation, by
    /// the unit or a warm port, singly or in a burst, equals the reference exactly.</summary>
    [Fact]
    public void ProperlyInvalidatedEditsTranslateExactlyAsTheReference() =>
        CheckHitRates(Run(InvalidatedSeed, invalidate: true));

    /// <summary>Property B: after an edit without its invalidations, each translation (unit or port) equals the
    /// reference on the image before or after the edit, never anything else; once the invalidations are issued,
    /// exactly the new one.</summary>
    [Fact]
    public void UninvalidatedEditsYieldTheOldOrTheNewTranslation() =>
        CheckHitRates(Run(UninvalidatedSeed, invalidate: false));

    /// <summary>Hits and lookups of the unit (first-level TLB and IOTLB) and of the port, summed over a run.</summary>
    internal readonly record struct HitCounts(long UnitHits, long UnitLookups, long PortHits, long PortLookups)
    {
        public static HitCounts operator +(HitCounts a, HitCounts b) =>
            new(a.UnitHits + b.UnitHits, a.UnitLookups + b.UnitLookups, a.PortHits + b.PortHits, a.PortLookups + b.PortLookups);
    }

    private static HitCounts Run(string seed, bool invalidate)
    {
        var total = default(HitCounts);
        Gen.Int.Sample(imageSeed => total += CheckScenario(imageSeed, invalidate), seed: seed, iter: Images, threads: 1,
            print: s => $"image seed {s} ({(invalidate ? "invalidated" : "uninvalidated")})");
        return total;
    }

    private void CheckHitRates(HitCounts run)
    {
        CheckHitRate("unit", run.UnitHits, run.UnitLookups);
        CheckHitRate("port", run.PortHits, run.PortLookups);
    }

    private void CheckHitRate(string what, long hits, long lookups)
    {
        var rate = (double)hits / lookups;
        output.WriteLine($"{what} hit rate {rate:P1} ({hits}/{lookups})");
        Assert.True(rate >= MinimumHitRate, $"{what} hit rate {rate:P1} ({hits}/{lookups}) is below {MinimumHitRate:P0}");
    }

    /// <summary>Runs one scenario; returns the hits and lookups of the unit's IOTLB and of the port.</summary>
    internal static HitCounts CheckScenario(int seed, bool invalidate)
    {
        var random = new Random(seed);
        // Bursts draw from a stream of their own, so the scenario and its edits are the same as without them.
        var burstRandom = new Random(~seed);
        var scenario = CacheScenario.Create(random);
        var unit = scenario.Unit;
        var port = unit.OpenPort();
        var now = new OverlayMemory(scenario.Memory);
        var current = (now, scenario.CreateReference(now));
        var history = new List<string> { $"seed {seed}, {scenario.Builder.Mode} mode, IOTLB {unit.Options.IotlbEntries} entries" };

        for (var step = 0; step < Edits; step++)
        {
            TranslateAndCheck(scenario, port, random, burstRandom, [current], history);

            var before = invalidate ? null : scenario.Memory.Clone();
            var edit = scenario.RandomEdit(random, allowDirectorySwitch: invalidate);
            history.Add($"edit {step}: {edit.Description}; invalidations: {string.Join(", ", edit.Invalidations.Select(Show))}");
            if (before is not null && edit.Invalidations.Count > 0)
            {
                // Between an edit and its invalidations the engine may use stale cached state or walk the new tables.
                var old = new OverlayMemory(before);
                TranslateAndCheck(scenario, port, random, burstRandom, [current, (old, scenario.CreateReference(old))], history);
            }
            foreach (var request in edit.Invalidations)
            {
                unit.Invalidate(request);
            }
        }
        // The unit's own hits (its threads' first-level TLBs, the IOTLB, burst reuses): the totals less the port's.
        var statistics = unit.ReadStatistics();
        return new HitCounts(statistics.IotlbHits - port.Hits, statistics.IotlbHits + statistics.IotlbMisses - port.Hits - port.Misses,
            port.Hits, port.Hits + port.Misses);
    }

    /// <summary>
    /// Translates <see cref="TranslationsPerStep"/> working-set requests through the unit and then the port, and one
    /// warm burst through the port; every result must agree with the reference on one of <paramref name="images"/>
    /// (the current image, and between an edit and its invalidations the one before it).
    /// </summary>
    private static void TranslateAndCheck(CacheScenario scenario, TranslationPort port, Random random, Random burstRandom,
        (OverlayMemory View, ReferenceWalker Reference)[] images, List<string> history)
    {
        for (var i = 0; i < TranslationsPerStep; i++)
        {
            var request = scenario.WorkingSet[random.Next(scenario.WorkingSet.Count)];
            var expected = Expect(images, request);
            Check(expected, scenario.Unit.Translate(request), request, "unit", history);
            Check(expected, port.Translate(request), request, "port", history);
        }

        var burst = WarmBurst(scenario, burstRandom);
        var expectations = burst.Select(request => Expect(images, request)).ToArray();
        var results = new TranslationResult[burst.Length];
        port.Translate(burst, results);
        for (var i = 0; i < burst.Length; i++)
        {
            Check(expectations[i], results[i], burst[i], $"port burst #{i}", history);
        }
    }

    /// <summary>
    /// A burst in which every address comes at least twice: working-set requests, some followed by a neighbour among
    /// the four 4 KiB pages the working set uses of each leaf (pages a large IOTLB entry serves from the burst's
    /// window), shuffled, and half the time grouped by requester so that the window, not a lookup, serves the repeats.
    /// </summary>
    private static DmaRequest[] WarmBurst(CacheScenario scenario, Random random)
    {
        var picks = new List<DmaRequest>();
        for (var i = 0; i < BurstPicks; i++)
        {
            var request = scenario.WorkingSet[random.Next(scenario.WorkingSet.Count)];
            picks.Add(request);
            if (random.Next(2) == 0)
            {
                var neighbour = request.Address ^ ((ulong)random.Next(1, 4) << 12);
                picks.Add(new DmaRequest(request.SourceId, neighbour, request.Access, request.Pasid, request.Privileged, request.AddressType));
            }
        }
        var burst = picks.Concat(picks).OrderBy(_ => random.Next()).ToArray();
        return random.Next(2) == 0 ? burst : [.. burst.OrderBy(r => ((ulong)r.SourceId << 32) | r.Pasid)];
    }

    /// <summary>What each image's reference says about <paramref name="request"/>, each on a fresh view of its memory.</summary>
    private static ReferenceResult[] Expect((OverlayMemory View, ReferenceWalker Reference)[] images, DmaRequest request) =>
        [.. images.Select(image =>
        {
            image.View.Reset();
            return image.Reference.Translate(request);
        })];

    private static void Check(ReferenceResult[] expected, in TranslationResult result, DmaRequest request, string path, List<string> history)
    {
        var actual = ReferenceResult.FromEngine(result);
        if (!expected.Any(e => DifferentialWalkTests.Agree(e, actual)))
        {
            var images = expected.Length == 1 ? $"reference {expected[0]}"
                : $"before invalidation: reference on the new image {expected[0]}, on the old image {expected[1]}";
            Assert.Fail(Describe(history, request, $"{path} {actual}, {images}"));
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
