namespace VtdEngine.Iotlb;

/// <summary>Internal views for tests and benchmarks; not part of the engine's contract.</summary>
public sealed partial class IoTlb
{
    /// <summary>The invalidation clock; tests set it near <see cref="WrapLimit"/> to exercise the wrap reset.</summary>
    internal uint ClockForTest
    {
        get => Volatile.Read(ref _clock.Clock);
        set => Volatile.Write(ref _clock.Clock, value);
    }

    /// <summary>Stamp slots plus sets written by the most recent invalidation (single-threaded tests only).</summary>
    internal int LastInvalidationFootprint => Volatile.Read(ref _lastFootprint);

    /// <summary>Sets in the cache.</summary>
    internal int SetCount => _meta.Length;
}
