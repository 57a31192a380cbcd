namespace VtdEngine;

/// <summary>
/// Invalidation scopes, one per descriptor granularity (VT-d §6.5.2, Tables 23/24). The same values drive the C# API,
/// the queued-invalidation executor and the ownership model's fan-out.
/// </summary>
public enum InvalidationKind : byte
{
    /// <summary>cc_inv G=01: every context-cache entry.</summary>
    ContextCacheGlobal,

    /// <summary>cc_inv G=10: context entries of a domain (scalable mode performs it as global).</summary>
    ContextCacheDomain,

    /// <summary>cc_inv G=11: context entries of a source-id under a function mask.</summary>
    ContextCacheDevice,

    /// <summary>pc_inv G=11: every PASID-cache entry.</summary>
    PasidCacheGlobal,

    /// <summary>pc_inv G=00: PASID-cache entries of a domain.</summary>
    PasidCacheDomain,

    /// <summary>pc_inv G=01: PASID-cache entries of a PASID within a domain.</summary>
    PasidCachePasid,

    /// <summary>iotlb_inv G=01: the whole IOTLB and paging-structure caches.</summary>
    IotlbGlobal,

    /// <summary>iotlb_inv G=10: everything tagged with a domain-id.</summary>
    IotlbDomain,

    /// <summary>iotlb_inv G=11: page-selective within a domain (AM, IH).</summary>
    IotlbPage,

    /// <summary>p_iotlb_inv G=10: everything of a PASID within a domain.</summary>
    PasidIotlbPasid,

    /// <summary>p_iotlb_inv G=11: page-selective within a PASID (first-stage and nested entries only).</summary>
    PasidIotlbPage,

    /// <summary>dev_tlb_inv: a device-TLB range without PASID, passed to the device-side hook.</summary>
    DeviceTlb,

    /// <summary>p_dev_tlb_inv: a device-TLB range for a PASID, passed to the device-side hook.</summary>
    PasidDeviceTlb,

    /// <summary>iec_inv: interrupt-entry cache (no interrupt remapping is modelled; accepted and recorded).</summary>
    InterruptEntryCache,
}
