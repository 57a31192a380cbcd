using VtdEngine.Iotlb;

namespace VtdEngine;

/// <summary>Internal views for tests and benchmarks; not part of the engine's contract.</summary>
public sealed partial class TranslationUnit
{
    /// <summary>
    /// The IOTLB's counters, its lookups including those the unit's own entry points count per thread, so cache tests
    /// can check that they exercised hits and not only misses.
    /// </summary>
    internal IotlbStatistics IotlbStatisticsForTest => ReadIotlbAndThreadCounters().Iotlb;

    /// <summary>The unit's IOTLB, so tests can drive its clock to the wrap reset.</summary>
    internal IoTlb IotlbForTest => _iotlb;
}
