namespace VtdEngine.Tables;

/// <summary>PASID-granular translation type (PGTT, VT-d §9.6).</summary>
public enum PasidGranularTranslationType : byte
{
    /// <summary>000: reserved.</summary>
    Reserved = 0,

    /// <summary>001: first-stage translation only.</summary>
    FirstStage = 1,

    /// <summary>010: second-stage translation only.</summary>
    SecondStage = 2,

    /// <summary>011: nested (first stage over second stage).</summary>
    Nested = 3,

    /// <summary>100: pass-through.</summary>
    PassThrough = 4,
}

/// <summary>First-stage paging mode (FSPM).</summary>
public enum FirstStagePagingMode : byte
{
    /// <summary>00: 4-level paging, 48-bit canonical input.</summary>
    FourLevel = 0,

    /// <summary>01: 5-level paging, 57-bit canonical input (needs CAP.FS5LP).</summary>
    FiveLevel = 1,
}

/// <summary>
/// Scalable-mode PASID table entry, 512 bits, 64 per PASID table indexed by PASID bits 5:0 (VT-d §9.6).
/// q0 = [63:12 SSPTPTR][11:10 rsvd][9 SSADE][8:6 PGTT][5 rsvd][4:2 AW][1 FPD][0 P];
/// q1 = [63:32 PAT][31:27 rsvd][26 EMTE][25 CD][24 PGSNP][23 PWSNP][22:16 rsvd][15:0 DID];
/// q2 = [63:12 FSPTPTR][11:8 rsvd][7 EAFE][6:5 ignored][4 WPE][3:2 FSPM][1 rsvd][0 SRE]; q3–q7 reserved
/// (the 5.x HPT fields are reserved on a unit without ECAP.HPTS).
/// </summary>
public readonly record struct PasidTableEntry(ulong Q0, ulong Q1, ulong Q2, ulong Q3, ulong Q4, ulong Q5, ulong Q6, ulong Q7)
{
    /// <summary>Size in bytes.</summary>
    public const int Size = 64;

    /// <summary>P.</summary>
    public bool Present => Bits.Bit(Q0, 0);

    /// <summary>FPD (evaluated even when P=0).</summary>
    public bool FaultProcessingDisable => Bits.Bit(Q0, 1);

    /// <summary>AW: second-stage address width (1 = 39, 2 = 48, 3 = 57 bits); ignored for PGTT 001 and 100.</summary>
    public int AddressWidth => (int)Bits.Field(Q0, 4, 2);

    /// <summary>PGTT (raw 3-bit value; 0 and 5–7 are reserved).</summary>
    public PasidGranularTranslationType TranslationType => (PasidGranularTranslationType)Bits.Field(Q0, 8, 6);

    /// <summary>SSADE: second-stage accessed/dirty enable.</summary>
    public bool SecondStageAccessedDirtyEnable => Bits.Bit(Q0, 9);

    /// <summary>SSPTPTR: second-stage page-table root (HPA).</summary>
    public ulong SecondStagePointer => Q0 & Bits.PageAddressMask;

    /// <summary>DID.</summary>
    public ushort DomainId => (ushort)Bits.Field(Q1, 15, 0);

    /// <summary>PWSNP: page-walk snoop.</summary>
    public bool PageWalkSnoop => Bits.Bit(Q1, 23);

    /// <summary>PGSNP: page snoop.</summary>
    public bool PageSnoop => Bits.Bit(Q1, 24);

    /// <summary>CD: cache disable.</summary>
    public bool CacheDisable => Bits.Bit(Q1, 25);

    /// <summary>EMTE: extended memory type enable.</summary>
    public bool ExtendedMemoryTypeEnable => Bits.Bit(Q1, 26);

    /// <summary>PAT: eight 4-bit memory types.</summary>
    public uint PageAttributeTable => (uint)(Q1 >> 32);

    /// <summary>SRE: supervisor requests allowed.</summary>
    public bool SupervisorRequestEnable => Bits.Bit(Q2, 0);

    /// <summary>FSPM (raw 2-bit value; 2 and 3 are reserved).</summary>
    public FirstStagePagingMode FirstStagePagingMode => (FirstStagePagingMode)Bits.Field(Q2, 3, 2);

    /// <summary>WPE: write protect for supervisor requests.</summary>
    public bool WriteProtectEnable => Bits.Bit(Q2, 4);

    /// <summary>EAFE: extended-accessed flag enable.</summary>
    public bool ExtendedAccessedFlagEnable => Bits.Bit(Q2, 7);

    /// <summary>FSPTPTR: first-stage page-table root (a GPA when nested).</summary>
    public ulong FirstStagePointer => Q2 & Bits.PageAddressMask;

    /// <summary>Whether the entry uses the second-stage fields (PGTT 010 or 011).</summary>
    public bool UsesSecondStage => TranslationType is PasidGranularTranslationType.SecondStage or PasidGranularTranslationType.Nested;

    /// <summary>Whether the entry uses the first-stage fields (PGTT 001 or 011).</summary>
    public bool UsesFirstStage => TranslationType is PasidGranularTranslationType.FirstStage or PasidGranularTranslationType.Nested;

    /// <summary>
    /// Reserved bits set for this unit (SPT.3). Fields of a stage the PGTT does not use are ignored, and fields whose
    /// feature the unit lacks are reserved (VT-d §9.6).
    /// </summary>
    public bool HasReservedBits(CapabilityProfile profile)
    {
        var haw = Bits.AboveWidth(profile.HostAddressWidth);
        var q0 = Bits.Range(11, 10) | (1UL << 5);
        if (UsesSecondStage)
        {
            q0 |= haw;
            if (!profile.SecondStageAccessedDirty)
            {
                q0 |= 1UL << 9;
            }
        }
        var q1 = Bits.Range(22, 16) | Bits.Range(31, 27) | (Bits.Range(15, 0) & ~Bits.Mask(profile.DomainIdBits));
        if (!profile.ScalableModePageWalkCoherency)
        {
            q1 |= 1UL << 23;
        }
        if (!profile.SnoopControl)
        {
            q1 |= 1UL << 24;
        }
        // No memory-type support (ECAP.MTS=0): CD and EMTE are reserved.
        q1 |= Bits.Range(26, 25);
        var q2 = Bits.Range(11, 8) | (1UL << 1);
        if (UsesFirstStage)
        {
            // A nested FSPTPTR is a GPA: it is checked against the second-stage width instead (SPT.4 / SFS.5).
            if (TranslationType == PasidGranularTranslationType.FirstStage)
            {
                q2 |= haw;
            }
            if (!profile.SupervisorRequests)
            {
                q2 |= 1UL;
            }
            if (!profile.ExtendedAccessedFlag)
            {
                q2 |= 1UL << 7;
            }
        }
        return (Q0 & q0) != 0 || (Q1 & q1) != 0 || (Q2 & q2) != 0 || (Q3 | Q4 | Q5 | Q6 | Q7) != 0;
    }

    /// <summary>A present first-stage-only entry (Linux <c>intel_pasid_setup_first_level</c>).</summary>
    public static PasidTableEntry FirstStage(ushort domainId, ulong firstStagePointer,
        FirstStagePagingMode mode = FirstStagePagingMode.FourLevel, bool supervisorRequests = false,
        bool writeProtect = false, bool extendedAccessed = false, bool pageWalkSnoop = true, bool faultProcessingDisable = false) =>
        Build(PasidGranularTranslationType.FirstStage, domainId, 0, 0, false, firstStagePointer, mode, supervisorRequests,
            writeProtect, extendedAccessed, pageWalkSnoop, faultProcessingDisable);

    /// <summary>A present second-stage-only entry (Linux <c>intel_pasid_setup_second_level</c>).</summary>
    public static PasidTableEntry SecondStage(ushort domainId, ulong secondStagePointer, int addressWidth,
        bool accessedDirty = false, bool pageWalkSnoop = true, bool faultProcessingDisable = false) =>
        Build(PasidGranularTranslationType.SecondStage, domainId, secondStagePointer, addressWidth, accessedDirty, 0,
            FirstStagePagingMode.FourLevel, false, false, false, pageWalkSnoop, faultProcessingDisable);

    /// <summary>A present nested entry (Linux <c>intel_pasid_setup_nested</c>): <paramref name="firstStagePointer"/> is a GPA.</summary>
    public static PasidTableEntry NestedTranslation(ushort domainId, ulong firstStagePointer, ulong secondStagePointer,
        int addressWidth, FirstStagePagingMode mode = FirstStagePagingMode.FourLevel, bool supervisorRequests = false,
        bool writeProtect = false, bool extendedAccessed = false, bool accessedDirty = false, bool pageWalkSnoop = true,
        bool faultProcessingDisable = false) =>
        Build(PasidGranularTranslationType.Nested, domainId, secondStagePointer, addressWidth, accessedDirty,
            firstStagePointer, mode, supervisorRequests, writeProtect, extendedAccessed, pageWalkSnoop, faultProcessingDisable);

    /// <summary>A present pass-through entry (Linux <c>intel_pasid_setup_pass_through</c>).</summary>
    public static PasidTableEntry PassThroughTranslation(ushort domainId, bool faultProcessingDisable = false) =>
        Build(PasidGranularTranslationType.PassThrough, domainId, 0, 0, false, 0, FirstStagePagingMode.FourLevel,
            false, false, false, false, faultProcessingDisable);

    private static PasidTableEntry Build(PasidGranularTranslationType type, ushort domainId, ulong ssptptr, int aw,
        bool ssade, ulong fsptptr, FirstStagePagingMode mode, bool sre, bool wpe, bool eafe, bool pwsnp, bool fpd)
    {
        var q0 = (ssptptr & Bits.PageAddressMask) | (ssade ? 1UL << 9 : 0) | ((ulong)type << 6)
            | ((ulong)(aw & 7) << 2) | (fpd ? 2UL : 0) | 1;
        var q1 = domainId | (pwsnp ? 1UL << 23 : 0);
        var q2 = (fsptptr & Bits.PageAddressMask) | (eafe ? 1UL << 7 : 0) | (wpe ? 1UL << 4 : 0)
            | ((ulong)mode << 2) | (sre ? 1UL : 0);
        return new PasidTableEntry(q0, q1, q2, 0, 0, 0, 0, 0);
    }

    /// <summary>Address of the entry for <paramref name="pasid"/> in its PASID table.</summary>
    public static ulong AddressOf(ulong pasidTable, uint pasid) => pasidTable + ((ulong)(pasid & 0x3F) * Size);

    /// <summary>Reads the entry for <paramref name="pasid"/>; false on an access error.</summary>
    public static bool TryRead(IPhysicalMemory memory, ulong pasidTable, uint pasid, out PasidTableEntry entry)
    {
        var address = AddressOf(pasidTable, pasid);
        Span<ulong> q = stackalloc ulong[8];
        var ok = true;
        for (var i = 0; i < 8; i++)
        {
            ok &= memory.TryRead64(address + (ulong)(i * 8), out q[i]);
        }
        entry = new PasidTableEntry(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]);
        return ok;
    }

    /// <summary>Writes the entry for <paramref name="pasid"/> (q7 down to q0, so P lands last).</summary>
    public void Write(IPhysicalMemory memory, ulong pasidTable, uint pasid)
    {
        var address = AddressOf(pasidTable, pasid);
        ReadOnlySpan<ulong> q = [Q0, Q1, Q2, Q3, Q4, Q5, Q6, Q7];
        for (var i = 7; i >= 0; i--)
        {
            memory.Write64(address + (ulong)(i * 8), q[i]);
        }
    }

    /// <summary>Clears the entry (P=0) as the driver tears it down.</summary>
    public static void Clear(IPhysicalMemory memory, ulong pasidTable, uint pasid)
    {
        var address = AddressOf(pasidTable, pasid);
        memory.Write64(address, 0);
        for (var i = 1; i < 8; i++)
        {
            memory.Write64(address + (ulong)(i * 8), 0);
        }
    }
}
