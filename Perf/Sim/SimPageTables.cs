using VtdEngine.Tables;

namespace VtdEngine.Perf.Sim;

/// <summary>Which paging structures a simulated domain translates through.</summary>
public enum SimStage : byte
{
    /// <summary>Second-stage only (PGTT=010): the classic Linux DMA-API domain.</summary>
    SecondStage,

    /// <summary>First-stage only (PGTT=001): Linux's scalable-mode DMA domains and SVA-style PASID binds.</summary>
    FirstStage,
}

/// <summary>One address space the programmer owns: a domain-id, a stage and a 4-level table root.</summary>
public sealed class SimDomain
{
    internal SimDomain(ushort domainId, SimStage stage, ulong root)
    {
        DomainId = domainId;
        Stage = stage;
        Root = root;
    }

    /// <summary>DID written into the PASID table entries that use this domain.</summary>
    public ushort DomainId { get; }

    /// <summary>Stage of the tables under <see cref="Root"/>.</summary>
    public SimStage Stage { get; }

    /// <summary>Host physical address of the level-4 table.</summary>
    public ulong Root { get; }
}

/// <summary>
/// The simulator's page-table programmer: builds scalable-mode root, context, PASID directory and PASID table entries
/// and first/second-stage tables with the <c>Tables</c> builders, and maps or unmaps 4 KiB and 2 MiB pages.
/// </summary>
/// <remarks>
/// This is deliberately the only file that writes remapping structures, so the ownership model (domains, map/unmap,
/// attach, invalidation fan-out) can replace it without touching the simulator. It issues no invalidations itself: it
/// only says which request a stage needs (<see cref="PageInvalidation"/>, <see cref="DomainInvalidation"/>) and the
/// caller times and counts them. Not thread-safe; intermediate tables are never freed (a simulation run is short).
/// </remarks>
public sealed class SimPageTables
{
    private const int Levels = 4;
    private const int SecondStageAddressWidth = 2; // AW=2: 48-bit, 4-level
    private const ulong TableAddressMask = 0x000F_FFFF_FFFF_F000;

    private readonly IPhysicalMemory _memory;
    private readonly FrameAllocator _frames;
    private readonly Dictionary<byte, (ulong Lower, ulong Upper)> _contextTables = [];
    private readonly Dictionary<ushort, ulong> _pasidDirectories = [];
    private readonly Dictionary<(ushort SourceId, uint DirectoryIndex), ulong> _pasidTables = [];

    /// <summary>Creates the root table in a frame of <paramref name="frames"/>.</summary>
    public SimPageTables(IPhysicalMemory memory, FrameAllocator frames)
    {
        _memory = memory;
        _frames = frames;
        RootTable = frames.Allocate();
    }

    /// <summary>Scalable-mode root table to latch with <see cref="TranslationUnit.SetRootTable"/>.</summary>
    public ulong RootTable { get; }

    /// <summary>Page-table entries written by map and unmap (a driver-side cost the simulator reports).</summary>
    public long EntryWrites { get; private set; }

    /// <summary>Creates an empty 4-level address space.</summary>
    public SimDomain CreateDomain(ushort domainId, SimStage stage) => new(domainId, stage, _frames.Allocate());

    /// <summary>
    /// Points (<paramref name="sourceId"/>, <paramref name="pasid"/>) at <paramref name="domain"/>: root and context
    /// entries on first use of the bus and device (PASIDs enabled, RID_PASID 0), then the PASID directory and table entry.
    /// </summary>
    public void Attach(ushort sourceId, uint pasid, SimDomain domain)
    {
        var directory = PasidDirectoryFor(sourceId);
        var tableKey = (sourceId, pasid >> 6);
        if (!_pasidTables.TryGetValue(tableKey, out var pasidTable))
        {
            pasidTable = _frames.Allocate();
            _pasidTables.Add(tableKey, pasidTable);
            PasidDirectoryEntry.Create(pasidTable).Write(_memory, directory, pasid);
        }
        var entry = domain.Stage == SimStage.SecondStage
            ? PasidTableEntry.SecondStage(domain.DomainId, domain.Root, SecondStageAddressWidth)
            : PasidTableEntry.FirstStage(domain.DomainId, domain.Root);
        entry.Write(_memory, pasidTable, pasid);
    }

    /// <summary>
    /// Points (<paramref name="sourceId"/>, <paramref name="pasid"/>) at nested translation: first stage under
    /// <paramref name="firstStage"/> (its tables must be reachable as GPAs through <paramref name="secondStage"/>).
    /// </summary>
    public void AttachNested(ushort sourceId, uint pasid, SimDomain firstStage, SimDomain secondStage)
    {
        Attach(sourceId, pasid, secondStage);
        var pasidTable = _pasidTables[(sourceId, pasid >> 6)];
        PasidTableEntry.NestedTranslation(secondStage.DomainId, firstStage.Root, secondStage.Root, SecondStageAddressWidth)
            .Write(_memory, pasidTable, pasid);
    }

