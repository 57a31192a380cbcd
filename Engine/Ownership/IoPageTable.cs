using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// An I/O page table in the real VT-d format (first or second stage), written into physical memory so the hardware
/// walker translates it. Paging domains use one; callers also use one to build an SVA address space's table.
/// </summary>
/// <remarks>
/// Map validates the whole range before writing (so a refused map changes nothing) and picks the largest page that
/// fits alignment and length (4 KiB, 2 MiB, 1 GiB where the unit supports it). New tables are linked while still
/// empty, and leaves are single qword writes, so a concurrent walker sees either no mapping or a complete one.
/// Unmap clears leaves and unlinks tables that became empty; it hands those frames back to the caller, which frees
/// them only after the IOTLB flush (paging-structure caches may still point at them until then). Not thread-safe:
/// the owning domain serialises callers.
/// </remarks>
public sealed class IoPageTable
{
    private const ulong FirstStagePresent = FirstStageEntry.PresentBit;
    private const ulong SecondStagePresent = SecondStageEntry.ReadBit | SecondStageEntry.WriteBit;

    private readonly IPhysicalMemory _memory;
    private readonly FrameAllocator _frames;
    private readonly List<ulong> _rollbackFrames = new(8);
    private readonly ulong _addressMask;

    /// <summary>Creates an empty table (allocates the root frame).</summary>
    /// <param name="memory">Memory the table lives in.</param>
    /// <param name="frames">Allocator for table frames.</param>
    /// <param name="format">First- or second-stage entry format.</param>
    /// <param name="levels">Paging levels: 4 or 5 for first stage, 3 to 5 for second stage.</param>
    /// <param name="apertureBits">Input addresses must lie below 2^apertureBits.</param>
    /// <param name="hostAddressWidth">Output addresses must lie below 2^HAW.</param>
    /// <param name="pages2M">Whether 2 MiB leaves may be used.</param>
    /// <param name="pages1G">Whether 1 GiB leaves may be used.</param>
    public IoPageTable(IPhysicalMemory memory, FrameAllocator frames, PageTableFormat format, int levels, int apertureBits,
        int hostAddressWidth, bool pages2M, bool pages1G)
    {
        if (levels is < 3 or > 5 || apertureBits > PageTableGeometry.LevelShift(levels + 1))
        {
            throw new ArgumentOutOfRangeException(nameof(levels), "Levels must be 3..5 and cover the aperture.");
        }
        _memory = memory;
        _frames = frames;
        Format = format;
        Levels = levels;
        ApertureBits = apertureBits;
        HostAddressWidth = hostAddressWidth;
        Supports2M = pages2M;
        Supports1G = pages1G;
        _addressMask = Bits(hostAddressWidth - 1, 12);
        if (!frames.TryAllocate(out var root))
        {
            throw new IommuException(IommuError.OutOfMemory, "No frame left for a page-table root.");
        }
        Root = root;
        TableFrames = 1;
    }

    /// <summary>Host physical address of the top-level table (FSPTPTR or SSPTPTR).</summary>
    public ulong Root { get; }

    /// <summary>Entry format.</summary>
    public PageTableFormat Format { get; }

    /// <summary>Paging levels.</summary>
    public int Levels { get; }

    /// <summary>Input addresses must be below 2^ApertureBits.</summary>
    public int ApertureBits { get; }

    /// <summary>Output addresses must be below 2^HostAddressWidth.</summary>
    public int HostAddressWidth { get; }

    /// <summary>Whether 2 MiB leaves are used.</summary>
    public bool Supports2M { get; }

    /// <summary>Whether 1 GiB leaves are used.</summary>
    public bool Supports1G { get; }

    /// <summary>Frames this table holds, the root included.</summary>
    public int TableFrames { get; private set; }

    /// <summary>Last valid input address.</summary>
    public ulong ApertureEnd => (1UL << ApertureBits) - 1;

    /// <summary>
    /// Maps <c>[iova, iova + length)</c> to <c>[physical, physical + length)</c> with the largest pages that fit.
    /// Nothing is written unless the whole request is valid.
    /// </summary>
    /// <exception cref="IommuException">InvalidRange, OutsideAperture, RangeAlreadyMapped or OutOfMemory.</exception>
    public void Map(ulong iova, ulong physical, ulong length, IommuPermissions permissions)
    {
        ValidateMap(iova, physical, length, permissions);
        _rollbackFrames.Clear();
        for (var done = 0UL; done < length;)
        {
            var size = PickPageSize(iova + done, physical + done, length - done);
            if (!TryInstallLeaf(iova + done, physical + done, size, permissions))
            {
                // Out of frames part-way: undo what this call wrote (including empty tables of the failed chunk).
                var undone = new List<ulong>();
                UnmapRange(iova, done + size.Bytes(), undone, out _, out _);
                foreach (var frame in undone)
                {
                    FreeFrame(frame);
                }
                throw new IommuException(IommuError.OutOfMemory, $"No frame left for a page table while mapping 0x{iova:x}.");
            }
            done += size.Bytes();
        }
    }

