namespace VtdEngine.Ownership;

/// <summary>Domain types, after Linux <c>IOMMU_DOMAIN_*</c> (linux-iommu-model.md §1).</summary>
public enum DomainType : byte
{
    /// <summary>BLOCKED: every DMA faults; the PASID detach mechanism and the owned parking state.</summary>
    Blocked,

    /// <summary>IDENTITY: IOVA == PA through a pass-through PASID entry (DID = FLPT_DEFAULT_DID).</summary>
    Identity,

    /// <summary>UNMANAGED: caller-managed IOPTEs (what VFIO/iommufd allocate).</summary>
    Unmanaged,

    /// <summary>DMA: the kernel DMA-API domain (may run with a deferred flush queue, DMA_FQ).</summary>
    Dma,

    /// <summary>SVA: shares a process address space; PASID only.</summary>
    Sva,

    /// <summary>NESTED: a user first-stage table over a nest-parent second-stage domain, per RID or PASID.</summary>
    Nested,

    /// <summary>NESTED with a user PASID table (ARM vSTE style, <c>ops-&gt;user_pasid_table</c>): claims the RID and every PASID.</summary>
    NestedUserPasidTable,
}
