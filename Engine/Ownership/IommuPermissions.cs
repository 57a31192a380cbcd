namespace VtdEngine.Ownership;

/// <summary>Access a mapping grants (Linux <c>IOMMU_READ</c> / <c>IOMMU_WRITE</c>).</summary>
[Flags]
public enum IommuPermissions : byte
{
    /// <summary>No access (invalid for a mapping).</summary>
    None = 0,

    /// <summary>Device reads.</summary>
    Read = 1,

    /// <summary>Device writes.</summary>
    Write = 2,

    /// <summary>Reads and writes.</summary>
    ReadWrite = Read | Write,
}
