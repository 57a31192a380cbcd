namespace VtdEngine.Tables;

/// <summary>
/// What the emulated remapping unit supports: the CAP/ECAP registers (VT-d §11.4.2, §11.4.3) plus the platform's
/// host address width. Fields whose feature is absent are reserved in the table entries, as in hardware.
/// </summary>
public sealed record CapabilityProfile
{
    /// <summary>A full-featured scalable-mode unit: 52-bit HAW, 57-bit MGAW, 3/4/5-level second stage, 4/5-level
    /// first stage with 1 GiB pages, nesting, pass-through, 20-bit PASIDs, SRS, SSADS, EAFS, RPS, RPRIVS.</summary>
    public static CapabilityProfile Default { get; } = new();

    /// <summary>Host address width (DMAR table HAW): output addresses and table pointers must lie below 2^HAW.</summary>
    public int HostAddressWidth { get; init; } = 52;

    /// <summary>CAP.MGAW + 1: the largest input address width of second-stage translation.</summary>
    public int MaxGuestAddressWidth { get; init; } = 57;

    /// <summary>CAP.SAGAW: bit 1 = 39-bit (3-level), bit 2 = 48-bit (4-level), bit 3 = 57-bit (5-level).</summary>
    public int SupportedAdjustedGuestAddressWidths { get; init; } = 0b1110;

    /// <summary>CAP.ND: number of domain-id bits is 4 + 2·ND.</summary>
    public int NumberOfDomainsEncoding { get; init; } = 6;

    /// <summary>CAP.CM: caching mode (not-present and faulting entries may be cached).</summary>
    public bool CachingMode { get; init; }

    /// <summary>CAP.RWBF: required write-buffer flushing.</summary>
    public bool RequiredWriteBufferFlushing { get; init; }

    /// <summary>CAP.SSLPS bit 0: 2 MiB second-stage pages.</summary>
    public bool SecondStage2MPages { get; init; } = true;

    /// <summary>CAP.SSLPS bit 1: 1 GiB second-stage pages.</summary>
    public bool SecondStage1GPages { get; init; } = true;

    /// <summary>CAP.FS1GP: 1 GiB first-stage pages.</summary>
    public bool FirstStage1GPages { get; init; } = true;

    /// <summary>CAP.FS5LP: 5-level first-stage paging.</summary>
    public bool FirstStage5Level { get; init; } = true;

    /// <summary>CAP.PSI: page-selective invalidation.</summary>
    public bool PageSelectiveInvalidation { get; init; } = true;

    /// <summary>CAP.MAMV: largest address mask value for page-selective invalidation.</summary>
    public int MaxAddressMaskValue { get; init; } = 18;

    /// <summary>CAP.NFR + 1: number of fault-recording registers.</summary>
    public int FaultRecordingRegisters { get; init; } = 8;

    /// <summary>CAP.ESRTPS: SRTP flushes every cache itself.</summary>
    public bool EnhancedSetRootTablePointer { get; init; } = true;

    /// <summary>CAP.DWD / CAP.DRD: write and read draining.</summary>
    public bool Draining { get; init; } = true;

    /// <summary>ECAP.QI: queued invalidation.</summary>
    public bool QueuedInvalidation { get; init; } = true;

    /// <summary>ECAP.DT: device-TLB (ATS) support.</summary>
    public bool DeviceTlb { get; init; } = true;

    /// <summary>ECAP.PT: pass-through.</summary>
    public bool PassThrough { get; init; } = true;

    /// <summary>ECAP.SC: snoop control (SNP in second-stage leaves, PGSNP).</summary>
    public bool SnoopControl { get; init; } = true;

    /// <summary>ECAP.NEST: nested translation (PGTT=011).</summary>
    public bool Nested { get; init; } = true;

    /// <summary>ECAP.SRS: supervisor requests (SRE).</summary>
    public bool SupervisorRequests { get; init; } = true;

    /// <summary>ECAP.EAFS: extended-accessed flag (EAFE).</summary>
    public bool ExtendedAccessedFlag { get; init; } = true;

    /// <summary>ECAP.PASID: requests with PASID.</summary>
    public bool Pasid { get; init; } = true;

    /// <summary>ECAP.PSS + 1: PASID width in bits (at most 20).</summary>
    public int PasidWidth { get; init; } = 20;

    /// <summary>ECAP.SMTS: scalable-mode translation.</summary>
    public bool ScalableMode { get; init; } = true;

    /// <summary>ECAP.SSADS: second-stage accessed/dirty (SSADE).</summary>
    public bool SecondStageAccessedDirty { get; init; } = true;

    /// <summary>ECAP.SSTS: second-stage translation (PGTT=010).</summary>
    public bool SecondStageTranslation { get; init; } = true;

    /// <summary>ECAP.FSTS: first-stage translation (PGTT=001).</summary>
    public bool FirstStageTranslation { get; init; } = true;

    /// <summary>ECAP.SMPWCS: snooped page walks (PWSNP); without it A/D updates fault (SFS.9/SSS.5).</summary>
    public bool ScalableModePageWalkCoherency { get; init; } = true;

