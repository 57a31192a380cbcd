namespace VtdEngine.Tables;

/// <summary>
/// First-stage paging entry: the Intel-64 4/5-level format (VT-d §9.7).
/// [63:52 ignored][51:HAW reserved][HAW-1:12 ADDR][10 EA][8 G][7 PS][6 D][5 A][4 PCD][3 PWT][2 U/S][1 R/W][0 P].
/// Levels: 5 PML5E, 4 PML4E, 3 PDPE (PS=1: 1 GiB), 2 PDE (PS=1: 2 MiB), 1 PTE.
/// </summary>
public readonly record struct FirstStageEntry(ulong Value)
{
    /// <summary>P bit.</summary>
    public const ulong PresentBit = 1UL << 0;

    /// <summary>R/W bit.</summary>
    public const ulong WriteBit = 1UL << 1;

    /// <summary>U/S bit.</summary>
    public const ulong UserBit = 1UL << 2;

    /// <summary>A bit.</summary>
    public const ulong AccessedBit = 1UL << 5;

    /// <summary>D bit (leaves only).</summary>
    public const ulong DirtyBit = 1UL << 6;

    /// <summary>PS bit.</summary>
    public const ulong PageSizeBit = 1UL << 7;

    /// <summary>EA bit (meaningful when the PASID entry's EAFE=1).</summary>
    public const ulong ExtendedAccessedBit = 1UL << 10;

    /// <summary>P.</summary>
    public bool Present => (Value & PresentBit) != 0;

    /// <summary>R/W.</summary>
    public bool Writable => (Value & WriteBit) != 0;

    /// <summary>U/S.</summary>
    public bool User => (Value & UserBit) != 0;

    /// <summary>A.</summary>
    public bool Accessed => (Value & AccessedBit) != 0;

    /// <summary>D.</summary>
    public bool Dirty => (Value & DirtyBit) != 0;

    /// <summary>PS.</summary>
    public bool IsLargePage => (Value & PageSizeBit) != 0;

    /// <summary>EA.</summary>
    public bool ExtendedAccessed => (Value & ExtendedAccessedBit) != 0;

    /// <summary>Whether this level-<paramref name="level"/> entry maps a page rather than a table.</summary>
    public bool IsLeaf(int level) => level == 1 || ((level is 2 or 3) && IsLargePage);

    /// <summary>The next table (non-leaf) or the page frame (leaf) at <paramref name="level"/>.</summary>
    public ulong Address(int level, int haw)
    {
        var low = IsLeaf(level) ? PageTableGeometry.LevelShift(level) : 12;
        return Value & Bits.Range(haw - 1, low);
    }

    /// <summary>Reserved bits set at <paramref name="level"/> (SFS.3), per VT-d §9.7 and the unit's capabilities.</summary>
    public bool HasReservedBits(int level, CapabilityProfile profile)
    {
        var reserved = Bits.Range(51, profile.HostAddressWidth);
        if (level >= 4)
        {
            reserved |= PageSizeBit;
        }
        else if (level == 3 && IsLargePage)
        {
            reserved |= profile.FirstStage1GPages ? Bits.Range(29, 13) : PageSizeBit;
        }
        else if (level == 2 && IsLargePage)
        {
            reserved |= Bits.Range(20, 13);
        }
        return (Value & reserved) != 0;
    }

    /// <summary>A present non-leaf entry pointing at <paramref name="table"/>, with R/W and U/S set as Linux does.</summary>
    public static FirstStageEntry Table(ulong table) => new((table & Bits.PageAddressMask) | UserBit | WriteBit | PresentBit);

    /// <summary>A present leaf at <paramref name="size"/> mapping <paramref name="frame"/>.</summary>
    public static FirstStageEntry Leaf(ulong frame, PageSize size, bool writable = true, bool user = true) =>
        new((frame & ~size.OffsetMask()) | (size == PageSize.Size4K ? 0 : PageSizeBit)
            | (user ? UserBit : 0) | (writable ? WriteBit : 0) | PresentBit);
}
