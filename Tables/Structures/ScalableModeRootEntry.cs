namespace VtdEngine.Tables;

/// <summary>
/// Scalable-mode root entry, 128 bits, one per bus (VT-d §9.2).
/// lo = [63:12 LCTP][11:1 reserved][0 LP]; hi = [127:76 UCTP][75:65 reserved][64 UP].
/// Devfn 0–127 use the lower context table, 128–255 the upper one; each holds 128 256-bit context entries.
/// </summary>
public readonly record struct ScalableModeRootEntry(ulong Low, ulong High)
{
    /// <summary>Size in bytes.</summary>
    public const int Size = 16;

    /// <summary>LP: the lower context table pointer is valid.</summary>
    public bool LowerPresent => Bits.Bit(Low, 0);

    /// <summary>UP: the upper context table pointer is valid.</summary>
    public bool UpperPresent => Bits.Bit(High, 0);

    /// <summary>LCTP: context table for devfn 0–127.</summary>
    public ulong LowerContextTablePointer => Low & Bits.PageAddressMask;

    /// <summary>UCTP: context table for devfn 128–255.</summary>
    public ulong UpperContextTablePointer => High & Bits.PageAddressMask;

    /// <summary>Whether the half that serves <paramref name="devfn"/> is present.</summary>
    public bool IsPresentFor(byte devfn) => devfn < 128 ? LowerPresent : UpperPresent;

    /// <summary>The context table that serves <paramref name="devfn"/>.</summary>
    public ulong ContextTableFor(byte devfn) => devfn < 128 ? LowerContextTablePointer : UpperContextTablePointer;

    /// <summary>Reserved bits set in the half that serves <paramref name="devfn"/> (SRT.3).</summary>
    /// <remarks>Each half is checked only when it is the one being used, as hardware fetches only that half.</remarks>
    public bool HasReservedBits(CapabilityProfile profile, byte devfn) =>
        ((devfn < 128 ? Low : High) & (Bits.Range(11, 1) | Bits.AboveWidth(profile.HostAddressWidth))) != 0;

    /// <summary>An entry with the given lower and upper context tables (0 = not present).</summary>
    public static ScalableModeRootEntry Create(ulong lowerContextTable, ulong upperContextTable) =>
        new(lowerContextTable == 0 ? 0 : (lowerContextTable & Bits.PageAddressMask) | 1,
            upperContextTable == 0 ? 0 : (upperContextTable & Bits.PageAddressMask) | 1);

    /// <summary>Reads the entry for <paramref name="bus"/>; false on an access error.</summary>
    public static bool TryRead(IPhysicalMemory memory, ulong rootTable, byte bus, out ScalableModeRootEntry entry)
    {
        var address = rootTable + ((ulong)bus * Size);
        var ok = memory.TryRead64(address, out var lo) & memory.TryRead64(address + 8, out var hi);
        entry = new ScalableModeRootEntry(lo, hi);
        return ok;
    }

    /// <summary>Writes the entry for <paramref name="bus"/>.</summary>
    public void Write(IPhysicalMemory memory, ulong rootTable, byte bus)
    {
        var address = rootTable + ((ulong)bus * Size);
        memory.Write64(address + 8, High);
        memory.Write64(address, Low);
    }
}
