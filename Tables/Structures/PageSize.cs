namespace VtdEngine.Tables;

/// <summary>Translation page sizes, valued by the page-table level whose entry is the leaf.</summary>
public enum PageSize : byte
{
    /// <summary>4 KiB: a level-1 (PTE) leaf.</summary>
    Size4K = 1,

    /// <summary>2 MiB: a level-2 (PDE) leaf with PS=1.</summary>
    Size2M = 2,

    /// <summary>1 GiB: a level-3 (PDPE) leaf with PS=1.</summary>
    Size1G = 3,
}

/// <summary>Index and size arithmetic shared by every page-table walk and map operation.</summary>
public static class PageTableGeometry
{
    /// <summary>Entries per 4 KiB table.</summary>
    public const int EntriesPerTable = 512;

    /// <summary>Index into the level-<paramref name="level"/> table for <paramref name="address"/> (VT-d §3.6, §3.7).</summary>
    public static int LevelIndex(ulong address, int level) => (int)((address >> (12 + (9 * (level - 1)))) & 0x1FF);

    /// <summary>Shift of the region one level-<paramref name="level"/> entry maps (12, 21, 30, 39, 48).</summary>
    public static int LevelShift(int level) => 12 + (9 * (level - 1));

    /// <summary>Bytes in a page of <paramref name="size"/>.</summary>
    public static ulong Bytes(this PageSize size) => 1UL << LevelShift((int)size);

    /// <summary>Offset-within-page mask of <paramref name="size"/>.</summary>
    public static ulong OffsetMask(this PageSize size) => size.Bytes() - 1;

    /// <summary>Second-stage levels for an AW encoding (1 → 3, 2 → 4, 3 → 5).</summary>
    public static int LevelsForAddressWidth(int aw) => aw + 2;

    /// <summary>Adjusted guest address width in bits for an AW encoding (1 → 39, 2 → 48, 3 → 57).</summary>
    public static int BitsForAddressWidth(int aw) => 30 + (9 * aw);
}
