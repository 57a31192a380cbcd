namespace VtdEngine.Iotlb;

/// <summary>What became of one fill, for a caller that counts fills in counters of its own.</summary>
internal enum FillOutcome
{
    /// <summary>Stored in an empty, dead or same-key way.</summary>
    Stored,

    /// <summary>Stored in place of a live entry of another key.</summary>
    StoredEvicting,

    /// <summary>Not stored: an invalidation overtook the walk (see <see cref="IoTlb.Insert"/>).</summary>
    Dropped,
}
