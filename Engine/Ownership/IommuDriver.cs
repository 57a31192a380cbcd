using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// The OS IOMMU core plus the VT-d driver for a set of units: it creates domains, attaches them to RIDs and PASIDs with
/// the kernel's checks in the kernel's order, tracks DMA ownership and SVA binds, and programs the hardware tables.
/// Domains belong to one driver; another driver's devices refuse them (EINVAL, <c>domain-&gt;owner != ops</c>).
/// </summary>
/// <remarks>
/// <para>Every ownership operation runs under one lock (<see cref="SyncRoot"/>); it is not the hot path. Translation
/// (<see cref="TranslationUnit.Translate(in DmaRequest)"/>) takes no lock and sees either the old or the new
/// configuration: entries are written with P last and torn down with P cleared first.</para>
/// <para>Every refusal is decided before anything is written: validation runs for every affected device, domain ids
/// and PASID-table frames are reserved, and only then are tables programmed. So a refused call leaves tables, caches
/// and reference counts exactly as they were, and Linux's rollback paths (§7 items 7 and 13) are never needed.</para>
/// <para>Replace is teardown-then-setup, as VT-d does since Linux v7.0 (c3b1edea3791): the old PASID entry is cleared and
/// invalidated before the new one is written, because hardware may fetch a 512-bit entry in pieces. A request in that
/// window faults (not-present entry) instead of using a torn or stale entry.</para>
/// </remarks>
public sealed partial class IommuDriver
{
    private readonly List<Iommu> _units = [];
    private readonly HashSet<uint> _globalPasids = [];

    /// <summary>Creates a driver with its static blocked and identity domains.</summary>
    public IommuDriver()
    {
        Blocked = new BlockedDomain(this);
        Identity = new IdentityDomain(this);
    }

    /// <summary>The lock every ownership operation takes.</summary>
    public Lock SyncRoot { get; } = new();

    /// <summary>The static blocked domain.</summary>
    public BlockedDomain Blocked { get; }

    /// <summary>The static identity domain.</summary>
    public IdentityDomain Identity { get; }

    /// <summary>Units this driver manages.</summary>
    public IReadOnlyList<Iommu> Units
    {
        get
        {
            lock (SyncRoot)
            {
                return [.. _units];
            }
        }
    }

    /// <summary>Global PASIDs currently assigned to address spaces.</summary>
    public int GlobalPasidsInUse
    {
        get
        {
            lock (SyncRoot)
            {
                return _globalPasids.Count;
            }
        }
    }

    /// <summary>Takes over a unit: allocates its root table from <paramref name="frames"/> and enables translation in scalable mode.</summary>
    public Iommu AddUnit(TranslationUnit unit, FrameAllocator frames)
    {
        lock (SyncRoot)
        {
            var iommu = new Iommu(this, unit, frames);
            _units.Add(iommu);
            return iommu;
        }
    }

    /// <summary>
    /// Allocates a paging domain whose format fits <paramref name="unit"/> (first stage unless the unit lacks it or
    /// <see cref="PagingDomainFlags.NestParent"/> asks for second stage). It can attach to any compatible unit.
    /// </summary>
    public PagingDomain CreatePagingDomain(Iommu unit, PagingDomainKind kind = PagingDomainKind.Unmanaged,
        PagingDomainFlags flags = PagingDomainFlags.None)
    {
        lock (SyncRoot)
        {
            return new PagingDomain(this, unit, kind, flags);
        }
    }

    /// <summary>Allocates a nested domain: a user first-stage table (a GPA) over a nest-parent second-stage domain.</summary>
    /// <exception cref="IommuException">InvalidNestParent (EINVAL) when the parent is not a nest parent of this driver.</exception>
    public NestedDomain CreateNestedDomain(PagingDomain parent, ulong firstStageTable, FirstStagePagingMode mode = FirstStagePagingMode.FourLevel)
    {
        lock (SyncRoot)
        {
            CheckNestParent(parent);
            var nested = new NestedDomain(this, parent, firstStageTable, mode);
            parent.AddNested(nested);
            return nested;
        }
    }

    /// <summary>Allocates a nested domain that carries a whole user PASID table and claims the RID and every PASID.</summary>
    /// <exception cref="IommuException">InvalidNestParent (EINVAL) when the parent is not a nest parent of this driver.</exception>
    public UserPasidTableDomain CreateUserPasidTableDomain(PagingDomain parent, ulong pasidDirectory, int pasidDirectorySize)
    {
        lock (SyncRoot)
        {
            CheckNestParent(parent);
            if (pasidDirectorySize is < 0 or > 7 || (pasidDirectory & 0xFFF) != 0)
            {
                throw new IommuException(IommuError.InvalidRange, "The PASID directory must be 4 KiB aligned with PDTS 0..7.");
            }
            var domain = new UserPasidTableDomain(this, parent, pasidDirectory, pasidDirectorySize);
            parent.AddNested(domain);
            return domain;
        }
    }

    /// <summary>Frees a nested domain that is no longer attached, unlinking it from its parent.</summary>
    /// <exception cref="IommuException">PasidsAttached (EBUSY) while attached.</exception>
    public void FreeNestedDomain(Domain nested)
    {
        lock (SyncRoot)
        {
            if (nested.NestParent is not { } parent)
            {
                throw new ArgumentException("Not a nested domain.", nameof(nested));
            }
            if (nested.AttachmentCount != 0)
            {
                throw new IommuException(IommuError.PasidsAttached, "The nested domain is still attached.");
            }
            parent.RemoveNested(nested);
        }
    }

    /// <summary>Declares a process address space whose first-stage table the caller built.</summary>
    public AddressSpace CreateAddressSpace(ulong pageTableRoot, FirstStagePagingMode mode = FirstStagePagingMode.FourLevel) =>
        new(this, pageTableRoot, mode);

    internal void FreeGlobalPasid(uint pasid) => _globalPasids.Remove(pasid);

    private void CheckNestParent(PagingDomain parent)
    {
        if (!ReferenceEquals(parent.Driver, this) || !parent.IsNestParent || parent.Format != PageTableFormat.SecondStage)
        {
            throw new IommuException(IommuError.InvalidNestParent, "A nested domain needs a second-stage nest-parent domain of this driver.");
        }
    }

    private static IommuException Refuse(IommuError error, string message) => new(error, message);
}
