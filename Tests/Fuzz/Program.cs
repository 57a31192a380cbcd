using SharpFuzz;
using VtdEngine.Fuzzing;

// VtdEngine.Fuzz: the AFL++ harness (see docs/fuzzing.md and Tests/Fuzz/fuzz.sh).
//   VtdEngine.Fuzz TARGET                    run under afl-fuzz (or once on stdin without it)
//   VtdEngine.Fuzz --make-corpus DIR         write the seed corpus: DIR/TARGET/NAME
//   VtdEngine.Fuzz --replay TARGET FILE...   run files once each and report, exit 1 on a failure (FUZZ_VERBOSE=1 logs)
if (args.Length >= 2 && args[0] == "--make-corpus")
{
    foreach (var target in FuzzTargets.All)
    {
        var folder = Path.Combine(args[1], target);
        Directory.CreateDirectory(folder);
        foreach (var (name, bytes) in SeedCorpus.For(target))
        {
            FuzzTargets.Run(target, bytes);
            File.WriteAllBytes(Path.Combine(folder, name), bytes);
        }
        Console.WriteLine($"{target}: {SeedCorpus.For(target).Count} seeds in {folder}");
    }
    return 0;
}

if (args.Length >= 2 && args[0] == "--replay")
{
    Action<string>? log = Environment.GetEnvironmentVariable("FUZZ_VERBOSE") is "1" ? Console.WriteLine : null;
    var failures = 0;
    foreach (var file in args.Skip(2))
    {
        try
        {
            var compared = RunTarget(args[1], File.ReadAllBytes(file), log);
            Console.WriteLine($"ok    {file} ({compared} compared)");
        }
        catch (Exception e)
        {
            failures++;
            Console.WriteLine($"FAIL  {file}: {e}");
        }
    }
    return failures == 0 ? 0 : 1;
}

if (args.Length != 1 || !FuzzTargets.All.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: VtdEngine.Fuzz {{{string.Join('|', FuzzTargets.All)}}} | --make-corpus DIR | --replay TARGET FILE...");
    return 2;
}

var selected = args[0];
Fuzzer.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    RunTarget(selected, buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
});
return 0;

static int RunTarget(string target, ReadOnlySpan<byte> input, Action<string>? log = null) => target switch
{
    FuzzTargets.Translate => FuzzTargets.RunTranslate(input, log),
    FuzzTargets.Invalidate => FuzzTargets.RunInvalidate(input, log),
    FuzzTargets.Queue => FuzzTargets.RunQueue(input, log),
    _ => FuzzTargets.RunOwnership(input, log),
};
