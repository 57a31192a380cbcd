namespace VtdEngine;

/// <summary>RTADDR.TTM: the translation table mode latched by SRTP (VT-d §11.4.5).</summary>
public enum RootTableMode : byte
{
    /// <summary>00: legacy root and context entries.</summary>
    Legacy = 0,

    /// <summary>01: scalable mode (needs ECAP.SMTS).</summary>
    Scalable = 1,

    /// <summary>10: reserved (was "extended mode"); requests fault RTA.1.</summary>
    Reserved = 2,

    /// <summary>11: abort-DMA mode (needs ECAP.ADMS): every request faults RTA.4.</summary>
    AbortDma = 3,
}
