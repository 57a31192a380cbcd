namespace VtdEngine.Tables;

/// <summary>Legacy context-entry translation type (TT, VT-d §9.3).</summary>
public enum TranslationType : byte
{
    /// <summary>00: untranslated requests use second-stage translation; ATS requests blocked.</summary>
    Untranslated = 0,

    /// <summary>01: as 00, and translation/translated requests allowed (needs ECAP.DT).</summary>
    UntranslatedWithDeviceTlb = 1,

    /// <summary>10: pass-through (needs ECAP.PT).</summary>
    PassThrough = 2,

    /// <summary>11: reserved.</summary>
    Reserved = 3,
}

/// <summary>
/// Legacy-mode context entry, 128 bits, one per devfn (VT-d §9.3).
/// lo = [63:12 SSPTPTR][11:4 reserved][3:2 TT][1 FPD][0 P]; hi = [87:72 DID][71 reserved][70:67 ignored][66:64 AW].
/// </summary>
public readonly record struct ContextEntry(ulong Low, ulong High)
{
    /// <summary>Size in bytes.</summary>
    public const int Size = 16;

    /// <summary>P.</summary>
    public bool Present => Bits.Bit(Low, 0);

    /// <summary>FPD: fault processing disable (evaluated even when P=0).</summary>
    public bool FaultProcessingDisable => Bits.Bit(Low, 1);

    /// <summary>TT.</summary>
    public TranslationType TranslationType => (TranslationType)Bits.Field(Low, 3, 2);

    /// <summary>SSPTPTR: second-stage page-table root.</summary>
    public ulong SecondStagePointer => Low & Bits.PageAddressMask;

    /// <summary>AW: 1 = 39-bit 3-level, 2 = 48-bit 4-level, 3 = 57-bit 5-level.</summary>
    public int AddressWidth => (int)Bits.Field(High, 2, 0);

    /// <summary>DID.</summary>
    public ushort DomainId => (ushort)Bits.Field(High, 23, 8);

    /// <summary>Reserved bits set (LCT.3). The SSPTPTR upper bits count only when the pointer is used (TT≠10).</summary>
    public bool HasReservedBits(CapabilityProfile profile)
    {
        var lowReserved = Bits.Range(11, 4);
        if (TranslationType != TranslationType.PassThrough)
        {
            lowReserved |= Bits.AboveWidth(profile.HostAddressWidth);
        }
        var highReserved = Bits.Bit(High, 7) || (High & Bits.Range(63, 24)) != 0
            || (High & Bits.Range(23, 8) & ~(Bits.Mask(profile.DomainIdBits) << 8)) != 0;
        return (Low & lowReserved) != 0 || highReserved;
    }

    /// <summary>A present entry.</summary>
    public static ContextEntry Create(ushort domainId, int addressWidth, ulong secondStagePointer,
        TranslationType type = TranslationType.Untranslated, bool faultProcessingDisable = false) =>
        new((secondStagePointer & Bits.PageAddressMask) | ((ulong)type << 2) | (faultProcessingDisable ? 2UL : 0) | 1,
            ((ulong)domainId << 8) | ((ulong)addressWidth & 7));

    /// <summary>Reads the entry for <paramref name="devfn"/>; false on an access error.</summary>
    public static bool TryRead(IPhysicalMemory memory, ulong contextTable, byte devfn, out ContextEntry entry)
    {
        var address = contextTable + ((ulong)devfn * Size);
        var ok = memory.TryRead64(address, out var lo) & memory.TryRead64(address + 8, out var hi);
        entry = new ContextEntry(lo, hi);
        return ok;
    }

    /// <summary>Writes the entry for <paramref name="devfn"/>.</summary>
    public void Write(IPhysicalMemory memory, ulong contextTable, byte devfn)
    {
        var address = contextTable + ((ulong)devfn * Size);
        memory.Write64(address + 8, High);
        memory.Write64(address, Low);
    }
}
