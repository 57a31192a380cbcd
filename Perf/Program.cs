using System.CommandLine;
using BenchmarkDotNet.Running;
using VtdEngine.Perf.Sim;

namespace VtdEngine.Perf;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Everything after "bench" belongs to BenchmarkDotNet; a bare word is a filter ("bench Hit" = --filter *Hit*),
        // and no filter at all means every benchmark (BenchmarkDotNet would otherwise prompt on stdin).
        if (args.Length > 0 && args[0] == "bench")
        {
            var rest = args[1..];
            if (rest.Length > 0 && !rest[0].StartsWith('-'))
            {
                rest = ["--filter", $"*{rest[0]}*", .. rest[1..]];
            }
            else if (!rest.Contains("--filter") && !rest.Contains("--list") && !rest.Contains("--help"))
            {
                rest = ["--filter", "*", .. rest];
            }
            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest);
            return 0;
        }

        var root = new RootCommand("VtdEngine performance tools: the NIC simulation and the micro-benchmarks.")
        {
            SimCommand.Create(),
            new Command("bench", "Run the BenchmarkDotNet suite: bench [filter] [BenchmarkDotNet options]."),
        };
        return root.Parse(args).Invoke();
    }
}
