using System.Text;
using CsCheck;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Tests.Walker;

/// <summary>
/// Differential property tests: random well-formed and mutated table images, each with a request stream, go through
/// the engine (on the image's memory) and the <see cref="ReferenceWalker"/> (on a clone); results and memory (A/EA/D
/// writes) must be identical.
/// </summary>
[Trait("Category", "Walker")]
public class DifferentialWalkTests
{
    /// <summary>Requests per image.</summary>
    internal const int RequestsPerImage = 24;

    // Each property starts from a fixed seed; CsCheck draws the later images afresh every run (a failure prints the
    // seed that reproduces it). Bounded iteration counts keep the run well under 20 s.
    private const string WellFormedSeed = "0CqzEiE9lXk1";
    private const string MutatedSeed = "4zMINjOdEZ01";
    private const int Iterations = 1500;

    [Fact]
    public void WellFormedImagesTranslateIdentically() =>
        Gen.Int.Sample(seed => CheckImage(seed, mutate: false), seed: WellFormedSeed, iter: Iterations, threads: 1,
            print: seed => $"image seed {seed} (well-formed)");

    [Fact]
    public void MutatedImagesTranslateIdentically() =>
        Gen.Int.Sample(seed => CheckImage(seed, mutate: true), seed: MutatedSeed, iter: Iterations, threads: 1,
            print: seed => $"image seed {seed} (mutated)");

    /// <summary>Builds image <paramref name="seed"/>, runs its requests through both walkers and compares everything.</summary>
    internal static void CheckImage(int seed, bool mutate)
    {
        var (image, requests) = Build(seed, mutate);
        var referenceMemory = image.Memory.Clone();
        var unit = image.CreateUnit();
        var reference = image.CreateReference(referenceMemory);
        for (var i = 0; i < requests.Count; i++)
        {
            // A mutated image may alias structures (a page-table frame that is also a PASID table), so a walk's own
            // A/D write can change an entry the unit has cached. Hardware caches may be stale until software
            // invalidates (VT-d §6.5), so for such images the walk logic is compared with the caches emptied first;
            // well-formed images, which cannot alias, keep every cache warm across the stream.
            if (mutate)
            {
                unit.FlushAllCaches();
            }
            var expected = reference.Translate(requests[i]);
            var actual = ReferenceResult.FromEngine(unit.Translate(requests[i]));
            if (!Agree(expected, actual))
            {
                Assert.Fail(Describe(image, requests, i, $"engine {actual}, reference {expected}"));
            }
        }
        foreach (var frame in image.Builder.Frames)
        {
            var engineFrame = image.Memory.GetFrame(frame >> 12);
            var referenceFrame = referenceMemory.GetFrame(frame >> 12);
            if (!engineFrame.SequenceEqual(referenceFrame))
            {
                var index = 0;
                while (engineFrame[index] == referenceFrame[index])
                {
                    index++;
                }
                Assert.Fail(Describe(image, requests, requests.Count - 1,
                    $"memory differs at 0x{frame + (ulong)(index * 8):x}: engine 0x{engineFrame[index]:x}, reference 0x{referenceFrame[index]:x}"));
            }
        }
    }

    /// <summary>The image and request stream of <paramref name="seed"/>.</summary>
    internal static (TableImage Image, List<DmaRequest> Requests) Build(int seed, bool mutate)
    {
        var random = new Random(seed);
        var image = TableImageGenerator.Generate(random);
        if (mutate)
        {
            TableImageGenerator.Mutate(image, random, 1 + random.Next(4));
        }
        return (image, TableImageGenerator.Requests(image, random, RequestsPerImage));
    }

    /// <summary>Identical results; an interrupt carries only its status and address.</summary>
    internal static bool Agree(ReferenceResult expected, ReferenceResult actual) =>
        expected.Status == TranslationStatus.Interrupt
            ? actual.Status == TranslationStatus.Interrupt && actual.Address == expected.Address && actual.Fault == FaultReason.None
            : expected == actual;

    private static string Describe(TableImage image, List<DmaRequest> requests, int failing, string what)
    {
        var text = new StringBuilder();
        text.AppendLine(what);
        text.AppendLine($"request #{failing}: {requests[failing]} ({requests[failing].AddressType})");
        text.AppendLine($"mode {image.Mode}, TE {image.TranslationEnabled}, profile {image.Profile}");
        foreach (var mutation in image.Mutations)
        {
            text.AppendLine($"mutation {mutation}");
        }
        for (var i = 0; i < failing; i++)
        {
            text.AppendLine($"  earlier #{i}: {requests[i]} ({requests[i].AddressType})");
        }
        return text.ToString();
    }
}
