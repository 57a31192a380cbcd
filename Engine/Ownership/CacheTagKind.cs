namespace VtdEngine.Ownership;

/// <summary>Cache-tag types of the VT-d driver (<c>cache.c</c>).</summary>
public enum CacheTagKind : byte
{
    /// <summary>IOTLB entries of (unit, DID, PASID).</summary>
    Iotlb,

    /// <summary>Device-TLB entries of (device, DID, PASID); only for ATS devices.</summary>
    DeviceTlb,

    /// <summary>On a nest parent: IOTLB entries of a nested user (its DID); any parent change flushes them domain-wide.</summary>
    NestingIotlb,

    /// <summary>On a nest parent: a nested user's device TLB; any parent change flushes it whole.</summary>
    NestingDeviceTlb,
}
