namespace VtdEngine.Tables;

/// <summary>
/// Scalable-mode PASID directory entry, 64 bits, indexed by PASID bits 19:6 (VT-d §9.5).
/// [63:12 SMPTBLPTR][11:2 reserved][1 FPD][0 P].
/// </summary>
public readonly record struct PasidDirectoryEntry(ulong Value)
{
    /// <summary>Size in bytes.</summary>
    public const int Size = 8;

    /// <summary>P.</summary>
    public bool Present => Bits.Bit(Value, 0);

    /// <summary>FPD (evaluated even when P=0).</summary>
    public bool FaultProcessingDisable => Bits.Bit(Value, 1);

    /// <summary>SMPTBLPTR: host physical address of a 64-entry PASID table.</summary>
    public ulong PasidTablePointer => Value & Bits.PageAddressMask;

    /// <summary>Reserved bits set for this unit (SPD.3).</summary>
    public bool HasReservedBits(CapabilityProfile profile) =>
        (Value & (Bits.Range(11, 2) | Bits.AboveWidth(profile.HostAddressWidth))) != 0;

    /// <summary>A present entry.</summary>
    public static PasidDirectoryEntry Create(ulong pasidTable, bool faultProcessingDisable = false) =>
        new((pasidTable & Bits.PageAddressMask) | (faultProcessingDisable ? 2UL : 0) | 1);

    /// <summary>Address of the directory entry for <paramref name="pasid"/>.</summary>
    public static ulong AddressOf(ulong pasidDirectory, uint pasid) => pasidDirectory + ((ulong)(pasid >> 6) * Size);

    /// <summary>Reads the directory entry for <paramref name="pasid"/>; false on an access error.</summary>
    public static bool TryRead(IPhysicalMemory memory, ulong pasidDirectory, uint pasid, out PasidDirectoryEntry entry)
    {
        var ok = memory.TryRead64(AddressOf(pasidDirectory, pasid), out var value);
        entry = new PasidDirectoryEntry(value);
        return ok;
    }

    /// <summary>Writes the directory entry for <paramref name="pasid"/>.</summary>
    public void Write(IPhysicalMemory memory, ulong pasidDirectory, uint pasid) =>
        memory.Write64(AddressOf(pasidDirectory, pasid), Value);
}
