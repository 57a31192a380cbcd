namespace VtdEngine.Hardware;

/// <summary>
/// GCMD_REG bits (VT-d §11.4, GCMD_REG). Software changes one bit per write: it reads GSTS, masks the one-shot
/// status bits (0x96FF_FFFF), sets or clears one command bit, writes GCMD and polls GSTS.
/// </summary>
[Flags]
public enum GlobalCommand : uint
{
    /// <summary>No command.</summary>
    None = 0,

    /// <summary>CFI: compatibility-format interrupts allowed (mirrored into CFIS).</summary>
    CompatibilityFormatInterrupt = 1u << 23,

    /// <summary>SIRTP: set interrupt remap table pointer (interrupt remapping is not modelled; ignored).</summary>
    SetInterruptRemapTablePointer = 1u << 24,

    /// <summary>IRE: interrupt remapping enable (not modelled; ignored).</summary>
    InterruptRemappingEnable = 1u << 25,

    /// <summary>QIE: queued invalidation enable.</summary>
    QueuedInvalidationEnable = 1u << 26,

    /// <summary>WBF: write buffer flush (nothing is buffered; completes at once).</summary>
    WriteBufferFlush = 1u << 27,

    /// <summary>SRTP: latch RTADDR as the active root table.</summary>
    SetRootTablePointer = 1u << 30,

    /// <summary>TE: DMA remapping enable.</summary>
    TranslationEnable = 1u << 31,
}

/// <summary>GSTS_REG bits: the status that each <see cref="GlobalCommand"/> bit drives (VT-d §11.4, GSTS_REG).</summary>
[Flags]
public enum GlobalStatus : uint
{
    /// <summary>Nothing enabled.</summary>
    None = 0,

    /// <summary>CFIS.</summary>
    CompatibilityFormatInterruptStatus = 1u << 23,

    /// <summary>IRTPS (never set: interrupt remapping is not modelled).</summary>
    InterruptRemapTablePointerStatus = 1u << 24,

    /// <summary>IRES (never set).</summary>
    InterruptRemappingEnableStatus = 1u << 25,

    /// <summary>QIES.</summary>
    QueuedInvalidationEnableStatus = 1u << 26,

    /// <summary>WBFS: set while a write-buffer flush is in progress; flushes complete at once, so it reads 0.</summary>
    WriteBufferFlushStatus = 1u << 27,

    /// <summary>RTPS: a root table pointer has been latched.</summary>
    RootTablePointerStatus = 1u << 30,

    /// <summary>TES: DMA remapping is enabled.</summary>
    TranslationEnableStatus = 1u << 31,
}

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
