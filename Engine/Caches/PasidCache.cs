using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>
/// PASID cache (VT-d §6.2.1, Table 17; scalable mode only): validated PASID-table entries looked up by
/// (source-id, PASID) and invalidated by DID and PASID, with the FPD state of the directory and table entries.
/// </summary>
/// <remarks>
/// Direct-mapped over a hash of the key; a collision simply replaces the older entry. Entries are immutable objects
/// published with a volatile write, so a lock-free reader sees a whole entry or none.
/// </remarks>
internal sealed class PasidCache
{
    private const int Slots = 1 << 13;

    private readonly PasidCacheEntry?[] _slots = new PasidCacheEntry?[Slots];
    private readonly InvalidationStamps _stamps;

    public PasidCache(InvalidationStamps stamps) => _stamps = stamps;

    public PasidCacheEntry? Lookup(ushort sourceId, uint pasid)
    {
        var entry = Volatile.Read(ref _slots[Slot(sourceId, pasid)]);
        return entry is not null && entry.SourceId == sourceId && entry.Pasid == pasid
            && _stamps.IsValid(entry.Stamp, entry.Value.DomainId, pasid)
            ? entry
            : null;
    }

    public void Fill(PasidCacheEntry entry) => Volatile.Write(ref _slots[Slot(entry.SourceId, entry.Pasid)], entry);

    private static int Slot(ushort sourceId, uint pasid) => (int)((((uint)sourceId * 0x9E3779B1u) ^ (pasid * 0xC2B2AE35u)) >> 19) & (Slots - 1);
}

/// <summary>
/// A cached PASID-table entry for (source-id, PASID), whether an FPD bit on the PASID path was set, and the outcome of
/// its request-independent checks (SPT.4–SPT.5: a programming error faults the same way on every use).
/// </summary>
internal sealed class PasidCacheEntry(long stamp, ushort sourceId, uint pasid, in PasidTableEntry value, bool faultProcessingDisabled,
    FaultReason programmingFault)
{
    public long Stamp { get; } = stamp;

    public ushort SourceId { get; } = sourceId;

    public uint Pasid { get; } = pasid;

    public PasidTableEntry Value { get; } = value;

    /// <summary>FPD of the PASID directory or table entry (the context entry's FPD is in the context cache).</summary>
    public bool FaultProcessingDisabled { get; } = faultProcessingDisabled;

    /// <summary>What the walker's request-independent checks say of the entry: <see cref="FaultReason.None"/> or an SPT.4/SPT.5 fault.</summary>
    public FaultReason ProgrammingFault { get; } = programmingFault;
}
