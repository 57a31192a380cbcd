namespace VtdEngine;

/// <summary>
/// One invalidation, decoded: what the queued-invalidation descriptors and the C# API both express. Fields a kind does
/// not use are zero.
/// </summary>
/// <param name="Kind">Scope.</param>
/// <param name="DomainId">DID (domain, page and PASID scopes).</param>
/// <param name="Pasid">PASID (PASID-cache, P_IOTLB and PASID device-TLB scopes).</param>
/// <param name="SourceId">Source-id (device context and device-TLB scopes).</param>
/// <param name="FunctionMask">FM: 0 none, 1/2/3 mask SID bits 2, 2:1, 2:0 (device context scope).</param>
/// <param name="Address">Page address (page scopes); bits below 2^(12+AM) are ignored, as hardware does.</param>
/// <param name="AddressMask">AM: the range is 2^AM pages (page scopes).</param>
/// <param name="InvalidationHint">IH: paging-structure caches for the range may be kept (page scopes).</param>
/// <param name="SizeBit">S: device-TLB range encoding (device-TLB scopes).</param>
public readonly record struct InvalidationRequest(
    InvalidationKind Kind,
    ushort DomainId = 0,
    uint Pasid = 0,
    ushort SourceId = 0,
    byte FunctionMask = 0,
    ulong Address = 0,
    byte AddressMask = 0,
    bool InvalidationHint = false,
    bool SizeBit = false)
{
    /// <summary>Global IOTLB invalidation.</summary>
    public static InvalidationRequest IotlbGlobal() => new(InvalidationKind.IotlbGlobal);

    /// <summary>Domain-selective IOTLB invalidation.</summary>
    public static InvalidationRequest IotlbDomain(ushort domainId) => new(InvalidationKind.IotlbDomain, domainId);

    /// <summary>Page-selective-within-domain IOTLB invalidation of 2^<paramref name="addressMask"/> pages.</summary>
    public static InvalidationRequest IotlbPage(ushort domainId, ulong address, int addressMask = 0, bool invalidationHint = false) =>
        new(InvalidationKind.IotlbPage, domainId, Address: address, AddressMask: (byte)addressMask, InvalidationHint: invalidationHint);

    /// <summary>PASID-selective P_IOTLB invalidation.</summary>
    public static InvalidationRequest PasidIotlb(ushort domainId, uint pasid) => new(InvalidationKind.PasidIotlbPasid, domainId, pasid);

    /// <summary>Page-selective-within-PASID P_IOTLB invalidation.</summary>
    public static InvalidationRequest PasidIotlbPage(ushort domainId, uint pasid, ulong address, int addressMask = 0, bool invalidationHint = false) =>
        new(InvalidationKind.PasidIotlbPage, domainId, pasid, Address: address, AddressMask: (byte)addressMask, InvalidationHint: invalidationHint);

    /// <summary>Global context-cache invalidation.</summary>
    public static InvalidationRequest ContextCacheGlobal() => new(InvalidationKind.ContextCacheGlobal);

    /// <summary>Device-selective context-cache invalidation.</summary>
    public static InvalidationRequest ContextCacheDevice(ushort domainId, ushort sourceId, int functionMask = 0) =>
        new(InvalidationKind.ContextCacheDevice, domainId, SourceId: sourceId, FunctionMask: (byte)functionMask);

    /// <summary>Global PASID-cache invalidation.</summary>
    public static InvalidationRequest PasidCacheGlobal() => new(InvalidationKind.PasidCacheGlobal);

    /// <summary>Domain-selective PASID-cache invalidation.</summary>
    public static InvalidationRequest PasidCacheDomain(ushort domainId) => new(InvalidationKind.PasidCacheDomain, domainId);

    /// <summary>PASID-selective-within-domain PASID-cache invalidation.</summary>
    public static InvalidationRequest PasidCachePasid(ushort domainId, uint pasid) => new(InvalidationKind.PasidCachePasid, domainId, pasid);

    /// <summary>Device-TLB invalidation for a source-id without PASID (S=0: one 4 KiB page).</summary>
    public static InvalidationRequest DeviceTlb(ushort sourceId, ulong address, bool sizeBit = false) =>
        new(InvalidationKind.DeviceTlb, SourceId: sourceId, Address: address, SizeBit: sizeBit);

    /// <summary>Device-TLB invalidation for a source-id and PASID.</summary>
    public static InvalidationRequest PasidDeviceTlb(ushort sourceId, uint pasid, ulong address, bool sizeBit = false) =>
        new(InvalidationKind.PasidDeviceTlb, Pasid: pasid, SourceId: sourceId, Address: address, SizeBit: sizeBit);

    /// <summary>
    /// Why this request is invalid for <paramref name="profile"/>, or null when it is valid. Queued invalidation turns a
    /// non-null answer into IQE; the C# API into an <see cref="ArgumentException"/>.
    /// </summary>
    public string? Validate(Tables.CapabilityProfile profile, bool scalableMode)
    {
        if (Kind > InvalidationKind.InterruptEntryCache)
        {
            return $"Unknown invalidation kind {(int)Kind}.";
        }
        if (Pasid > 0xFFFFF)
        {
            return "PASID exceeds 20 bits.";
        }
        if (FunctionMask > 3)
        {
            return "Function mask must be 0..3.";
        }
        if (Kind is InvalidationKind.IotlbPage or InvalidationKind.PasidIotlbPage)
        {
            if (Kind == InvalidationKind.IotlbPage && !profile.PageSelectiveInvalidation)
            {
                return "Page-selective IOTLB invalidation needs CAP.PSI.";
            }
            if (AddressMask > profile.MaxAddressMaskValue)
            {
                return $"Address mask {AddressMask} exceeds CAP.MAMV {profile.MaxAddressMaskValue}.";
            }
        }
        if (!scalableMode && Kind is InvalidationKind.PasidCacheGlobal or InvalidationKind.PasidCacheDomain
                or InvalidationKind.PasidCachePasid or InvalidationKind.PasidIotlbPasid or InvalidationKind.PasidIotlbPage
                or InvalidationKind.PasidDeviceTlb)
        {
            return "PASID-based invalidations exist only in scalable mode.";
        }
        return null;
    }
}
