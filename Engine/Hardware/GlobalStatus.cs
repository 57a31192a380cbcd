namespace VtdEngine.Hardware;

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
