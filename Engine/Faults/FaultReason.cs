namespace VtdEngine;

/// <summary>
/// VT-d fault reason codes as recorded in FRCD.FR (VT-d Rev 5.x, Appendix "Non-Recoverable Fault Reason Encodings").
/// Legacy-mode codes are 0x1–0xE; scalable-mode codes 0x30–0x91. Names are the spec's condition identifiers.
/// </summary>
public enum FaultReason : byte
{
    /// <summary>No fault.</summary>
    None = 0,

    /// <summary>LRT.2: root entry P=0.</summary>
    LrtRootNotPresent = 0x1,

    /// <summary>LCT.2: context entry P=0.</summary>
    LctContextNotPresent = 0x2,

    /// <summary>LCT.4.x: invalid context programming (AW, TT), or error reading the second-stage root.</summary>
    LctInvalidProgramming = 0x3,

    /// <summary>LGN.1.x: input address above MGAW/AGAW, or above HAW in pass-through.</summary>
    LgnAddressBeyondLimit = 0x4,

    /// <summary>LGN.2: write without write permission.</summary>
    LgnNoWrite = 0x5,

    /// <summary>LGN.3: read without read permission.</summary>
    LgnNoRead = 0x6,

    /// <summary>LSS.1: error accessing a second-stage paging entry.</summary>
    LssAccessError = 0x7,

    /// <summary>LRT.1: error accessing the root entry.</summary>
    LrtAccessError = 0x8,

    /// <summary>LCT.1: error accessing the context entry.</summary>
    LctAccessError = 0x9,

    /// <summary>LRT.3: reserved bits set in the root entry.</summary>
    LrtReserved = 0xA,

    /// <summary>LCT.3: reserved bits set in the context entry.</summary>
    LctReserved = 0xB,

    /// <summary>LSS.2: reserved bits set in a second-stage paging entry.</summary>
    LssReserved = 0xC,

    /// <summary>LCT.5: TT blocks translation or translated requests.</summary>
    LctTranslationBlocked = 0xD,

    /// <summary>LGN.4: output address in the interrupt range.</summary>
    LgnInterruptRange = 0xE,

    /// <summary>RTA.1.x: invalid RTADDR programming (TTM 10, 11 without ADMS, 01 without SMTS).</summary>
    RtaInvalidRootTableAddress = 0x30,

    /// <summary>RTA.2: legacy mode (TTM 00) and a request with PASID.</summary>
    RtaPasidInLegacyMode = 0x31,

    /// <summary>RTA.3: legacy mode and a page request.</summary>
    RtaPageRequestInLegacyMode = 0x32,

    /// <summary>RTA.4: abort-DMA mode.</summary>
    RtaAbortDma = 0x33,

    /// <summary>SRT.1: error accessing the scalable-mode root entry.</summary>
    SrtAccessError = 0x38,

    /// <summary>SRT.2: LP/UP clear for the requester's half.</summary>
    SrtNotPresent = 0x39,

    /// <summary>SRT.3: reserved bits set in the scalable-mode root entry.</summary>
    SrtReserved = 0x3A,

    /// <summary>SCT.1: error accessing the scalable-mode context entry.</summary>
    SctAccessError = 0x40,

    /// <summary>SCT.2: scalable-mode context entry P=0.</summary>
    SctNotPresent = 0x41,

    /// <summary>SCT.3: reserved bits set in the scalable-mode context entry.</summary>
    SctReserved = 0x42,

    /// <summary>SCT.4.x: invalid programming (PRE without DTE, RID_PASID beyond PDTS).</summary>
    SctInvalidProgramming = 0x43,

    /// <summary>SCT.5: DTE=0 and a translation or translated request.</summary>
    SctDeviceTlbDisabled = 0x44,

    /// <summary>SCT.6: PASIDE=0 and a request with PASID.</summary>
    SctPasidDisabled = 0x45,

    /// <summary>SCT.7: PASID beyond the PASID directory size (PDTS).</summary>
    SctPasidBeyondDirectory = 0x46,

    /// <summary>SCT.8: PRE=0 and a page request.</summary>
    SctPageRequestDisabled = 0x47,

    /// <summary>SCT.9: request with PASID equal to RID_PASID.</summary>
    SctPasidEqualsRidPasid = 0x48,

    /// <summary>SPD.1: error accessing the PASID directory entry.</summary>
    SpdAccessError = 0x50,

    /// <summary>SPD.2: PASID directory entry P=0.</summary>
    SpdNotPresent = 0x51,

    /// <summary>SPD.3: reserved bits set in the PASID directory entry.</summary>
    SpdReserved = 0x52,

    /// <summary>SPT.1: error accessing the PASID table entry.</summary>
    SptAccessError = 0x58,

