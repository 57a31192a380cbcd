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
