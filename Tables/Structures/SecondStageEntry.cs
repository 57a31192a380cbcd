namespace VtdEngine.Tables;

/// <summary>
/// Second-stage paging entry: the EPT-like VT-d format (VT-d §9.8).
/// [63 ignored][62 reserved][61:52 ignored][51:HAW reserved][HAW-1:12 ADDR][11 SNP][9 D][8 A][7 PS][6 IPAT][5:3 EMT][2 ignored][1 W][0 R].
/// An entry with R=W=0 is not present; reserved bits count only when it is present.
/// </summary>
public readonly record struct SecondStageEntry(ulong Value)
{
    /// <summary>R bit.</summary>
    public const ulong ReadBit = 1UL << 0;

    /// <summary>W bit.</summary>
    public const ulong WriteBit = 1UL << 1;

    /// <summary>PS bit.</summary>
    public const ulong PageSizeBit = 1UL << 7;

    /// <summary>A bit (when SSADE=1).</summary>
    public const ulong AccessedBit = 1UL << 8;

    /// <summary>D bit (leaves, when SSADE=1).</summary>
    public const ulong DirtyBit = 1UL << 9;

    /// <summary>SNP bit (leaves, when ECAP.SC=1).</summary>
    public const ulong SnoopBit = 1UL << 11;

    /// <summary>Whether R or W is set.</summary>
    public bool Present => (Value & (ReadBit | WriteBit)) != 0;

    /// <summary>R.</summary>
    public bool Readable => (Value & ReadBit) != 0;

    /// <summary>W.</summary>
    public bool Writable => (Value & WriteBit) != 0;

    /// <summary>A.</summary>
    public bool Accessed => (Value & AccessedBit) != 0;

    /// <summary>D.</summary>
    public bool Dirty => (Value & DirtyBit) != 0;

    /// <summary>PS.</summary>
    public bool IsLargePage => (Value & PageSizeBit) != 0;

    /// <summary>Whether this level-<paramref name="level"/> entry maps a page rather than a table.</summary>
    public bool IsLeaf(int level) => level == 1 || ((level is 2 or 3) && IsLargePage);

    /// <summary>The next table (non-leaf) or the page frame (leaf) at <paramref name="level"/>.</summary>
    public ulong Address(int level, int haw)
    {
        var low = IsLeaf(level) ? PageTableGeometry.LevelShift(level) : 12;
        return Value & Bits.Range(haw - 1, low);
    }

    /// <summary>Reserved bits set at <paramref name="level"/> (SSS.3 / LSS.2), per VT-d §9.8.</summary>
    public bool HasReservedBits(int level, CapabilityProfile profile)
    {
        var reserved = Bits.Range(51, profile.HostAddressWidth) | (1UL << 62);
        if (!IsLeaf(level))
        {
            reserved |= SnoopBit;
            if (level >= 4)
            {
                reserved |= PageSizeBit;
            }
            return (Value & reserved) != 0;
        }
        if (!profile.SnoopControl)
        {
            reserved |= SnoopBit;
        }
        if (level == 3)
        {
            reserved |= profile.SecondStage1GPages ? Bits.Range(29, 12) : PageSizeBit;
        }
        else if (level == 2)
        {
            reserved |= profile.SecondStage2MPages ? Bits.Range(20, 12) : PageSizeBit;
        }
        return (Value & reserved) != 0;
    }

    /// <summary>A non-leaf entry with R and W (permissions are decided at the leaves, as Linux does).</summary>
    public static SecondStageEntry Table(ulong table) => new((table & Bits.PageAddressMask) | WriteBit | ReadBit);

    /// <summary>A leaf at <paramref name="size"/> mapping <paramref name="frame"/>.</summary>
    public static SecondStageEntry Leaf(ulong frame, PageSize size, bool readable = true, bool writable = true, bool snoop = false) =>
        new((frame & ~size.OffsetMask()) | (size == PageSize.Size4K ? 0 : PageSizeBit) | (snoop ? SnoopBit : 0)
            | (writable ? WriteBit : 0) | (readable ? ReadBit : 0));
}
