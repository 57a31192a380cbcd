namespace VtdEngine.Ownership;

/// <summary>
/// An IOMMU group (Linux <c>iommu_group</c>): devices that share one RID domain, the PASID attachment array (the same
/// domain for every PASID-capable device of the group), the default domain and the DMA owner.
/// </summary>
public sealed class Group
{
    private readonly List<Device> _devices = [];
    private readonly Dictionary<uint, (Domain Domain, SvaBond? Bond)> _pasids = [];

    internal Group(IommuDriver driver, Domain defaultDomain)
    {
        Driver = driver;
        DefaultDomain = defaultDomain;
        Domain = defaultDomain;
    }

    /// <summary>The owning driver.</summary>
    public IommuDriver Driver { get; }

    /// <summary>The devices in the group.</summary>
    public IReadOnlyList<Device> Devices
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return [.. _devices];
            }
        }
    }

    /// <summary>The current RID domain (<c>group-&gt;domain</c>); never null.</summary>
    public Domain Domain { get; internal set; }

    /// <summary>The default domain chosen at probe.</summary>
    public Domain DefaultDomain { get; }

    /// <summary>The blocking domain (the driver's static blocked domain).</summary>
    public BlockedDomain BlockingDomain => Driver.Blocked;

    /// <summary>The DMA owner (VFIO/iommufd), or null.</summary>
    public object? Owner { get; internal set; }

    /// <summary>Owner claims plus kernel-driver users of the default domain (<c>owner_cnt</c>).</summary>
    public int OwnerCount { get; internal set; }

    /// <summary>PASID → domain: a snapshot of the PASID attachment array.</summary>
    public IReadOnlyDictionary<uint, Domain> Pasids
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return _pasids.ToDictionary(pair => pair.Key, pair => pair.Value.Domain);
            }
        }
    }

    /// <summary>The domain attached at <paramref name="pasid"/>, or null.</summary>
    public Domain? GetPasidDomain(uint pasid)
    {
        lock (Driver.SyncRoot)
        {
            return _pasids.TryGetValue(pasid, out var slot) ? slot.Domain : null;
        }
    }

    internal List<Device> DeviceList => _devices;

    internal Dictionary<uint, (Domain Domain, SvaBond? Bond)> PasidArray => _pasids;

    /// <summary>The domain a detach returns to: blocking when owned, else default (§7 item 6).</summary>
    internal Domain CoreDomain => Owner is not null ? Driver.Blocked : DefaultDomain;
}
