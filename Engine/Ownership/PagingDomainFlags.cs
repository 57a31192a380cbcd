namespace VtdEngine.Ownership;

/// <summary>Allocation flags of a paging domain (Linux <c>IOMMU_HWPT_ALLOC_*</c>).</summary>
[Flags]
public enum PagingDomainFlags : byte
{
    /// <summary>None: first stage in scalable mode when the unit supports it.</summary>
    None = 0,

    /// <summary>NEST_PARENT: a second-stage domain that nested domains may sit on.</summary>
    NestParent = 1,
}