    /// <summary>Maps <paramref name="iova"/> to <paramref name="hpa"/> with a 4 KiB or 2 MiB leaf, allocating tables.</summary>
    public void Map(SimDomain domain, ulong iova, ulong hpa, PageSize size, bool writable = true)
    {
        var leafLevel = (int)size;
        var table = domain.Root;
        for (var level = Levels; level > leafLevel; level--)
        {
            var slot = table + ((ulong)PageTableGeometry.LevelIndex(iova, level) * 8);
            var value = _memory.Read64(slot);
            if (!IsPresent(domain.Stage, value))
            {
                var next = _frames.Allocate();
                value = domain.Stage == SimStage.SecondStage ? SecondStageEntry.Table(next).Value : FirstStageEntry.Table(next).Value;
                _memory.Write64(slot, value);
                EntryWrites++;
            }
            table = value & TableAddressMask;
        }
        var leaf = domain.Stage == SimStage.SecondStage
            ? SecondStageEntry.Leaf(hpa, size, writable: writable).Value
            : FirstStageEntry.Leaf(hpa, size, writable: writable).Value;
        _memory.Write64(table + ((ulong)PageTableGeometry.LevelIndex(iova, leafLevel) * 8), leaf);
        EntryWrites++;
    }

    /// <summary>Clears the leaf mapping <paramref name="iova"/> at <paramref name="size"/>; false when nothing was mapped.</summary>
    public bool Unmap(SimDomain domain, ulong iova, PageSize size)
    {
        var leafLevel = (int)size;
        var table = domain.Root;
        for (var level = Levels; level > leafLevel; level--)
        {
            var value = _memory.Read64(table + ((ulong)PageTableGeometry.LevelIndex(iova, level) * 8));
            if (!IsPresent(domain.Stage, value))
            {
                return false;
            }
            table = value & TableAddressMask;
        }
        var slot = table + ((ulong)PageTableGeometry.LevelIndex(iova, leafLevel) * 8);
        if (!IsPresent(domain.Stage, _memory.Read64(slot)))
        {
            return false;
        }
        _memory.Write64(slot, 0);
        EntryWrites++;
        return true;
    }

    /// <summary>
    /// The page-selective invalidation a driver issues after unmapping <paramref name="iova"/>: iotlb_inv PSI for a
    /// second-stage domain, p_iotlb_inv page-selective for a first-stage one (VT-d §6.5.2.3, §6.5.2.4).
    /// </summary>
    public static InvalidationRequest PageInvalidation(SimDomain domain, uint pasid, ulong iova, PageSize size)
    {
        var addressMask = PageTableGeometry.LevelShift((int)size) - 12;
        return domain.Stage == SimStage.SecondStage
            ? InvalidationRequest.IotlbPage(domain.DomainId, iova, addressMask)
            : InvalidationRequest.PasidIotlbPage(domain.DomainId, pasid, iova, addressMask);
    }

    /// <summary>The flush-everything-of-this-address-space request: domain-selective IOTLB or PASID-selective P_IOTLB.</summary>
    public static InvalidationRequest DomainInvalidation(SimDomain domain, uint pasid) =>
        domain.Stage == SimStage.SecondStage
            ? InvalidationRequest.IotlbDomain(domain.DomainId)
            : InvalidationRequest.PasidIotlb(domain.DomainId, pasid);

    private static bool IsPresent(SimStage stage, ulong value) =>
        stage == SimStage.SecondStage ? new SecondStageEntry(value).Present : new FirstStageEntry(value).Present;

    private ulong PasidDirectoryFor(ushort sourceId)
    {
        if (_pasidDirectories.TryGetValue(sourceId, out var directory))
        {
            return directory;
        }
        var bus = (byte)(sourceId >> 8);
        var devfn = (byte)sourceId;
        if (!_contextTables.TryGetValue(bus, out var tables))
        {
            tables = (_frames.Allocate(), _frames.Allocate());
            _contextTables.Add(bus, tables);
            ScalableModeRootEntry.Create(tables.Lower, tables.Upper).Write(_memory, RootTable, bus);
        }
        directory = _frames.Allocate();
        _pasidDirectories.Add(sourceId, directory);
        // PDTS=0: 128 directory entries, PASIDs 0..8191; RID_PASID 0 serves requests without PASID.
        ScalableModeContextEntry.Create(directory, pasidDirectorySize: 0, ridPasid: 0)
            .Write(_memory, devfn < 128 ? tables.Lower : tables.Upper, devfn);
        return directory;
    }
}
