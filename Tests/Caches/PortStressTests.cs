using Xunit.Abstractions;

namespace VtdEngine.Tests.Caches;

/// <summary>
/// Remap-while-translating stress through <see cref="TranslationPort"/>s: each reader thread has its own port and
/// translates the hot page over and over between the writer's publications, singly and in bursts that hold it several
/// times among other pages, so that anything a port keeps for itself is warm when an invalidation lands.
/// </summary>
/// <remarks>
/// The invariant is <see cref="RemapStress"/>'s: once the writer's invalidation returned and it published generation
/// g, a reader that read g before translating sees no older generation, no frame the writer did not map and no rights
/// but the frame's own. The writer cycles through every invalidation that covers the hot page (page-selective,
/// PASID-selective for the first stage, domain, global), so a port that misses any one of them serves a stale frame.
/// </remarks>
[Trait("Category", "Caches")]
[Trait("Category", "Stress")]
public class PortStressTests(ITestOutputHelper output)
{
    private const int HotPerRound = 3;
    private const int BurstLength = 10;

    [Fact]
    public void SecondStagePortsNeverServeARemapStaleAfterItsInvalidationReturned() => Stress(firstStage: false);

    [Fact]
    public void FirstStagePortsNeverServeARemapStaleAfterItsInvalidationReturned() => Stress(firstStage: true);

    private void Stress(bool firstStage)
    {
        var stress = new RemapStress(firstStage, rotateInvalidations: true, paceWriter: true);
        var counts = stress.Run(readers: 2, reader =>
        {
            if (reader.Random.Next(2) == 0)
            {
                SingleRound(stress, reader);
            }
            else
            {
                BurstRound(stress, reader);
            }
        });
        output.WriteLine(counts.ToString());
        // A round warms the port (the hot page several times); the checks that matter are those of the next round,
        // when a publication came in between. On a loaded two-core machine they are few (about 100 a second at worst
        // in trials), as the writer and the readers seldom run at once; a systematically stale port fails on the first.
        Assert.True(counts.Fresh > 10, $"only {counts.Fresh} rounds came after a new publication");
        Assert.True(counts.WarmRepeats > 1000, $"only {counts.WarmRepeats} rounds translated the hot page again within one generation");
    }

    /// <summary>The hot page a few times one request at a time, then a fixed page of either requester.</summary>
    private static void SingleRound(RemapStress stress, RemapStress.Reader reader)
    {
        var floor = reader.BeginRound();
        for (var i = 0; i < HotPerRound; i++)
        {
            var hot = stress.Hot(reader.Random);
            reader.Check(hot, reader.Port.Translate(hot), floor, "port");
        }
        var other = stress.Fixed(reader.Random, otherStage: reader.Random.Next(2) == 0);
        reader.Check(other, reader.Port.Translate(other), floor, "port");
    }

    /// <summary>
    /// One burst: the hot page every third request, the requester's fixed pages between, and now and then the other
    /// stage's requester, which empties the burst's window so the next hot request is looked up again.
    /// </summary>
    private static void BurstRound(RemapStress stress, RemapStress.Reader reader)
    {
        var floor = reader.BeginRound();
        var burst = new DmaRequest[BurstLength];
        for (var i = 0; i < burst.Length; i++)
        {
            burst[i] = (i % 3) switch
            {
                0 => stress.Hot(reader.Random),
                1 => stress.Fixed(reader.Random),
                _ => stress.Fixed(reader.Random, otherStage: reader.Random.Next(2) == 0),
            };
        }
        var results = new TranslationResult[burst.Length];
        reader.Port.Translate(burst, results);
        for (var i = 0; i < burst.Length; i++)
        {
            reader.Check(burst[i], results[i], floor, "port burst", i);
        }
    }
}
