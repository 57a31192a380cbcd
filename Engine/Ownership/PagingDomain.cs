using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// An UNMANAGED or DMA domain with its own I/O page table. The format is chosen from the creating unit's
/// capabilities: first stage in scalable mode (aperture: the canonical lower half, 2^47), second stage when the unit
/// lacks first-stage translation or the domain is a nest parent (aperture: 2^AGAW, 48-bit where supported).
/// </summary>
/// <remarks>
/// Map and unmap write the real VT-d formats into the unit's memory. Unmap issues exactly the invalidations VT-d
/// Table 28 requires for every cache tag, then frees emptied table frames; with <see cref="DeferredFlush"/> it only
/// gathers, and <see cref="FlushIotlbAll"/> issues the flush and frees the frames (Linux DMA-FQ).
/// </remarks>
public sealed class PagingDomain : Domain
{
    private readonly List<ulong> _pendingFrames = [];
    private readonly List<Domain> _nested = [];
    private readonly int _addressWidth;
    private readonly IPhysicalMemory _memory;
    private bool _deferred;
    private bool _freed;

    internal PagingDomain(IommuDriver driver, Iommu unit, PagingDomainKind kind, PagingDomainFlags flags)
        : base(driver, kind == PagingDomainKind.Dma ? DomainType.Dma : DomainType.Unmanaged)
    {
        var profile = unit.Profile;
        Kind = kind;
        Flags = flags;
        _memory = unit.Memory;
        var nestParent = (flags & PagingDomainFlags.NestParent) != 0;
        if (profile.FirstStageTranslation && !nestParent)
        {
            Format = PageTableFormat.FirstStage;
            // 4-level first stage: bit 47 and above would be the canonical upper half, which is excluded.
            Table = new IoPageTable(unit.Memory, unit.Frames, Format, 4, 47, profile.HostAddressWidth, true, profile.FirstStage1GPages);
        }
        else if (profile.SecondStageTranslation)
        {
            Format = PageTableFormat.SecondStage;
            _addressWidth = profile.SupportsAddressWidth(2) ? 2 : profile.LargestAddressWidth;
            var bits = Math.Min(profile.MaxGuestAddressWidth, PageTableGeometry.BitsForAddressWidth(_addressWidth));
            Table = new IoPageTable(unit.Memory, unit.Frames, Format, PageTableGeometry.LevelsForAddressWidth(_addressWidth), bits,
                profile.HostAddressWidth, profile.SecondStage2MPages, profile.SecondStage1GPages);
        }
        else
        {
            throw new IommuException(IommuError.IncompatibleDomain,
                nestParent ? "A nest parent needs second-stage translation (ECAP.SSTS)." : "The unit supports no paging format.");
        }
    }

    /// <summary>UNMANAGED or DMA.</summary>
    public PagingDomainKind Kind { get; }

    /// <summary>Allocation flags.</summary>
    public PagingDomainFlags Flags { get; }

    /// <summary>Whether nested domains may use this domain as their second stage.</summary>
    public bool IsNestParent => (Flags & PagingDomainFlags.NestParent) != 0;

    /// <summary>First or second stage.</summary>
    public PageTableFormat Format { get; }

    /// <summary>The page table (its root goes into FSPTPTR or SSPTPTR).</summary>
    public IoPageTable Table { get; }

    /// <summary>Second-stage AW encoding (1 = 39, 2 = 48, 3 = 57 bits); 0 for first stage.</summary>
    public int AddressWidth => _addressWidth;

    /// <summary>Last mappable IOVA.</summary>
    public ulong ApertureEnd => Table.ApertureEnd;

