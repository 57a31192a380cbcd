using CsCheck;
using VtdEngine.Fuzzing;

namespace VtdEngine.Tests.Properties;

/// <summary>
/// The fuzz targets' decoders and oracles as CsCheck properties in the normal suite: random byte arrays (fresh, or a
/// seed input with random byte overwrites and bit flips) decode into an image plus a request or operation stream, and
/// must pass the same oracle the fuzzer uses. CsCheck shrinks a failure to a small mutation list; the failing bytes are
/// printed in hex, ready to save under Tests/Fuzz/regressions/TARGET.
/// </summary>
[Trait("Category", "Fuzz")]
public class TranslatePropertyTests
{
    // Each property starts from a fixed seed; CsCheck draws the later iterations afresh every run (a failure prints the
    // seed that reproduces it). Bounded iterations keep the whole class well under 15 s on 2 cores.
    private const string TranslateSeed = "0CqzEiE9lXk1";
    private const string RandomSeed = "4zMINjOdEZ01";
    private const string InvalidateSeed = "0CqzEiE9lXk1";
    private const string QueueSeed = "4zMINjOdEZ01";

    /// <summary>Iterations, multiplied by FUZZ_PROPERTY_SCALE when set (for a longer local run).</summary>
    private static int Iterations(int count) =>
        int.TryParse(Environment.GetEnvironmentVariable("FUZZ_PROPERTY_SCALE"), out var scale) && scale > 1 ? count * scale : count;

    /// <summary>One random change to an input: overwrite a byte, or flip one bit.</summary>
    public readonly record struct Mutation(int Position, byte Value, bool Flip);

    private static readonly Gen<Mutation> s_mutation =
        Gen.Select(Gen.Int[0, 4095], Gen.Byte, Gen.Bool, (position, value, flip) => new Mutation(position, value, flip));

    /// <summary>A seed of <paramref name="target"/> with 0..<paramref name="maxMutations"/> mutations applied.</summary>
    internal static Gen<byte[]> MutatedSeeds(string target, int maxMutations)
    {
        var seeds = SeedCorpus.For(target);
        return Gen.Select(Gen.Int[0, seeds.Count - 1], s_mutation.Array[0, maxMutations], (index, mutations) =>
        {
            var bytes = (byte[])seeds[index].Bytes.Clone();
            foreach (var m in mutations)
            {
                var at = m.Position % bytes.Length;
                bytes[at] = m.Flip ? (byte)(bytes[at] ^ (1 << (m.Value & 7))) : m.Value;
            }
            return bytes;
        });
    }

    private static string Hex(byte[] bytes) => $"{bytes.Length} bytes: {Convert.ToHexString(bytes)}";

    [Fact]
    public void MutatedTranslateInputsAgreeWithTheOracles() =>
        MutatedSeeds(FuzzTargets.Translate, 16).Sample(bytes => FuzzTargets.RunTranslate(bytes), seed: TranslateSeed,
            iter: Iterations(400), threads: 1, print: Hex);

    [Fact]
    public void RandomTranslateInputsAgreeWithTheOracles() =>
        Gen.Byte.Array[0, 1200].Sample(bytes => FuzzTargets.RunTranslate(bytes), seed: RandomSeed, iter: Iterations(300),
            threads: 1, print: Hex);

    [Fact]
    public void MutatedInvalidationStreamsAgreeWithTheOracles() =>
        MutatedSeeds(FuzzTargets.Invalidate, 12).Sample(bytes => FuzzTargets.RunInvalidate(bytes), seed: InvalidateSeed,
            iter: Iterations(80), threads: 1, print: Hex);

    [Fact]
    public void MutatedRegisterTrafficKeepsTheRegisterFileConsistent() =>
        MutatedSeeds(FuzzTargets.Queue, 12).Sample(bytes => FuzzTargets.RunQueue(bytes), seed: QueueSeed,
            iter: Iterations(150), threads: 1, print: Hex);

    [Fact]
    public void MutatedOwnershipSequencesKeepDevicesIsolated() =>
        MutatedSeeds(FuzzTargets.Ownership, 12).Sample(bytes => FuzzTargets.RunOwnership(bytes), seed: QueueSeed,
            iter: Iterations(150), threads: 1, print: Hex);

    [Fact]
    public void SeedsCompareMostRequests()
    {
        // Guards the harness itself: a seed whose requests were never compared would make the properties vacuous.
        foreach (var (name, bytes) in SeedCorpus.For(FuzzTargets.Translate))
        {
            Assert.True(FuzzTargets.RunTranslate(bytes) > 0, $"translate seed {name} compared nothing");
        }
        var probes = InvalidateInput.Probes.Count;
        Assert.Contains(SeedCorpus.For(FuzzTargets.Invalidate), seed => FuzzTargets.RunInvalidate(seed.Bytes) > probes);
    }
}
