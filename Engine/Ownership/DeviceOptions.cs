namespace VtdEngine.Ownership;

/// <summary>What a device brings to probe.</summary>
public sealed record DeviceOptions
{
    /// <summary>PCI PASID capability width in bits (0: no PASID). max_pasids = min(2^width, unit's 2^PSS, 2^15).</summary>
    public int PasidWidth { get; init; }

    /// <summary>ATS enabled: the device caches translations, so invalidations also go to its device TLB.</summary>
    public bool Ats { get; init; }

    /// <summary>The device has RMRR-style direct mappings and must never be blocked on its RID.</summary>
    public bool RequireDirect { get; init; }

    /// <summary>Join this existing group (DMA aliases, a shared ACS domain) instead of creating one.</summary>
    public Group? Group { get; init; }

    /// <summary>Default domain of a new group; null means the blocked domain.</summary>
    public Domain? DefaultDomain { get; init; }
}