    /// <summary>SPT.2: PASID table entry P=0.</summary>
    SptNotPresent = 0x59,

    /// <summary>SPT.3: reserved bits set in the PASID table entry.</summary>
    SptReserved = 0x5A,

    /// <summary>SPT.4.x: invalid programming (PGTT, AW, FSPM unsupported; nested FSPTPTR beyond limit).</summary>
    SptInvalidProgramming = 0x5B,

    /// <summary>SPT.6: supervisor request and SRE=0.</summary>
    SptSupervisorRequestDisabled = 0x5D,

    /// <summary>SFS.1: error accessing a first-stage paging entry (not the root).</summary>
    SfsAccessError = 0x70,

    /// <summary>SFS.2: first-stage entry P=0.</summary>
    SfsNotPresent = 0x71,

    /// <summary>SFS.3: reserved bits set in a first-stage entry.</summary>
    SfsReserved = 0x72,

    /// <summary>SFS.4: error accessing the first-stage root table.</summary>
    SfsRootAccessError = 0x73,

    /// <summary>SFS.5: nested: a first-stage address (table or page) beyond the second-stage limit.</summary>
    SfsAddressBeyondLimit = 0x74,

    /// <summary>SFS.6: nested: second stage denies reading the first-stage root table.</summary>
    SfsRootReadDenied = 0x75,

    /// <summary>SFS.7: nested: second stage denies reading a first-stage entry.</summary>
    SfsEntryReadDenied = 0x76,

    /// <summary>SFS.8: nested: second stage denies the write of a first-stage A/D update.</summary>
    SfsFlagWriteDenied = 0x77,

    /// <summary>SSS.1: error accessing a second-stage entry (not the root).</summary>
    SssAccessError = 0x78,

    /// <summary>SSS.2: second-stage entry not present (R=W=0).</summary>
    SssNotPresent = 0x79,

    /// <summary>SSS.3: reserved bits set in a second-stage entry.</summary>
    SssReserved = 0x7A,

    /// <summary>SSS.4: error accessing the second-stage root table.</summary>
    SssRootAccessError = 0x7B,

    /// <summary>SSS.5: second-stage A/D update needed but the page walk does not snoop.</summary>
    SssFlagUpdateNoSnoop = 0x7C,

    /// <summary>SSS.6: second-stage A/D update failed.</summary>
    SssFlagUpdateFailed = 0x7D,

    /// <summary>SGN.1: non-canonical input address for first-stage translation.</summary>
    SgnNonCanonical = 0x80,

    /// <summary>SGN.2: user request to a supervisor page (U/S=0).</summary>
    SgnUserSupervisor = 0x81,

    /// <summary>SGN.4.x: input address above HAW (pass-through).</summary>
    SgnAddressBeyondHaw = 0x83,

    /// <summary>SGN.5: input address above the second-stage AGAW/MGAW.</summary>
    SgnAddressBeyondAgaw = 0x84,

    /// <summary>SGN.6: write (or atomic) without write permission.</summary>
    SgnNoWrite = 0x85,

    /// <summary>SGN.7: read (or atomic) without read permission.</summary>
    SgnNoRead = 0x86,

    /// <summary>SGN.8: output address in the interrupt range.</summary>
    SgnInterruptRange = 0x87,

    /// <summary>SGN.10: PASID beyond ECAP.PSS.</summary>
    SgnPasidBeyondPss = 0x89,

    /// <summary>SFS.9: first-stage A/D update needed but the page walk does not snoop.</summary>
    SfsFlagUpdateNoSnoop = 0x90,

    /// <summary>SFS.10: first-stage A/D update failed.</summary>
    SfsFlagUpdateFailed = 0x91,
}

/// <summary>Spec properties of fault reasons.</summary>
public static class FaultReasonExtensions
{
    /// <summary>
    /// Qualified faults may be suppressed by FPD; all faults are qualified except LRT.*, LCT.1, RTA.*, SRT.*, SCT.1,
    /// SPD.1 and SPT.1 (VT-d §7.1.3).
    /// </summary>
    public static bool IsQualified(this FaultReason reason) => reason switch
    {
        FaultReason.None => false,
        FaultReason.LrtRootNotPresent or FaultReason.LrtAccessError or FaultReason.LrtReserved => false,
        FaultReason.LctAccessError => false,
        >= FaultReason.RtaInvalidRootTableAddress and <= FaultReason.RtaAbortDma => false,
        >= FaultReason.SrtAccessError and <= FaultReason.SrtReserved => false,
        FaultReason.SctAccessError or FaultReason.SpdAccessError or FaultReason.SptAccessError => false,
        _ => true,
    };

    /// <summary>Whether the code belongs to scalable-mode translation (0x30 and above).</summary>
    public static bool IsScalableMode(this FaultReason reason) => (byte)reason >= 0x30;
}