    /// <summary>Nested domains built on this parent.</summary>
    public IReadOnlyList<Domain> NestedDomains
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return [.. _nested];
            }
        }
    }

    /// <summary>
    /// Deferred (flush-queue) mode: <see cref="Unmap"/> gathers and <see cref="FlushIotlbAll"/> invalidates. Turning it
    /// off flushes what was gathered.
    /// </summary>
    public bool DeferredFlush
    {
        get => _deferred;
        set
        {
            lock (Driver.SyncRoot)
            {
                if (_deferred && !value)
                {
                    FlushPendingLocked();
                }
                _deferred = value;
            }
        }
    }

    /// <summary>Table frames unlinked by deferred unmaps and waiting for <see cref="FlushIotlbAll"/>.</summary>
    public int PendingFreeFrames
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return _pendingFrames.Count;
            }
        }
    }

    internal override bool UsesDomainId => true;

    internal override bool HasCacheTags => true;

    internal override bool FlushesPasidBased => Format == PageTableFormat.FirstStage;

    /// <summary>
    /// Maps <c>[iova, iova + length)</c> to <c>[physical, physical + length)</c> with the largest pages that fit.
    /// A refused map leaves the table exactly as it was.
    /// </summary>
    /// <exception cref="IommuException">InvalidRange, OutsideAperture, RangeAlreadyMapped or OutOfMemory.</exception>
    public void Map(ulong iova, ulong physical, ulong length, IommuPermissions permissions)
    {
        lock (Driver.SyncRoot)
        {
            ThrowIfFreed();
            try
            {
                Table.Map(iova, physical, length, permissions);
            }
            catch (IommuException ex) when (ex.Error == IommuError.OutOfMemory)
            {
                // The rolled-back prefix was briefly visible: flush it as iommu_map's error path does.
                FlushRange(iova, iova + length);
                throw;
            }
            // iotlb_sync_map: only caching mode with a second-stage table needs a flush after map (§7 item 18).
            if (Format == PageTableFormat.SecondStage && CachingModeUser())
            {
                FlushRange(iova, iova + length);
            }
        }
    }

    /// <summary>
    /// Unmaps every leaf in <c>[iova, iova + length)</c> (holes are skipped), invalidates as Table 28 requires for every
    /// user (or gathers in deferred mode) and frees page-table pages that became empty.
    /// </summary>
    /// <returns>Bytes unmapped.</returns>
    /// <exception cref="IommuException">InvalidRange (zero, unaligned, cutting a large page) or OutsideAperture.</exception>
    public ulong Unmap(ulong iova, ulong length)
    {
        lock (Driver.SyncRoot)
        {
            ThrowIfFreed();
            var countBefore = _pendingFrames.Count;
            var bytes = Table.Unmap(iova, length, _pendingFrames, out var first, out var end);
            if (bytes == 0 || _deferred)
            {
                return bytes;
            }
            FlushRange(first, end);
            // Paging-structure caches may point at the unlinked tables until the flush above: free them only now.
            for (var i = countBefore; i < _pendingFrames.Count; i++)
            {
                Table.FreeFrame(_pendingFrames[i]);
            }
            _pendingFrames.RemoveRange(countBefore, _pendingFrames.Count - countBefore);
            return bytes;
        }
    }

    /// <summary>The physical address <paramref name="iova"/> maps to, or 0 when unmapped (Linux <c>iommu_iova_to_phys</c>).</summary>
    public ulong IovaToPhys(ulong iova) => TryIovaToPhys(iova, out var physical) ? physical : 0;

    /// <summary>The physical address <paramref name="iova"/> maps to; false when unmapped.</summary>
    public bool TryIovaToPhys(ulong iova, out ulong physical)
    {
        lock (Driver.SyncRoot)
        {
            return Table.TryIovaToPhys(iova, out physical, out _);
        }
    }

    /// <summary>Invalidates everything for every user (Linux <c>flush_iotlb_all</c>) and frees deferred table frames.</summary>
    public void FlushIotlbAll()
    {
        lock (Driver.SyncRoot)
        {
            FlushAll();
            foreach (var frame in _pendingFrames)
            {
                Table.FreeFrame(frame);
            }
            _pendingFrames.Clear();
        }
    }

    /// <summary>Frees the page table. The domain must not be attached anywhere nor be the parent of a nested domain.</summary>
    /// <exception cref="IommuException">PasidsAttached (EBUSY) while attached.</exception>
    public void Free()
    {
        lock (Driver.SyncRoot)
        {
            if (_freed)
            {
                return;
            }
            if (AttachmentCount != 0 || _nested.Count != 0)
            {
                throw new IommuException(IommuError.PasidsAttached, "The domain is still attached or has nested users.");
            }
            FlushPendingLocked();
            Table.Destroy();
            _freed = true;
        }
    }

    internal void AddNested(Domain nested) => _nested.Add(nested);

    internal void RemoveNested(Domain nested) => _nested.Remove(nested);

    internal override string? CheckCompatible(Iommu unit)
    {
        var profile = unit.Profile;
        if (!ReferenceEquals(unit.Memory, _memory))
        {
            return "the unit translates a different physical memory";
        }
        if (Format == PageTableFormat.FirstStage)
        {
            if (!profile.FirstStageTranslation)
            {
                return "the unit has no first-stage translation";
            }
            if (Table.Supports1G && !profile.FirstStage1GPages)
            {
                return "the domain may use 1 GiB first-stage pages the unit lacks";
            }
            return null;
        }
        if (!profile.SecondStageTranslation || !profile.SupportsAddressWidth(_addressWidth))
        {
            return $"the unit lacks second-stage translation with AW {_addressWidth}";
        }
        if (profile.MaxGuestAddressWidth < Table.ApertureBits)
        {
            return "the unit's MGAW is below the domain's address width";
        }
        if ((Table.Supports2M && !profile.SecondStage2MPages) || (Table.Supports1G && !profile.SecondStage1GPages))
        {
            return "the domain may use second-stage superpages the unit lacks";
        }
        return null;
    }

    internal override PasidTableEntry? BuildEntry(Iommu unit, ushort domainId) => Format == PageTableFormat.FirstStage
        ? PasidTableEntry.FirstStage(domainId, Table.Root)
        : PasidTableEntry.SecondStage(domainId, Table.Root, _addressWidth);

    private void FlushPendingLocked()
    {
        if (_pendingFrames.Count == 0)
        {
            return;
        }
        FlushAll();
        foreach (var frame in _pendingFrames)
        {
            Table.FreeFrame(frame);
        }
        _pendingFrames.Clear();
    }

    private bool CachingModeUser()
    {
        foreach (var tag in CacheTags)
        {
            if (tag.Unit.Profile.CachingMode)
            {
                return true;
            }
        }
        return false;
    }

    private void ThrowIfFreed() => ObjectDisposedException.ThrowIf(_freed, this);
}
