using System.Diagnostics;

namespace VtdEngine.Iotlb.Storage;

/// <summary>
/// The writer side of a seqlock over one sequence word, shared by the IOTLB's sets and the engine's cache slots: even
/// means stable, odd means a writer holds it, and each write moves it on by 2.
/// </summary>
internal static class SequenceLock
{
    /// <summary>Takes the word by CAS from even to odd; the CAS is a full fence, so the odd value is visible before any
    /// store the writer then makes. Writers take turns; readers are never blocked.</summary>
    /// <returns>The even value taken, for <see cref="Exit"/>.</returns>
    internal static int Enter(ref int sequence)
    {
        SpinWait spinner = default;
        while (true)
        {
            int seen = Volatile.Read(ref sequence);
            if ((seen & 1) == 0 && Interlocked.CompareExchange(ref sequence, seen + 1, seen) == seen)
            {
                return seen;
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Releases the word: the release store orders every write of the critical section before the new even value.</summary>
    internal static void Exit(ref int sequence, int entered)
    {
        Debug.Assert((Volatile.Read(ref sequence) & 1) == 1, "the word must be held");
        Volatile.Write(ref sequence, unchecked(entered + 2));
    }
}
