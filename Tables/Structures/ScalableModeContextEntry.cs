namespace VtdEngine.Tables;

/// <summary>
/// Scalable-mode context entry, 256 bits, 128 per context table indexed by devfn &amp; 0x7F (VT-d §9.4).
/// q0 = [63:12 PASIDDIRPTR][11:9 PDTS][8:7 reserved][6 EPTR][5 HPTE][4 PRE][3 PASIDE][2 DTE][1 FPD][0 P];
/// q1 = [63:21 reserved][20 RID_PRIV][19:0 RID_PASID]; q2, q3 reserved.
/// </summary>
public readonly record struct ScalableModeContextEntry(ulong Q0, ulong Q1, ulong Q2, ulong Q3)
{
    /// <summary>Size in bytes.</summary>
    public const int Size = 32;

    /// <summary>P.</summary>
    public bool Present => Bits.Bit(Q0, 0);

    /// <summary>FPD (evaluated even when P=0).</summary>
    public bool FaultProcessingDisable => Bits.Bit(Q0, 1);

    /// <summary>DTE: device-TLB enable; translation and translated requests are blocked when clear.</summary>
    public bool DeviceTlbEnable => Bits.Bit(Q0, 2);

    /// <summary>PASIDE: requests with PASID are blocked when clear.</summary>
    public bool PasidEnable => Bits.Bit(Q0, 3);

    /// <summary>PRE: page-request enable.</summary>
    public bool PageRequestEnable => Bits.Bit(Q0, 4);

    /// <summary>PDTS: the PASID directory has 2^(PDTS+7) entries.</summary>
    public int PasidDirectorySize => (int)Bits.Field(Q0, 11, 9);

    /// <summary>Number of PASIDs the directory covers: 2^(PDTS+7) directory entries × 64.</summary>
    public uint PasidLimit => 1u << (PasidDirectorySize + 7 + 6);

    /// <summary>PASIDDIRPTR: host physical address of the PASID directory.</summary>
    public ulong PasidDirectoryPointer => Q0 & Bits.PageAddressMask;

    /// <summary>RID_PASID: PASID used for requests without PASID.</summary>
    public uint RidPasid => (uint)Bits.Field(Q1, 19, 0);

    /// <summary>RID_PRIV: privilege used for requests without PASID.</summary>
    public bool RidPriv => Bits.Bit(Q1, 20);

    /// <summary>Reserved bits set for this unit (SCT.3).</summary>
    public bool HasReservedBits(CapabilityProfile profile)
    {
        var q0Reserved = Bits.Range(8, 5) | Bits.AboveWidth(profile.HostAddressWidth);
        var q1Reserved = Bits.Range(63, 21);
        if (!profile.RidPasid)
        {
            q1Reserved |= Bits.Range(19, 0);
        }
        if (!profile.RidPriv)
        {
            q1Reserved |= 1UL << 20;
        }
        return (Q0 & q0Reserved) != 0 || (Q1 & q1Reserved) != 0 || Q2 != 0 || Q3 != 0;
    }

    /// <summary>A present entry as the Linux driver programs it (<c>intel_pasid_setup_sm_context</c>).</summary>
    public static ScalableModeContextEntry Create(ulong pasidDirectory, int pasidDirectorySize, bool pasidEnable = true,
        bool deviceTlbEnable = false, bool pageRequestEnable = false, uint ridPasid = 0, bool ridPriv = false,
        bool faultProcessingDisable = false) =>
        new((pasidDirectory & Bits.PageAddressMask) | ((ulong)(pasidDirectorySize & 7) << 9)
                | (pageRequestEnable ? 16UL : 0) | (pasidEnable ? 8UL : 0) | (deviceTlbEnable ? 4UL : 0)
                | (faultProcessingDisable ? 2UL : 0) | 1,
            (ridPasid & 0xFFFFF) | (ridPriv ? 1UL << 20 : 0), 0, 0);

    /// <summary>Reads the entry for <paramref name="devfn"/> from the context table that serves it.</summary>
    public static bool TryRead(IPhysicalMemory memory, ulong contextTable, byte devfn, out ScalableModeContextEntry entry)
    {
        var address = contextTable + ((ulong)(devfn & 0x7F) * Size);
        var ok = memory.TryRead64(address, out var q0) & memory.TryRead64(address + 8, out var q1)
            & memory.TryRead64(address + 16, out var q2) & memory.TryRead64(address + 24, out var q3);
        entry = new ScalableModeContextEntry(q0, q1, q2, q3);
        return ok;
    }

    /// <summary>Writes the entry for <paramref name="devfn"/> (upper qwords first, so P lands last).</summary>
    public void Write(IPhysicalMemory memory, ulong contextTable, byte devfn)
    {
        var address = contextTable + ((ulong)(devfn & 0x7F) * Size);
        memory.Write64(address + 24, Q3);
        memory.Write64(address + 16, Q2);
        memory.Write64(address + 8, Q1);
        memory.Write64(address, Q0);
    }
}
