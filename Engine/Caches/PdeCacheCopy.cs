using VtdEngine.Iotlb;

namespace VtdEngine;

/// <summary>
/// What a second-stage walk that ended in a 4 KiB leaf learned above the leaf, for a first-level TLB to keep per
/// requester and 2 MiB region: the PDE-cache entry (the level-1 table and the rights of the levels above it, VT-d
/// §6.2.4) joined with what the context and PASID entries decided (DID, PGTT, SSADE, the flags an IOTLB fill carries),
/// so that the next IOTLB miss in the region reads one leaf entry and fills.
/// </summary>
/// <param name="Table">Host address of the level-1 (leaf) table.</param>
/// <param name="UpperRights">R/W ANDed over the levels above the leaf.</param>
/// <param name="AccessedDirty">Whether the walk tracks A/D flags (SSADE): a leaf without A, or a write to a leaf without D, needs the full walk.</param>
/// <param name="DomainId">The DID the IOTLB fill is tagged with.</param>
/// <param name="Type">The PGTT the IOTLB fill is tagged with.</param>
/// <param name="Flags">Privilege flags every fill of the walk carries (SRE, RID_PRIV; legacy mode's implicit supervisor).</param>
/// <param name="TagPasid">The PASID the IOTLB fill is tagged with (RID_PASID for requests without PASID).</param>
/// <param name="IotlbStamp">
/// The IOTLB fill stamp the walk took before reading any table: a fill made later from this copy is as old as the
/// structures it came from, so an invalidation that overtook them kills it.
/// </param>
internal readonly record struct PdeCacheCopy(ulong Table, AccessRights UpperRights, bool AccessedDirty, ushort DomainId,
    CachedTranslationType Type, CachedRights Flags, uint TagPasid, uint IotlbStamp);
