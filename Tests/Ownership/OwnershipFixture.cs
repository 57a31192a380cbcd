using VtdEngine.Ownership;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Ownership;

/// <summary>Memory, a frame allocator, a driver and units whose invalidations are recorded.</summary>
internal sealed class OwnershipFixture
{
    public const ulong TableBase = 16UL << 20;
    public const ulong TableBytes = 8UL << 20;
    public const ulong DataBase = 64UL << 20;

    public OwnershipFixture(int units = 1, CapabilityProfile? profile = null, ulong tableBytes = TableBytes)
    {
        Memory = new SparsePhysicalMemory(256UL << 20);
        Frames = new FrameAllocator(Memory, TableBase, tableBytes);
        Driver = new IommuDriver();
        for (var i = 0; i < units; i++)
        {
            var unit = new TranslationUnit(Memory, profile);
            var log = new List<InvalidationRequest>();
            unit.Invalidated += log.Add;
            Logs.Add(log);
            Units.Add(Driver.AddUnit(unit, Frames));
        }
    }

    public SparsePhysicalMemory Memory { get; }

    public FrameAllocator Frames { get; }

    public IommuDriver Driver { get; }

    public List<Iommu> Units { get; } = [];

    public List<List<InvalidationRequest>> Logs { get; } = [];

    public Iommu Unit => Units[0];

    public void ClearLogs() => Logs.ForEach(log => log.Clear());

    public int TotalInvalidations => Logs.Sum(log => log.Count);

    public static ushort Sid(int bus, int device) => DmaRequest.MakeSourceId((byte)bus, device, 0);

    public static TranslationResult Translate(Device device, ulong address, uint pasid = DmaRequest.NoPasid, AccessKind access = AccessKind.Read) =>
        device.Iommu.Unit.Translate(new DmaRequest(device.SourceId, address, access, pasid));

    /// <summary>Raw bytes of every table frame (the allocator's range), for before/after comparison.</summary>
    public byte[] SnapshotTables()
    {
        var bytes = new byte[TableBytes];
        Memory.TryReadBytes(TableBase, bytes);
        return bytes;
    }

    public static byte[] ReadPasidEntry(Device device, uint pasid)
    {
        var bytes = new byte[64];
        var address = device.GetPasidEntryAddress(pasid);
        if (address != 0)
        {
            device.Iommu.Memory.TryReadBytes(address, bytes);
        }
        return bytes;
    }

    /// <summary>Everything a refusal must leave alone: table bytes, frames in use, DIDs, tags, refcounts, group state, invalidations.</summary>
    public string State(params Domain[] domains)
    {
        var text = new System.Text.StringBuilder();
        text.Append(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(SnapshotTables())));
        text.Append($" inuse={Frames.InUse} inv={TotalInvalidations} pasids={Driver.GlobalPasidsInUse}");
        foreach (var unit in Units)
        {
            text.Append($" dids={unit.DomainIdsInUse}");
            foreach (var device in unit.Devices.OrderBy(d => d.SourceId))
            {
                var group = device.Group!;
                text.Append($" [{device} {group.Domain.Type} owner={group.Owner is not null}/{group.OwnerCount} ");
                text.Append(string.Join(",", group.Pasids.OrderBy(p => p.Key).Select(p => $"{p.Key}:{p.Value.Type}")));
                text.Append(']');
            }
        }
        foreach (var domain in domains)
        {
            text.Append($" |{domain.Type}");
            foreach (var unit in Units)
            {
                text.Append($" did={domain.GetDomainId(unit)}x{domain.GetDomainIdReferences(unit)}");
            }
            foreach (var tag in domain.CacheTags)
            {
                text.Append($" {tag.Kind}/{tag.DomainId}/{tag.Pasid}/{tag.Device}x{domain.GetCacheTagUsers(tag)}");
            }
            text.Append($" att={domain.Attachments.Count}");
        }
        return text.ToString();
    }
}