    /// <summary>Checks a map request without writing anything.</summary>
    /// <exception cref="IommuException">InvalidRange, OutsideAperture or RangeAlreadyMapped.</exception>
    public void ValidateMap(ulong iova, ulong physical, ulong length, IommuPermissions permissions)
    {
        if (length == 0)
        {
            throw new IommuException(IommuError.InvalidRange, "Cannot map a zero-length range.");
        }
        if (((iova | physical | length) & 0xFFF) != 0)
        {
            throw new IommuException(IommuError.InvalidRange,
                $"IOVA 0x{iova:x}, physical 0x{physical:x} and length 0x{length:x} must be 4 KiB aligned.");
        }
        if ((permissions & IommuPermissions.ReadWrite) == 0 || (Format == PageTableFormat.FirstStage && (permissions & IommuPermissions.Read) == 0))
        {
            throw new IommuException(IommuError.InvalidRange,
                $"Permissions {permissions} are not expressible (first-stage mappings are always readable).");
        }
        CheckAperture(iova, length);
        if (physical + length < physical || ((physical + length - 1) >> HostAddressWidth) != 0)
        {
            throw new IommuException(IommuError.OutsideAperture,
                $"Physical range 0x{physical:x}+0x{length:x} exceeds the {HostAddressWidth}-bit host address width.");
        }
        if (Scan(Root, Levels, 0, iova, iova + length, ScanMode.AnyMapped))
        {
            throw new IommuException(IommuError.RangeAlreadyMapped, $"Range 0x{iova:x}+0x{length:x} overlaps an existing mapping.");
        }
    }

    /// <summary>
    /// Clears every leaf in <c>[iova, iova + length)</c> (holes are skipped) and unlinks tables that became empty,
    /// adding their frames to <paramref name="freedTables"/> for the caller to free after invalidating.
    /// </summary>
    /// <returns>Bytes unmapped; <paramref name="first"/>..<paramref name="end"/> spans the cleared leaves.</returns>
    /// <exception cref="IommuException">InvalidRange (zero, unaligned, or cutting a large page) or OutsideAperture.</exception>
    public ulong Unmap(ulong iova, ulong length, List<ulong> freedTables, out ulong first, out ulong end)
    {
        if (length == 0 || ((iova | length) & 0xFFF) != 0)
        {
            throw new IommuException(IommuError.InvalidRange, $"Unmap range 0x{iova:x}+0x{length:x} must be non-empty and 4 KiB aligned.");
        }
        CheckAperture(iova, length);
        if (Scan(Root, Levels, 0, iova, iova + length, ScanMode.CutsLeaf))
        {
            throw new IommuException(IommuError.InvalidRange, $"Unmap range 0x{iova:x}+0x{length:x} cuts through a large page.");
        }
        return UnmapRange(iova, length, freedTables, out first, out end);
    }

    /// <summary>Translates an IOVA through the table (Linux <c>iova_to_phys</c>); false where nothing is mapped.</summary>
    public bool TryIovaToPhys(ulong iova, out ulong physical, out PageSize pageSize)
    {
        physical = 0;
        pageSize = PageSize.Size4K;
        if (iova > ApertureEnd)
        {
            return false;
        }
        var table = Root;
        for (var level = Levels; level >= 1; level--)
        {
            var value = _memory.Read64(table + ((ulong)PageTableGeometry.LevelIndex(iova, level) * 8));
            if (!IsPresent(value))
            {
                return false;
            }
            if (IsLeaf(value, level))
            {
                var mask = (1UL << PageTableGeometry.LevelShift(level)) - 1;
                physical = (value & _addressMask & ~mask) | (iova & mask);
                pageSize = (PageSize)level;
                return true;
            }
            table = value & _addressMask;
        }
        return false;
    }

    /// <summary>Frees a frame previously returned by <see cref="Unmap"/>.</summary>
    public void FreeFrame(ulong frame)
    {
        _frames.Free(frame);
        TableFrames--;
    }

    /// <summary>Frees every table including the root; the table must no longer be reachable by hardware.</summary>
    public void Destroy()
    {
        FreeTree(Root, Levels);
        FreeFrame(Root);
    }

    private void FreeTree(ulong table, int level)
    {
        if (level == 1)
        {
            return;
        }
        for (var i = 0; i < PageTableGeometry.EntriesPerTable; i++)
        {
            var value = _memory.Read64(table + ((ulong)i * 8));
            if (IsPresent(value) && !IsLeaf(value, level))
            {
                FreeTree(value & _addressMask, level - 1);
                FreeFrame(value & _addressMask);
            }
        }
    }

    private void CheckAperture(ulong iova, ulong length)
    {
        if (iova + length < iova || iova + length - 1 > ApertureEnd)
        {
            throw new IommuException(IommuError.OutsideAperture,
                $"Range 0x{iova:x}+0x{length:x} is outside the aperture [0, 0x{ApertureEnd:x}].");
        }
    }

    private PageSize PickPageSize(ulong iova, ulong physical, ulong remaining)
    {
        var alignment = iova | physical;
        if (Supports1G && (alignment & PageSize.Size1G.OffsetMask()) == 0 && remaining >= PageSize.Size1G.Bytes())
        {
            return PageSize.Size1G;
        }
        if (Supports2M && (alignment & PageSize.Size2M.OffsetMask()) == 0 && remaining >= PageSize.Size2M.Bytes())
        {
            return PageSize.Size2M;
        }
        return PageSize.Size4K;
    }

