using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// A probed PCI function behind one unit (Linux <c>device_domain_info</c>). It owns its PASID directory and PASID
/// tables: created at probe, programmed into the scalable-mode context entry with RID_PASID = 0, freed at release,
/// independent of every domain.
/// </summary>
public sealed class Device
{
    /// <summary>Largest PASID space a device gets: one 4 KiB directory frame of 512 entries × 64 PASIDs.</summary>
    public const uint MaxSupportedPasids = 1u << 15;

    private readonly ulong[] _pasidTables;

    internal Device(Iommu unit, ushort sourceId, DeviceOptions options, uint maxPasids, ulong contextTable, ulong pasidDirectory,
        int pasidDirectorySize)
    {
        Iommu = unit;
        SourceId = sourceId;
        MaxPasids = maxPasids;
        Ats = options.Ats;
        RequireDirect = options.RequireDirect;
        ContextTable = contextTable;
        PasidDirectory = pasidDirectory;
        PasidDirectorySize = pasidDirectorySize;
        _pasidTables = new ulong[1 << (pasidDirectorySize + 7)];
    }

    /// <summary>The unit the device sits behind.</summary>
    public Iommu Iommu { get; }

    /// <summary>Requester id (bus:dev.fn).</summary>
    public ushort SourceId { get; }

    /// <summary>PASIDs the device may use: [0, MaxPasids); 0 when it has no PASID support.</summary>
    public uint MaxPasids { get; }

    /// <summary>Whether ATS is on (device-TLB invalidations are needed).</summary>
    public bool Ats { get; }

    /// <summary>Whether the RID must never be blocked (RMRR).</summary>
    public bool RequireDirect { get; }

    /// <summary>The device's group; null once released.</summary>
    public Group? Group { get; internal set; }

    /// <summary>The context table holding this device's scalable-mode context entry.</summary>
    public ulong ContextTable { get; }

    /// <summary>Address of the device's context entry.</summary>
    public ulong ContextEntryAddress => ContextTable + ((ulong)(SourceId & 0x7F) * ScalableModeContextEntry.Size);

    /// <summary>The device's PASID directory (device data, never a domain's).</summary>
    public ulong PasidDirectory { get; }

    /// <summary>PDTS: the directory has 2^(PDTS+7) entries.</summary>
    public int PasidDirectorySize { get; }

    /// <summary>The PASID table serving <paramref name="pasid"/>, or 0 when none has been allocated yet.</summary>
    public ulong GetPasidTable(uint pasid) => (pasid >> 6) < (uint)_pasidTables.Length ? _pasidTables[pasid >> 6] : 0;

    /// <summary>Address of the 64-byte PASID-table entry of <paramref name="pasid"/>, or 0 when its table does not exist.</summary>
    public ulong GetPasidEntryAddress(uint pasid)
    {
        var table = GetPasidTable(pasid);
        return table == 0 ? 0 : PasidTableEntry.AddressOf(table, pasid);
    }

    /// <summary>Whether device-TLB invalidations must be sent (ATS on and the unit supports device TLBs).</summary>
    internal bool DeviceTlbEnabled => Ats && Iommu.Profile.DeviceTlb;

    internal bool NeedsPasidTable(uint pasid) => _pasidTables[pasid >> 6] == 0;

    internal void SetPasidTable(uint pasid, ulong table) => _pasidTables[pasid >> 6] = table;

    internal IEnumerable<ulong> AllocatedPasidTables() => _pasidTables.Where(table => table != 0);

    /// <inheritdoc />
    public override string ToString() => $"{SourceId >> 8:x2}:{(SourceId >> 3) & 0x1F:x2}.{SourceId & 7}";
}
