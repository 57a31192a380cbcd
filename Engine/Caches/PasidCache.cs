using System.Diagnostics;
using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>
/// PASID cache (VT-d §6.2.1, Table 17; scalable mode only): validated PASID-table entries looked up by
/// (source-id, PASID) and invalidated by DID and PASID, with the FPD state of the directory and table entries.
/// </summary>
/// <remarks>
/// Direct-mapped over a hash of the key; a collision simply replaces the older entry. Entries are values in
/// <see cref="PublishedSlot{T}"/>s, so a lock-free reader sees a whole entry or none; the slots come in chunks made when
/// a chunk is first filled, so a unit pays memory only for the part of the cache its PASIDs use, and a fill allocates
/// nothing once its chunk exists. An empty slot reads as stamp 0, which no stamp check passes.
/// </remarks>
internal sealed class PasidCache
{
    private const int Slots = 1 << 13;
    private const int ChunkSlots = 1 << 8;

    private readonly PublishedSlot<PasidCacheEntry>[]?[] _chunks = new PublishedSlot<PasidCacheEntry>[]?[Slots / ChunkSlots];
    private readonly InvalidationStamps _stamps;

    public PasidCache(InvalidationStamps stamps) => _stamps = stamps;

    public bool TryLookup(ushort sourceId, uint pasid, out PasidCacheEntry entry)
    {
        var slot = Slot(sourceId, pasid);
        var chunk = Volatile.Read(ref _chunks[slot / ChunkSlots]);
        if (chunk is null || !chunk[slot % ChunkSlots].TryRead(out entry))
        {
            entry = default;
            return false;
        }
        return entry.SourceId == sourceId && entry.Pasid == pasid && _stamps.IsValid(entry.Stamp, entry.DomainId, pasid);
    }

    public void Fill(in PasidCacheEntry entry)
    {
        var slot = Slot(entry.SourceId, entry.Pasid);
        var chunk = LazyInitializer.EnsureInitialized(ref _chunks[slot / ChunkSlots],
            static () => new PublishedSlot<PasidCacheEntry>[ChunkSlots]);
        chunk[slot % ChunkSlots].Write(entry);
    }

    private static int Slot(ushort sourceId, uint pasid) => (int)((((uint)sourceId * 0x9E3779B1u) ^ (pasid * 0xC2B2AE35u)) >> 19) & (Slots - 1);
}

/// <summary>
/// A cached PASID-table entry for (source-id, PASID), whether an FPD bit on the PASID path was set, and the outcome of
/// its request-independent checks (SPT.4–SPT.5: a programming error faults the same way on every use).
/// </summary>
/// <remarks>
/// Only entries without reserved bits are cached, and Q3–Q7 are reserved (VT-d §9.6), so the entry keeps Q0–Q2.
/// </remarks>
internal readonly struct PasidCacheEntry
{
    private readonly ulong _q0;
    private readonly ulong _q1;
    private readonly ulong _q2;

    public PasidCacheEntry(long stamp, ushort sourceId, uint pasid, in PasidTableEntry value, bool faultProcessingDisabled,
        FaultReason programmingFault)
    {
        Debug.Assert((value.Q3 | value.Q4 | value.Q5 | value.Q6 | value.Q7) == 0, "an entry with reserved bits set is never cached");
        Stamp = stamp;
        SourceId = sourceId;
        Pasid = pasid;
        (_q0, _q1, _q2) = (value.Q0, value.Q1, value.Q2);
        FaultProcessingDisabled = faultProcessingDisabled;
        ProgrammingFault = programmingFault;
    }

    public long Stamp { get; }

    public ushort SourceId { get; }

    public uint Pasid { get; }

    public PasidTableEntry Value => new(_q0, _q1, _q2, 0, 0, 0, 0, 0);

    public ushort DomainId => Value.DomainId;

    /// <summary>FPD of the PASID directory or table entry (the context entry's FPD is in the context cache).</summary>
    public bool FaultProcessingDisabled { get; }

    /// <summary>What the walker's request-independent checks say of the entry: <see cref="FaultReason.None"/> or an SPT.4/SPT.5 fault.</summary>
    public FaultReason ProgrammingFault { get; }
}
