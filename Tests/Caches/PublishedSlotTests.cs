using System.Diagnostics;

namespace VtdEngine.Tests.Caches;

/// <summary>
/// The seqlock slot behind the context and PASID caches: a reader that reports a value saw one a writer wrote whole.
/// </summary>
[Trait("Category", "Caches")]
[Trait("Category", "Stress")]
public class PublishedSlotTests
{
    /// <summary>Eight words a writer always stores equal, so a torn copy shows as unequal words.</summary>
    private readonly record struct Wide(long A, long B, long C, long D, long E, long F, long G, long H)
    {
        public static Wide Of(long value) => new(value, value, value, value, value, value, value, value);

        public bool IsWhole => A == B && B == C && C == D && D == E && E == F && F == G && G == H;
    }

    [Fact]
    public void AnEmptySlotReadsAsDefault()
    {
        var slot = default(PublishedSlot<Wide>);
        Assert.True(slot.TryRead(out var value));
        Assert.Equal(default, value);
        slot.Write(Wide.Of(7));
        Assert.True(slot.TryRead(out value));
        Assert.Equal(Wide.Of(7), value);
    }

    /// <summary>
    /// Two writers and a reader hammer one slot for <see cref="RemapStress.Duration"/>: every value read must be whole,
    /// and both writers' values must be seen (so the reader really overlapped them).
    /// </summary>
    /// <remarks>
    /// On x64, whose loads are not reordered with each other, this catches a missing or wrong sequence check and missing
    /// writer exclusion, not a missing <see cref="Volatile.ReadBarrier"/>; that needs a weakly ordered machine (ARM64).
    /// </remarks>
    [Fact]
    public void ReadersNeverReportATornValue()
    {
        var slots = new PublishedSlot<Wide>[1];
        using var stop = new CancellationTokenSource();
        long torn = 0, reads = 0, fromEven = 0, fromOdd = 0;
        void Writer(long first)
        {
            for (var value = first; !stop.IsCancellationRequested; value += 2)
            {
                slots[0].Write(Wide.Of(value));
            }
        }
        // Threads of their own: on a 2-core machine the thread pool may not start a second task before the test ends.
        var writers = new[] { new Thread(() => Writer(2)), new Thread(() => Writer(3)) };
        foreach (var writer in writers)
        {
            writer.Start();
        }
        var clock = Stopwatch.StartNew();
        // Until both writers' values and enough reads have been seen, within a bound, so a starved thread on a loaded
        // machine does not fail the run.
        while (clock.Elapsed < RemapStress.Duration
            || ((fromEven == 0 || fromOdd == 0 || reads <= 1000) && clock.Elapsed < TimeSpan.FromSeconds(20)))
        {
            if (!slots[0].TryRead(out var value))
            {
                continue;
            }
            reads++;
            if (!value.IsWhole)
            {
                torn++;
            }
            else if (value.A != 0)
            {
                _ = (value.A & 1) == 0 ? fromEven++ : fromOdd++;
            }
        }
        stop.Cancel();
        foreach (var writer in writers)
        {
            writer.Join();
        }

        Assert.Equal(0, torn);
        Assert.True(reads > 1000, $"{reads} reads");
        Assert.True(fromEven > 0 && fromOdd > 0, $"{fromEven} even, {fromOdd} odd");
    }
}
