namespace VtdEngine.Ownership;

/// <summary>
/// The handle <see cref="IommuDriver.BindSva"/> returns (Linux <c>iommu_sva</c>): one per (group, address space),
/// reference counted; binding the same device and address space again returns the same bond.
/// </summary>
public sealed class SvaBond
{
    internal SvaBond(Device device, AddressSpace addressSpace, SvaDomain domain, uint pasid)
    {
        Device = device;
        AddressSpace = addressSpace;
        Domain = domain;
        Pasid = pasid;
    }

    /// <summary>The device the bond was first made for.</summary>
    public Device Device { get; }

    /// <summary>The bound address space.</summary>
    public AddressSpace AddressSpace { get; }

    /// <summary>The SVA domain attached at <see cref="Pasid"/>.</summary>
    public SvaDomain Domain { get; }

    /// <summary>The address space's global PASID.</summary>
    public uint Pasid { get; }

    /// <summary>Binds not yet unbound.</summary>
    public int References { get; internal set; } = 1;
}
