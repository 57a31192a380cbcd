using VtdEngine.Iotlb.Probing;
using VtdEngine.Iotlb.Storage;

namespace VtdEngine.Iotlb;

/// <summary>The invalidation clock, the invalidation gate and the full reset when the 32-bit clock nears wrap.</summary>
public sealed partial class IoTlb
{
    /// <summary>When <c>++clock</c> reaches this, the invalidation becomes a full reset and the clock restarts at 0.</summary>
    internal const uint WrapLimit = uint.MaxValue - 4096;

    private int _lastFootprint;

    /// <summary>
    /// Enters the gate and takes a fresh stamp; returns 0 when the clock wrapped, in which case a full reset has already
    /// covered the invalidation and the gate is not held.
    /// </summary>
    private uint BeginInvalidation()
    {
        EnterGate();
        uint stamp = Interlocked.Increment(ref _clock.Clock);
        if (stamp < WrapLimit)
        {
            return stamp;
        }

        ExitGate();
        WrapReset();
        return 0;
    }

    /// <summary>Ends an invalidation whose scope slots were raised to <paramref name="stamp"/>.</summary>
    /// <remarks>Latest is raised after the scope slots, so a reader that sees the new Latest also sees the slots.</remarks>
    private void EndInvalidation(int footprint, uint stamp)
    {
        RaiseTo(ref _clock.Latest, stamp);
        Interlocked.Increment(ref _epoch.Value);
        _lastFootprint = footprint;
        ExitGate();
    }

    /// <summary>
    /// Full clear when the clock is about to wrap. Order matters: (1) close the gate, so no invalidation is in flight;
    /// (2) clock = 0, so a fill stamped before the reset is newer than the clock and <see cref="Insert"/> drops it;
    /// (3) clear every set under its seqlock and zero its last-invalidated stamp; (4) only then zero the stamp slots: had
    /// they been zeroed first, an old dead entry not yet cleared could have come back to life. Fills stamped after (2)
    /// are dead until (4) and live after it, which is right: their walks began after every earlier invalidation.
    /// </summary>
    private void WrapReset()
    {
        lock (_wrapLock)
        {
            // Our increment reached the limit and only a reset lowers the clock: if it is low now, a reset ran after
            // our increment and covered us.
            if (Volatile.Read(ref _clock.Clock) < WrapLimit)
            {
                return;
            }

            CloseGate();
            Volatile.Write(ref _clock.Clock, 0);
            for (int set = 0; set < _meta.Length; set++)
            {
                ref SetMeta meta = ref _meta[set];
                int sequence = LockSet(ref meta);
                _tags.AsSpan(_tagBase + (set * TagProbe.Ways), TagProbe.Ways).Clear();
                meta.LastInvalidated = 0;
                meta.AllLiveThrough = 0;
                UnlockSet(ref meta, sequence);
            }

            Array.Clear(_domains);
            Array.Clear(_pasids);
            Volatile.Write(ref _clock.Global, 0);
            Volatile.Write(ref _clock.Latest, 0);
            Interlocked.Increment(ref _epoch.Value);
            _lastFootprint = _meta.Length;
            OpenGate();
        }
    }

    /// <summary>Counts an invalidation in; waits while a wrap reset holds the gate.</summary>
    private void EnterGate()
    {
        SpinWait spinner = default;
        while (true)
        {
            int gate = Volatile.Read(ref _clock.Gate);
            if (gate >= 0 && Interlocked.CompareExchange(ref _clock.Gate, gate + 1, gate) == gate)
            {
                return;
            }

            spinner.SpinOnce();
        }
    }

    private void ExitGate() => Interlocked.Decrement(ref _clock.Gate);

    /// <summary>Stops new invalidations (sign bit) and waits for those in flight to leave.</summary>
    private void CloseGate()
    {
        Interlocked.Or(ref _clock.Gate, int.MinValue);
        SpinWait spinner = default;
        while (Volatile.Read(ref _clock.Gate) != int.MinValue)
        {
            spinner.SpinOnce();
        }
    }

    private void OpenGate() => Interlocked.And(ref _clock.Gate, int.MaxValue);
}
