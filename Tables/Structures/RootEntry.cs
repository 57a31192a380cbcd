namespace VtdEngine.Tables;

/// <summary>
/// Legacy-mode root entry, 128 bits, one per bus (VT-d §9.1).
/// lo = [63:12 CTP][11:1 reserved][0 P]; hi = reserved.
/// </summary>
public readonly record struct RootEntry(ulong Low, ulong High)
{
    /// <summary>Size in bytes.</summary>
    public const int Size = 16;

    /// <summary>P: the context table pointer is valid.</summary>
    public bool Present => Bits.Bit(Low, 0);

    /// <summary>CTP: host physical address of the 256-entry context table.</summary>
    public ulong ContextTablePointer => Low & Bits.PageAddressMask;

    /// <summary>Reserved bits that are set for this unit (non-zero means LRT.3).</summary>
    public bool HasReservedBits(CapabilityProfile profile) =>
        (Low & (Bits.Range(11, 1) | Bits.AboveWidth(profile.HostAddressWidth))) != 0 || High != 0;

    /// <summary>A present entry pointing at <paramref name="contextTable"/>.</summary>
    public static RootEntry Create(ulong contextTable) => new((contextTable & Bits.PageAddressMask) | 1, 0);

    /// <summary>Reads the entry for <paramref name="bus"/> from the root table; false on an access error.</summary>
    public static bool TryRead(IPhysicalMemory memory, ulong rootTable, byte bus, out RootEntry entry)
    {
        var address = rootTable + ((ulong)bus * Size);
        var ok = memory.TryRead64(address, out var lo) & memory.TryRead64(address + 8, out var hi);
        entry = new RootEntry(lo, hi);
        return ok;
    }

    /// <summary>Writes the entry for <paramref name="bus"/> (high qword first, so P lands last).</summary>
    public void Write(IPhysicalMemory memory, ulong rootTable, byte bus)
    {
        var address = rootTable + ((ulong)bus * Size);
        memory.Write64(address + 8, High);
        memory.Write64(address, Low);
    }
}
