namespace VtdEngine.Iotlb;

/// <summary>How a cached translation was produced: the PASID-table entry's PGTT (VT-d §9.6), or legacy mode.</summary>
/// <remarks>
/// The type decides which invalidations reach an entry (VT-d Tables 23 and 24): page-selective IOTLB invalidation
/// matches <see cref="Legacy"/>, <see cref="SecondStage"/> and <see cref="PassThrough"/> entries by address but drops
/// every <see cref="FirstStage"/> and <see cref="Nested"/> entry of the domain; page-selective P_IOTLB invalidation
/// reaches only <see cref="FirstStage"/> and <see cref="Nested"/> entries.
/// </remarks>
public enum CachedTranslationType : byte
{
    /// <summary>A legacy-mode (TTM=00) translation; invalidated like a second-stage entry.</summary>
    Legacy = 0,

    /// <summary>PGTT=001: first-stage only.</summary>
    FirstStage = 1,

    /// <summary>PGTT=010: second-stage only.</summary>
    SecondStage = 2,

    /// <summary>PGTT=011: first stage nested over second stage.</summary>
    Nested = 3,

    /// <summary>PGTT=100: pass-through.</summary>
    PassThrough = 4,
}
