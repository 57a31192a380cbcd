namespace VtdEngine.Ownership;

/// <summary>
/// One user of a domain's translations that invalidations must reach: (unit, DID, PASID) and, for device-TLB tags,
/// the device. PASID 0 is the RID (RID_PASID). Identical attachments share a tag (reference counted in the domain).
/// </summary>
/// <param name="Kind">What is cached.</param>
/// <param name="Unit">The unit whose caches hold it.</param>
/// <param name="DomainId">DID the entries are tagged with.</param>
/// <param name="Pasid">PASID (0 for the RID).</param>
/// <param name="Device">The device for device-TLB tags; null otherwise.</param>
public readonly record struct CacheTag(CacheTagKind Kind, Iommu Unit, ushort DomainId, uint Pasid, Device? Device);
