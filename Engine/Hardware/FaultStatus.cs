namespace VtdEngine.Hardware;

/// <summary>FSTS_REG status bits (VT-d §11.4, FSTS_REG); FRI lives in bits 15:8.</summary>
[Flags]
public enum FaultStatus : uint
{
    /// <summary>No fault condition.</summary>
    None = 0,

    /// <summary>PFO (RW1C): a primary fault was dropped because the next FRCD was still full.</summary>
    PrimaryFaultOverflow = 1u << 0,

    /// <summary>PPF (RO): at least one FRCD has F set.</summary>
    PrimaryPendingFault = 1u << 1,

    /// <summary>IQE (RW1C): the invalidation queue stopped on an error (see IQERCD.IQEI).</summary>
    InvalidationQueueError = 1u << 4,

    /// <summary>ICE (RW1C): invalidation completion error (device-TLB; never set by this model).</summary>
    InvalidationCompletionError = 1u << 5,

    /// <summary>ITE (RW1C): invalidation time-out error (device-TLB; never set by this model).</summary>
    InvalidationTimeoutError = 1u << 6,
}
