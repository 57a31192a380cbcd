namespace VtdEngine.Iotlb;

/// <summary>Access rights and walk-avoidance bits cached with a translation.</summary>
[Flags]
public enum CachedRights : byte
{
    /// <summary>No access.</summary>
    None = 0,

    /// <summary>Reads are permitted.</summary>
    Read = 1,

    /// <summary>Writes are permitted.</summary>
    Write = 2,

    /// <summary>User-mode (U/S=1) requests are permitted (first-stage only).</summary>
    User = 4,

    /// <summary>The leaf's D bit (and the second-stage D bit when nested or SSADE) is already set, so a write needs no walk.</summary>
    Dirty = 8,

    /// <summary>The PASID entry had WPE=1: supervisor writes honour the R/W bit.</summary>
    WriteProtect = 16,

    /// <summary>The PASID entry had SRE=1: supervisor (PR=1) requests may use the translation.</summary>
    Supervisor = 32,

    /// <summary>Requests without PASID on this entry are supervisor requests (the context entry's RID_PRIV).</summary>
    PrivilegedWithoutPasid = 64,
}
