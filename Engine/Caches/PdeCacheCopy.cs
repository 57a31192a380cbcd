using VtdEngine.Iotlb;

namespace VtdEngine;

/// <summary>
/// What a walk that ended in a 4 KiB leaf learned above the leaf, for a first-level TLB to keep per requester and
/// 2 MiB region: the PDE-cache entry (the level-1 table and the rights of the levels above it, VT-d §6.2.4) joined with
/// what the context and PASID entries decided (DID, PGTT, the A/D flags the stage tracks, the flags an IOTLB fill
/// carries), so that the next IOTLB miss in the region reads one leaf entry and fills. Made by second-stage-only,
/// legacy and first-stage-only walks; nested walks translate every table address through the second stage, so they
/// make none.
/// </summary>
/// <param name="Table">Host address of the level-1 (leaf) table.</param>
/// <param name="UpperRights">What the levels above the leaf grant: R/W for the second stage; W and U/S for the first.</param>
/// <param name="AccessedBits">Flags every use needs already set in the leaf (A, and EA, when the stage sets them); else the full walk sets them.</param>
/// <param name="DirtyBit">The leaf's D flag when the stage tracks it, else 0: a write to a leaf without it needs the full walk.</param>
/// <param name="DomainId">The DID the IOTLB fill is tagged with.</param>
/// <param name="Type">The PGTT the IOTLB fill is tagged with; it also says which stage's leaf format the table holds.</param>
/// <param name="Flags">Flags every fill of the walk carries (SRE, RID_PRIV, WPE; legacy mode's implicit supervisor).</param>
/// <param name="TagPasid">The PASID the IOTLB fill is tagged with (RID_PASID for requests without PASID).</param>
/// <param name="IotlbStamp">
/// The IOTLB fill stamp the walk took before reading any table: a fill made later from this copy is as old as the
/// structures it came from, so an invalidation that overtook them kills it.
/// </param>
/// <param name="TableFrame">
/// The leaf table's storage when the memory is a <see cref="Tables.SparsePhysicalMemory"/>, which hands out a frame's
/// array (a frame's storage never changes, as <see cref="Tables.IPhysicalMemory"/> requires), so a miss from the copy
/// skips the memory model's frame lookup; null for other memories, which are asked for the frame each time.
/// </param>
internal readonly record struct PdeCacheCopy(ulong Table, AccessRights UpperRights, ushort AccessedBits, ushort DirtyBit,
    ushort DomainId, CachedTranslationType Type, CachedRights Flags, uint TagPasid, uint IotlbStamp, ulong[]? TableFrame);
