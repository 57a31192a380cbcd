using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// A process address space (the kernel's <c>mm</c>) as SVA sees it: a first-stage page table that the caller builds
/// (for example with an <see cref="IoPageTable"/> in first-stage format), one global PASID assigned on first bind, and
/// the SVA domains that share it across compatible units.
/// </summary>
public sealed class AddressSpace
{
    private readonly List<SvaDomain> _svaDomains = [];

    internal AddressSpace(IommuDriver driver, ulong pageTableRoot, FirstStagePagingMode mode)
    {
        Driver = driver;
        PageTableRoot = pageTableRoot;
        Mode = mode;
    }

    /// <summary>The owning driver (global PASIDs are per driver).</summary>
    public IommuDriver Driver { get; }

    /// <summary>The first-stage root (CR3-like) the SVA PASID entries point at.</summary>
    public ulong PageTableRoot { get; }

    /// <summary>4- or 5-level paging.</summary>
    public FirstStagePagingMode Mode { get; }

    /// <summary>The global PASID (0 until the first bind; kept until <see cref="Release"/>, as <c>mm_pasid_drop</c>).</summary>
    public uint Pasid { get; internal set; }

    /// <summary>SVA domains of this address space, one per set of compatible units.</summary>
    public IReadOnlyList<SvaDomain> SvaDomains
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return [.. _svaDomains];
            }
        }
    }

    internal List<SvaDomain> SvaDomainList => _svaDomains;

    /// <summary>
    /// The mmu-notifier path: after the caller changed the CPU page table for <c>[address, address + length)</c>,
    /// invalidate it on every device bound to this address space.
    /// </summary>
    public void InvalidateRange(ulong address, ulong length)
    {
        lock (Driver.SyncRoot)
        {
            foreach (var domain in _svaDomains)
            {
                domain.FlushRange(address & ~0xFFFUL, (address + length + 0xFFF) & ~0xFFFUL);
            }
        }
    }

    /// <summary>The address space dies: its global PASID returns to the pool.</summary>
    /// <exception cref="IommuException">PasidsAttached (EBUSY) while devices are still bound.</exception>
    public void Release()
    {
        lock (Driver.SyncRoot)
        {
            if (_svaDomains.Count != 0)
            {
                throw new IommuException(IommuError.PasidsAttached, "Devices are still bound to this address space.");
            }
            if (Pasid != 0)
            {
                Driver.FreeGlobalPasid(Pasid);
                Pasid = 0;
            }
        }
    }
}