    /// <summary>ECAP.RPS: RID_PASID field in the scalable-mode context entry.</summary>
    public bool RidPasid { get; init; } = true;

    /// <summary>ECAP.RPRIVS: RID_PRIV field in the scalable-mode context entry.</summary>
    public bool RidPriv { get; init; } = true;

    /// <summary>ECAP.ADMS: abort-DMA mode (RTADDR.TTM = 11).</summary>
    public bool AbortDmaMode { get; init; } = true;

    /// <summary>ECAP.PRS: page requests.</summary>
    public bool PageRequests { get; init; }

    /// <summary>VER register: major version in bits 7:4, minor in 3:0.</summary>
    public byte Version { get; init; } = 0x10;

    /// <summary>Register offset of the fault-recording registers, in 16-byte units (CAP.FRO).</summary>
    public int FaultRecordingOffset { get; init; } = 0x22;

    /// <summary>Register offset of the IOTLB registers, in 16-byte units (ECAP.IRO).</summary>
    public int IotlbRegisterOffset { get; init; } = 0x10;

    /// <summary>Domain-id width in bits: 4 + 2·ND.</summary>
    public int DomainIdBits => 4 + (2 * NumberOfDomainsEncoding);

    /// <summary>Whether a second-stage AW encoding (1 = 39-bit, 2 = 48-bit, 3 = 57-bit) is in SAGAW.</summary>
    public bool SupportsAddressWidth(int aw) => aw is >= 1 and <= 3 && (SupportedAdjustedGuestAddressWidths & (1 << aw)) != 0;

    /// <summary>The largest AW encoding in SAGAW (what pass-through legacy context entries must carry), or -1.</summary>
    public int LargestAddressWidth
    {
        get
        {
            for (var aw = 3; aw >= 1; aw--)
            {
                if (SupportsAddressWidth(aw))
                {
                    return aw;
                }
            }
            return -1;
        }
    }

    /// <summary>The CAP register value (VT-d §11.4.2).</summary>
    public ulong Capability =>
        (ulong)(uint)(NumberOfDomainsEncoding & 7)
        | Flag(RequiredWriteBufferFlushing, 4)
        | Flag(CachingMode, 7)
        | ((ulong)(uint)(SupportedAdjustedGuestAddressWidths & 0x1F) << 8)
        | ((ulong)(uint)(MaxGuestAddressWidth - 1 & 0x3F) << 16)
        | ((ulong)(uint)(FaultRecordingOffset & 0x3FF) << 24)
        | Flag(SecondStage2MPages, 34) | Flag(SecondStage1GPages, 35)
        | Flag(PageSelectiveInvalidation, 39)
        | ((ulong)(uint)(FaultRecordingRegisters - 1 & 0xFF) << 40)
        | ((ulong)(uint)(MaxAddressMaskValue & 0x3F) << 48)
        | Flag(Draining, 54) | Flag(Draining, 55)
        | Flag(FirstStage1GPages, 56)
        | Flag(FirstStage5Level, 60)
        | Flag(EnhancedSetRootTablePointer, 63);

    /// <summary>The ECAP register value (VT-d §11.4.3).</summary>
    public ulong ExtendedCapability =>
        Flag(QueuedInvalidation, 1) | Flag(DeviceTlb, 2) | Flag(PassThrough, 6) | Flag(SnoopControl, 7)
        | ((ulong)(uint)(IotlbRegisterOffset & 0x3FF) << 8)
        | Flag(Nested, 26) | Flag(PageRequests, 29) | Flag(SupervisorRequests, 31) | Flag(ExtendedAccessedFlag, 34)
        | (Pasid ? (ulong)(uint)((PasidWidth - 1) & 0x1F) << 35 : 0UL) | Flag(Pasid, 40)
        | Flag(ScalableMode, 43) | Flag(SecondStageAccessedDirty, 45) | Flag(SecondStageTranslation, 46)
        | Flag(FirstStageTranslation, 47) | Flag(ScalableModePageWalkCoherency, 48) | Flag(RidPasid, 49)
        | Flag(AbortDmaMode, 52) | Flag(RidPriv, 53);

    /// <summary>Checks the profile is self-consistent; throws <see cref="ArgumentException"/> otherwise.</summary>
    public CapabilityProfile Validate()
    {
        if (HostAddressWidth is < 32 or > 52)
        {
            throw new ArgumentException($"HAW {HostAddressWidth} is outside 32..52.");
        }
        if (MaxGuestAddressWidth is < 39 or > 57)
        {
            throw new ArgumentException($"MGAW {MaxGuestAddressWidth} is outside 39..57.");
        }
        if (PasidWidth is < 1 or > 20)
        {
            throw new ArgumentException($"PASID width {PasidWidth} is outside 1..20.");
        }
        if (FaultRecordingRegisters is < 1 or > 256)
        {
            throw new ArgumentException("The number of fault-recording registers must be 1..256.");
        }
        if (NumberOfDomainsEncoding is < 0 or > 6)
        {
            throw new ArgumentException("CAP.ND must be 0..6.");
        }
        return this;
    }

    private static ulong Flag(bool on, int bit) => on ? 1UL << bit : 0;
}
