namespace VtdEngine.Ownership;

/// <summary>Which paging domain type to allocate.</summary>
public enum PagingDomainKind : byte
{
    /// <summary>UNMANAGED: the caller maps and unmaps (VFIO/iommufd).</summary>
    Unmanaged,

    /// <summary>DMA: the kernel DMA API's domain; may use a deferred flush queue.</summary>
    Dma,
}