    private bool TryInstallLeaf(ulong iova, ulong physical, PageSize size, IommuPermissions permissions)
    {
        var table = Root;
        for (var level = Levels; level > (int)size; level--)
        {
            var slot = table + ((ulong)PageTableGeometry.LevelIndex(iova, level) * 8);
            var value = _memory.Read64(slot);
            if (IsPresent(value))
            {
                table = value & _addressMask;
                continue;
            }
            if (!_frames.TryAllocate(out var next))
            {
                return false;
            }
            TableFrames++;
            // The new table is all zeroes (not present), so linking it before filling it is safe for a walker.
            _memory.Write64(slot, MakeTable(next));
            table = next;
        }
        _memory.Write64(table + ((ulong)PageTableGeometry.LevelIndex(iova, (int)size) * 8), MakeLeaf(physical, size, permissions));
        return true;
    }

    private ulong UnmapRange(ulong iova, ulong length, List<ulong> freedTables, out ulong first, out ulong end)
    {
        first = ulong.MaxValue;
        end = 0;
        return UnmapLevel(Root, Levels, 0, iova, iova + length, freedTables, ref first, ref end);
    }

    private ulong UnmapLevel(ulong table, int level, ulong baseIova, ulong start, ulong end, List<ulong> freed, ref ulong lo, ref ulong hi)
    {
        var shift = PageTableGeometry.LevelShift(level);
        var span = 1UL << shift;
        var from = Math.Max(start, baseIova);
        var to = Math.Min(end, baseIova + (span * PageTableGeometry.EntriesPerTable));
        var bytes = 0UL;
        for (var i = (int)((from - baseIova) >> shift); i <= (int)((to - 1 - baseIova) >> shift); i++)
        {
            var slot = table + ((ulong)i * 8);
            var value = _memory.Read64(slot);
            if (!IsPresent(value))
            {
                continue;
            }
            var entryBase = baseIova + ((ulong)i << shift);
            if (IsLeaf(value, level))
            {
                _memory.Write64(slot, 0);
                bytes += span;
                lo = Math.Min(lo, entryBase);
                hi = Math.Max(hi, entryBase + span);
                continue;
            }
            var child = value & _addressMask;
            bytes += UnmapLevel(child, level - 1, entryBase, start, end, freed, ref lo, ref hi);
            if (IsEmpty(child))
            {
                _memory.Write64(slot, 0);
                freed.Add(child);
            }
        }
        return bytes;
    }

    private bool IsEmpty(ulong table)
    {
        foreach (var value in _memory.GetFrame(table >> 12))
        {
            if (value != 0)
            {
                return false;
            }
        }
        return true;
    }

    private enum ScanMode
    {
        AnyMapped,
        CutsLeaf,
    }

    private bool Scan(ulong table, int level, ulong baseIova, ulong start, ulong end, ScanMode mode)
    {
        var shift = PageTableGeometry.LevelShift(level);
        var span = 1UL << shift;
        var from = Math.Max(start, baseIova);
        var to = Math.Min(end, baseIova + (span * PageTableGeometry.EntriesPerTable));
        for (var i = (int)((from - baseIova) >> shift); i <= (int)((to - 1 - baseIova) >> shift); i++)
        {
            var value = _memory.Read64(table + ((ulong)i * 8));
            if (!IsPresent(value))
            {
                continue;
            }
            var entryBase = baseIova + ((ulong)i << shift);
            if (IsLeaf(value, level))
            {
                if (mode == ScanMode.AnyMapped || entryBase < start || entryBase + span > end)
                {
                    return true;
                }
                continue;
            }
            if (Scan(value & _addressMask, level - 1, entryBase, start, end, mode))
            {
                return true;
            }
        }
        return false;
    }

    private bool IsPresent(ulong value) =>
        (value & (Format == PageTableFormat.FirstStage ? FirstStagePresent : SecondStagePresent)) != 0;

    // PS is bit 7 in both formats; it is meaningful at levels 2 and 3 only.
    private static bool IsLeaf(ulong value, int level) => level == 1 || (level is 2 or 3 && (value & FirstStageEntry.PageSizeBit) != 0);

    private ulong MakeTable(ulong table) => Format == PageTableFormat.FirstStage
        ? FirstStageEntry.Table(table).Value
        : SecondStageEntry.Table(table).Value;

    private ulong MakeLeaf(ulong physical, PageSize size, IommuPermissions permissions) => Format == PageTableFormat.FirstStage
        ? FirstStageEntry.Leaf(physical, size, writable: (permissions & IommuPermissions.Write) != 0).Value
        : SecondStageEntry.Leaf(physical, size, readable: (permissions & IommuPermissions.Read) != 0,
            writable: (permissions & IommuPermissions.Write) != 0).Value;

    private static ulong Bits(int hi, int lo) => hi < lo ? 0 : (ulong.MaxValue >> (63 - hi + lo)) << lo;
}
