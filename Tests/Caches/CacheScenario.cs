using VtdEngine.Tables;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Tests.Caches;

/// <summary>
/// A copy-on-touch view of another memory: reads see the underlying frames, writes (the reference walker's A/D
/// updates) land in private copies. Lets the reference walk "a clone" of the image per request at the cost of the
/// few frames it touches.
/// </summary>
internal sealed class OverlayMemory(IPhysicalMemory inner) : IPhysicalMemory
{
    private readonly Dictionary<ulong, ulong[]> _copies = [];

    /// <summary>Forgets every private copy: the view matches the underlying memory again.</summary>
    public void Reset() => _copies.Clear();

    public Span<ulong> GetFrame(ulong frameNumber)
    {
        if (_copies.TryGetValue(frameNumber, out var copy))
        {
            return copy;
        }
        var frame = inner.GetFrame(frameNumber);
        if (frame.IsEmpty)
        {
            return default;
        }
        copy = frame.ToArray();
        _copies[frameNumber] = copy;
        return copy;
    }
}

/// <summary>A paging-structure leaf the scenario can edit: where it lives and what it translates.</summary>
/// <param name="FirstStage">First-stage (else second-stage) format.</param>
/// <param name="Root">The table root as PASID/context entries point at it (a GPA for a nested first stage).</param>
/// <param name="Slot">Host address of the leaf entry.</param>
/// <param name="Input">Input address the leaf maps, aligned to <paramref name="Size"/>.</param>
/// <param name="Size">Leaf page size.</param>
/// <param name="GpaOutput">The leaf outputs guest-physical addresses (a nested first stage).</param>
internal sealed record Leaf(bool FirstStage, ulong Root, ulong Slot, ulong Input, PageSize Size, bool GpaOutput);

/// <summary>One table edit and the invalidations VT-d Table 28 requires after it (none for not-present → present with CM=0).</summary>
internal sealed record Edit(string Description, IReadOnlyList<InvalidationRequest> Invalidations);

/// <summary>
/// A Linux-style table image (legacy or scalable mode) with a TranslationUnit over it, a working set of requests, and
/// random edits that know the invalidations software must issue after them.
/// </summary>
/// <remarks>
/// Scalable mode: three devices (one behind the upper context table, one with RID_PASID 5 and FPD), sharing a
/// second-stage domain (DID 1) and a first-stage address space (DID 3, PASID 1, as SVA binds one mm to two devices),
/// with first-stage (4- or 5-level), second-stage (3/4/5-level, one with SSADE), nested and pass-through PASIDs. Legacy
/// mode: two devices sharing a domain, one in another domain with FPD, one pass-through. Every table has 4 KiB, 2 MiB
/// and 1 GiB leaves. Outputs encode a generation counter, so a remap always changes the frame.
/// </remarks>
internal sealed class CacheScenario
{
    private const ulong RamBytes = 8 << 20;
    private const ulong NestedDataGpa = 0x20_0000_0000;
    private const ulong NestedDataBytes = 4UL << 30;

    private static readonly ulong[] s_small = [0x10_0000, 0x10_1000, 0x10_2000, 0x1F_F000, 0x345_6000, 0x7FFF_F000];
    private static readonly ulong[] s_medium = [0x4000_0000, 0x4020_0000];
    private static readonly ulong[] s_large = [0x40_0000_0000];

    private readonly List<(ushort Sid, ulong Slot, ulong[] Original)> _contexts = [];
    private readonly List<(ulong Directory, uint Pasid, ulong Table)> _pasidSlots = [];
    private readonly List<(byte Bus, ulong Low, ulong High)> _roots = [];
    private readonly List<PasidTableEntry> _templates = [];
    private readonly List<(ushort Did, ulong Root, int Aw)> _legacyDomains = [];
    private int _generation;

    private CacheScenario(TableBuilder builder, int iotlbEntries)
    {
        Builder = builder;
        Unit = new TranslationUnit(builder.Memory, builder.Profile, new TranslationUnitOptions { IotlbEntries = iotlbEntries });
        Unit.SetRootTable(builder.RootTable, builder.Mode);
        Unit.TranslationEnabled = true;
    }

    public TableBuilder Builder { get; }

    public SparsePhysicalMemory Memory => Builder.Memory;

    public TranslationUnit Unit { get; }

    public bool Scalable => Builder.Mode == RootTableMode.Scalable;

    public List<Leaf> Leaves { get; } = [];

    /// <summary>Requests translated over and over, so the IOTLB hits.</summary>
    public List<DmaRequest> WorkingSet { get; } = [];

    public ReferenceWalker CreateReference(IPhysicalMemory memory) =>
        new(memory, Builder.Profile, Builder.RootTable, Builder.Mode, translationEnabled: true);

    public static CacheScenario Create(Random random)
    {
        var mode = random.Next(10) < 7 ? RootTableMode.Scalable : RootTableMode.Legacy;
        var builder = new TableBuilder(new SparsePhysicalMemory(RamBytes), 0, RamBytes, CapabilityProfile.Default, mode);
        // A tiny IOTLB in some images forces evictions and set conflicts between requesters.
        var scenario = new CacheScenario(builder, random.Next(10) < 3 ? 64 : 4096);
        if (mode == RootTableMode.Scalable)
        {
            scenario.BuildScalable(random);
        }
        else
        {
            scenario.BuildLegacy(random);
        }
        foreach (var (bus, low, high) in scenario.RootEntries())
        {
            scenario._roots.Add((bus, low, high));
        }
        return scenario;
    }

    private IEnumerable<(byte Bus, ulong Low, ulong High)> RootEntries() =>
        _contexts.Select(c => (byte)(c.Sid >> 8)).Distinct()
            .Select(bus => (bus, Memory.Read64(Builder.RootTable + (bus * 16UL)), Memory.Read64(Builder.RootTable + (bus * 16UL) + 8)));

    // -----------------------------------------------------------------------------------------------------------------
    // Construction
    // -----------------------------------------------------------------------------------------------------------------

    private void BuildLegacy(Random random)
    {
        var ((s1, aw1), (s2, aw2)) = TwoSecondStageDomains(random);
        _legacyDomains.Add((1, s1, aw1));
        _legacyDomains.Add((2, s2, aw2));
        AddLegacy(0x0010, ContextEntry.Create(1, aw1, s1));
        AddLegacy(0x0018, ContextEntry.Create(1, aw1, s1));
        AddLegacy(0x0385, ContextEntry.Create(2, aw2, s2, faultProcessingDisable: true));
        AddLegacy(0x0308, ContextEntry.Create(7, Builder.Profile.LargestAddressWidth, 0, TranslationType.PassThrough));
        foreach (var sid in new ushort[] { 0x0010, 0x0018, 0x0385, 0x0308 })
        {
            var own = sid == 0x0385 ? s2 : s1;
            for (var i = 0; i < 10; i++)
            {
                AddRequest(random, sid, DmaRequest.NoPasid, own);
            }
        }
    }

    /// <summary>Two second-stage domains with random widths and mappings: what both modes start from.</summary>
    private ((ulong Root, int Aw) First, (ulong Root, int Aw) Second) TwoSecondStageDomains(Random random)
    {
        var aw1 = random.Next(1, 4);
        var aw2 = random.Next(1, 4);
        var s1 = Builder.NewFrame();
        var s2 = Builder.NewFrame();
        MapSecondStageSet(random, s1, aw1 + 2);
        MapSecondStageSet(random, s2, aw2 + 2);
        return ((s1, aw1), (s2, aw2));
    }

    private void AddLegacy(ushort sid, ContextEntry entry)
    {
        Builder.SetLegacyContext(sid, entry);
        var slot = Builder.LegacyContextTable((byte)(sid >> 8)) + ((ulong)(byte)sid * ContextEntry.Size);
        _contexts.Add((sid, slot, [entry.Low, entry.High]));
    }

    private void BuildScalable(Random random)
    {
        var ((s1, aw1), (s2, aw2)) = TwoSecondStageDomains(random);
        var mode1 = random.Next(2) == 0 ? FirstStagePagingMode.FourLevel : FirstStagePagingMode.FiveLevel;
        var f1 = Builder.NewFrame();
        var f2 = Builder.NewFrame();
        MapFirstStageSet(random, f1, mode1 == FirstStagePagingMode.FiveLevel ? 5 : 4, guest: null);
        MapFirstStageSet(random, f2, 4, guest: null);

        const ushort a = 0x0010, b = 0x0018, c = 0x0385;
        var dirA = AddScalable(a, ridPasid: 0, fpd: false);
        var dirB = AddScalable(b, ridPasid: 0, fpd: false);
        var dirC = AddScalable(c, ridPasid: 5, fpd: true);

        var ss1 = PasidTableEntry.SecondStage(1, s1, aw1);
        var ss1Ad = PasidTableEntry.SecondStage(1, s1, aw1, accessedDirty: true);
        var ss2 = PasidTableEntry.SecondStage(2, s2, aw2);
        var fs1 = PasidTableEntry.FirstStage(3, f1, mode1);
        var fs2 = PasidTableEntry.FirstStage(6, f2, supervisorRequests: true, writeProtect: true);
        var pt = PasidTableEntry.PassThroughTranslation(5);

        // Nested: the guest's first stage lives in GPA space mapped by a host second stage that also maps the data GPAs.
        var awN = random.Next(1, 4);
        var (guest, fsRoot) = Builder.SetupNested(dirA, 2, 4, awN);
        for (var gpa = NestedDataGpa; gpa < NestedDataGpa + NestedDataBytes; gpa += 1UL << 30)
        {
            AddSecondStageLeaf(guest.SecondStageRoot, guest.SecondStageLevels, gpa, PageSize.Size1G, NextOutput(PageSize.Size1G, false),
                readable: true, writable: random.Next(5) != 0);
        }
        MapFirstStageSet(random, fsRoot, 4, guest);
        PasidTableEntry.TryRead(Memory, Builder.PasidTable(dirA, 2), 2, out var nested);

        SetPasid(dirA, 0, ss1);
        SetPasid(dirA, 1, fs1);
        _pasidSlots.Add((dirA, 2, Builder.PasidTable(dirA, 2)));
        SetPasid(dirA, 3, pt);
        SetPasid(dirA, 4, ss1Ad);
        SetPasid(dirB, 0, ss1);
        SetPasid(dirB, 1, fs1);
        SetPasid(dirB, 7, fs2);
        SetPasid(dirC, 0, ss2);
        SetPasid(dirC, 5, fs2);
        SetPasid(dirC, 6, ss2);
        _templates.AddRange([ss1, ss1Ad, ss2, fs1, fs2, pt, nested]);

        // (device, PASID of the request, the table its addresses come from); PT PASIDs borrow any table's addresses.
        (ushort Sid, uint Pasid, ulong Table)[] users =
        [
            (a, DmaRequest.NoPasid, s1), (a, 1, f1), (a, 2, fsRoot), (a, 3, s2), (a, 4, s1),
            (b, DmaRequest.NoPasid, s1), (b, 1, f1), (b, 7, f2),
            (c, DmaRequest.NoPasid, f2), (c, 6, s2), (c, 0, s2),
        ];
        for (var i = 0; i < 44; i++)
        {
            var (sid, pasid, table) = users[random.Next(users.Length)];
            AddRequest(random, sid, pasid, table);
        }
    }

    private ulong AddScalable(ushort sid, uint ridPasid, bool fpd)
    {
        var directory = Builder.AttachScalable(sid, ridPasid: ridPasid, faultProcessingDisable: fpd);
        ScalableModeContextEntry.TryRead(Memory, Builder.ScalableContextTable(sid), (byte)sid, out var entry);
        var slot = Builder.ScalableContextTable(sid) + ((ulong)(sid & 0x7F) * ScalableModeContextEntry.Size);
        _contexts.Add((sid, slot, [entry.Q0, entry.Q1, entry.Q2, entry.Q3]));
        return directory;
    }

    private void SetPasid(ulong directory, uint pasid, PasidTableEntry entry)
    {
        Builder.SetPasidEntry(directory, pasid, entry);
        _pasidSlots.Add((directory, pasid, Builder.PasidTable(directory, pasid)));
    }

    private void MapSecondStageSet(Random random, ulong root, int levels)
    {
        foreach (var (input, size) in Inputs())
        {
            AddSecondStageLeaf(root, levels, input, size, NextOutput(size, false), true, random.Next(5) != 0);
        }
    }

    private void AddSecondStageLeaf(ulong root, int levels, ulong input, PageSize size, ulong output, bool readable, bool writable)
    {
        Builder.MapSecondStage(root, levels, input, output, size, readable, writable);
        Leaves.Add(new Leaf(false, root, Builder.LeafSlot(root, levels, input, size), input, size, GpaOutput: false));
    }

    private void MapFirstStageSet(Random random, ulong root, int levels, GuestTables? guest)
    {
        foreach (var (input, size) in Inputs())
        {
            Builder.MapFirstStage(root, levels, input, NextOutput(size, guest is not null), size, random.Next(5) != 0,
                random.Next(10) != 0, guest);
            Leaves.Add(new Leaf(true, root, Builder.LeafSlot(root, levels, input, size, guest), input, size, guest is not null));
        }
    }

    private static IEnumerable<(ulong Input, PageSize Size)> Inputs() =>
        s_small.Select(a => (a, PageSize.Size4K))
            .Concat(s_medium.Select(a => (a, PageSize.Size2M)))
            .Concat(s_large.Select(a => (a, PageSize.Size1G)));

    /// <summary>A fresh output of <paramref name="size"/>: host frames never repeat; nested GPAs stay in the mapped window.</summary>
    private ulong NextOutput(PageSize size, bool gpa)
    {
        var generation = (ulong)++_generation;
        if (gpa)
        {
            return NestedDataGpa + ((generation * size.Bytes()) & (NestedDataBytes - 1));
        }
        return size switch
        {
            PageSize.Size4K => 0x2_0000_0000 + (generation << 12),
            PageSize.Size2M => 0x100_0000_0000 + (generation << 21),
            _ => 0x1000_0000_0000 + (generation << 30),
        };
    }

    private void AddRequest(Random random, ushort sid, uint pasid, ulong table)
    {
        var roll = random.Next(20);
        var candidates = roll < 18 ? Leaves.Where(l => l.Root == table).ToList() : Leaves;
        ulong address;
        if (roll == 19 || candidates.Count == 0)
        {
            address = (ulong)random.Next(1 << 20) << 12;
        }
        else
        {
            var leaf = candidates[random.Next(candidates.Count)];
            var pages = (int)Math.Min(4, leaf.Size.Bytes() >> 12);
            address = leaf.Input + ((ulong)random.Next(pages) << 12) + ((ulong)random.Next(512) * 8);
        }
        var access = random.Next(10) switch
        {
            < 7 => AccessKind.Read,
            < 9 => AccessKind.Write,
            _ => AccessKind.Atomic,
        };
        var privileged = pasid != DmaRequest.NoPasid && random.Next(16) == 0;
        WorkingSet.Add(new DmaRequest(sid, address, access, pasid, privileged));
    }

    // -----------------------------------------------------------------------------------------------------------------
    // Edits
    // -----------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// A random edit. <paramref name="allowDirectorySwitch"/> admits scalable context edits that repoint the PASID
    /// directory: without invalidation, hardware may then legitimately combine the new context with PASID-cache entries
    /// of the old directory, a result that is neither the old image's nor the new one's.
    /// </summary>
    public Edit RandomEdit(Random random, bool allowDirectorySwitch) => random.Next(100) switch
    {
        < 55 => EditLeaf(random),
        < 75 when Scalable => EditPasidEntry(random),
        < 92 => EditContext(random, allowDirectorySwitch),
        _ => EditRoot(random),
    };

    private Edit EditLeaf(Random random)
    {
        var leaf = Leaves[random.Next(Leaves.Count)];
        var old = Memory.Read64(leaf.Slot);
        var present = leaf.FirstStage ? (old & 1) != 0 : (old & 3) != 0;
        var where = $"{(leaf.FirstStage ? "FS" : "SS")} {leaf.Size} leaf 0x{leaf.Input:x} of root 0x{leaf.Root:x}";
        // FS leaf: bit 1 R/W, bit 2 U/S. SS leaf: bit 0 R, bit 1 W.
        var first = (old & 2) != 0;
        var second = leaf.FirstStage ? (old & 4) != 0 : (old & 1) != 0;
        if (!present)
        {
            // Not present → present needs no invalidation with CM=0: nothing that faulted was cached.
            Memory.Write64(leaf.Slot, LeafValue(leaf, NextOutput(leaf.Size, leaf.GpaOutput), true, true));
            return new Edit($"restore {where}", []);
        }
        string what;
        switch (random.Next(3))
        {
            case 0:
                Memory.Write64(leaf.Slot, LeafValue(leaf, NextOutput(leaf.Size, leaf.GpaOutput), first, second));
                what = "remap";
                break;
            case 1:
                bool w, other;
                do
                {
                    w = random.Next(2) == 0;
                    other = leaf.FirstStage ? random.Next(2) == 0 : true;
                }
                while (w == first && other == second);
                Memory.Write64(leaf.Slot, LeafValue(leaf, old & ((1UL << 52) - 1) & ~leaf.Size.OffsetMask(), w, other));
                what = $"rights W={w} {(leaf.FirstStage ? "U" : "R")}={other}";
                break;
            default:
                Memory.Write64(leaf.Slot, 0);
                what = "clear";
                break;
        }
        return new Edit($"{what} {where}", LeafInvalidations(leaf));
    }

    private static ulong LeafValue(Leaf leaf, ulong output, bool writable, bool userOrReadable) => leaf.FirstStage
        ? FirstStageEntry.Leaf(output, leaf.Size, writable, userOrReadable).Value
        : SecondStageEntry.Leaf(output, leaf.Size, userOrReadable, writable).Value;

    /// <summary>Table 28: first-stage PTE → page-selective P_IOTLB per (DID, PASID) using the table; second-stage PTE →
    /// page-selective IOTLB per DID; AM covers the leaf's page size.</summary>
    private List<InvalidationRequest> LeafInvalidations(Leaf leaf)
    {
        var am = leaf.Size switch
        {
            PageSize.Size4K => 0,
            PageSize.Size2M => 9,
            _ => 18,
        };
        var requests = new List<InvalidationRequest>();
        if (!Scalable)
        {
            foreach (var (_, slot, _) in _contexts)
            {
                var context = new ContextEntry(Memory.Read64(slot), Memory.Read64(slot + 8));
                if (context.Present && context.TranslationType != TranslationType.PassThrough && context.SecondStagePointer == leaf.Root)
                {
                    requests.Add(InvalidationRequest.IotlbPage(context.DomainId, leaf.Input, am));
                }
            }
            return requests;
        }
        foreach (var (pasid, entry) in PasidEntries())
        {
            if (!entry.Present)
            {
                continue;
            }
            if (leaf.FirstStage && entry.UsesFirstStage && entry.FirstStagePointer == leaf.Root)
            {
                requests.Add(InvalidationRequest.PasidIotlbPage(entry.DomainId, pasid, leaf.Input, am));
            }
            else if (!leaf.FirstStage && entry.UsesSecondStage && entry.SecondStagePointer == leaf.Root)
            {
                requests.Add(InvalidationRequest.IotlbPage(entry.DomainId, leaf.Input, am));
            }
        }
        return requests.Distinct().ToList();
    }

    private IEnumerable<(uint Pasid, PasidTableEntry Entry)> PasidEntries(ulong? directory = null)
    {
        foreach (var (dir, pasid, table) in _pasidSlots)
        {
            if (directory is null || directory == dir)
            {
                PasidTableEntry.TryRead(Memory, table, pasid, out var entry);
                yield return (pasid, entry);
            }
        }
    }

    private Edit EditPasidEntry(Random random)
    {
        var (directory, pasid, table) = _pasidSlots[random.Next(_pasidSlots.Count)];
        PasidTableEntry.TryRead(Memory, table, pasid, out var old);
        var where = $"PASID entry dir 0x{directory:x} pasid {pasid}";
        if (old.Present && random.Next(4) == 0)
        {
            PasidTableEntry.Clear(Memory, table, pasid);
            return new Edit($"clear {where}", PasidEntryInvalidations(old, pasid));
        }
        var entry = _templates[random.Next(_templates.Count)];
        if (random.Next(10) < 3)
        {
            entry = entry with { Q1 = (entry.Q1 & ~0xFFFFUL) | (uint)random.Next(1, 10) };
        }
        if (random.Next(6) == 0)
        {
            entry = entry with { Q0 = entry.Q0 ^ 2 };
        }
        entry.Write(Memory, table, pasid);
        var description = $"{where}: PGTT {old.TranslationType} DID {old.DomainId} → PGTT {entry.TranslationType} DID {entry.DomainId} FPD {entry.FaultProcessingDisable} SSPTPTR 0x{entry.SecondStagePointer:x} FSPTPTR 0x{entry.FirstStagePointer:x}";
        return new Edit(description, old.Present ? PasidEntryInvalidations(old, pasid) : []);
    }

    /// <summary>Table 28: PASID-selective PASID cache, then domain-selective IOTLB for SS/nested or PASID-selective P_IOTLB otherwise.</summary>
    private static List<InvalidationRequest> PasidEntryInvalidations(PasidTableEntry old, uint pasid) =>
    [
        InvalidationRequest.PasidCachePasid(old.DomainId, pasid),
        old.UsesSecondStage ? InvalidationRequest.IotlbDomain(old.DomainId) : InvalidationRequest.PasidIotlb(old.DomainId, pasid),
    ];

    private Edit EditContext(Random random, bool allowDirectorySwitch)
    {
        var cleared = _contexts.FindIndex(c => (Memory.Read64(c.Slot) & 1) == 0);
        var index = cleared >= 0 && random.Next(2) == 0 ? cleared : random.Next(_contexts.Count);
        var (sid, slot, original) = _contexts[index];
        var where = $"context {sid:x4}";
        if (!Scalable)
        {
            var old = new ContextEntry(Memory.Read64(slot), Memory.Read64(slot + 8));
            if (!old.Present)
            {
                Write(slot, original);
                return new Edit($"restore {where}", []);
            }
            ContextEntry entry;
            string what;
            switch (random.Next(4))
            {
                case 0:
                    entry = default;
                    what = "clear";
                    break;
                case 1:
                    entry = ContextEntry.Create(7, Builder.Profile.LargestAddressWidth, 0, TranslationType.PassThrough);
                    what = "pass-through";
                    break;
                case 2:
                    entry = old with { Low = old.Low ^ 2 };
                    what = "toggle FPD";
                    break;
                default:
                    var (did, root, aw) = _legacyDomains[random.Next(_legacyDomains.Count)];
                    entry = ContextEntry.Create(did, aw, root, faultProcessingDisable: old.FaultProcessingDisable);
                    what = $"move to DID {did}";
                    break;
            }
            Write(slot, [entry.Low, entry.High]);
            // Legacy: device-selective context cache, then domain-selective IOTLB for the old DID.
            return new Edit($"{what} {where} (was DID {old.DomainId})",
                [InvalidationRequest.ContextCacheDevice(old.DomainId, sid), InvalidationRequest.IotlbDomain(old.DomainId)]);
        }

        var current = new ScalableModeContextEntry(Memory.Read64(slot), Memory.Read64(slot + 8), Memory.Read64(slot + 16),
            Memory.Read64(slot + 24));
        if (!current.Present)
        {
            Write(slot, original);
            return new Edit($"restore {where}", []);
        }
        ScalableModeContextEntry next;
        string change;
        switch (random.Next(allowDirectorySwitch ? 5 : 4))
        {
            case 0:
                next = default;
                change = "clear";
                break;
            case 1:
                next = current with { Q0 = current.Q0 ^ 8 };
                change = "toggle PASIDE";
                break;
            case 2:
                next = current with { Q0 = current.Q0 ^ 2 };
                change = "toggle FPD";
                break;
            case 3:
                var ridPasid = (uint)random.Next(8);
                next = current with { Q1 = (current.Q1 & ~0xFFFFFUL) | ridPasid };
                change = $"RID_PASID {current.RidPasid} → {ridPasid}";
                break;
            default:
                var other = _contexts[random.Next(_contexts.Count)].Original;
                next = current with { Q0 = (current.Q0 & 0xFFF) | (other[0] & ~0xFFFUL) };
                change = $"PASID directory 0x{current.PasidDirectoryPointer:x} → 0x{other[0] & ~0xFFFUL:x}";
                break;
        }
        Write(slot, [next.Q0, next.Q1, next.Q2, next.Q3]);
        // Table 28: device-selective context cache, domain-selective PASID cache and IOTLB for every DID under it.
        var dids = PasidEntries(current.PasidDirectoryPointer).Where(e => e.Entry.Present).Select(e => e.Entry.DomainId)
            .Distinct().ToList();
        var invalidations = new List<InvalidationRequest> { InvalidationRequest.ContextCacheDevice(0, sid) };
        invalidations.AddRange(dids.Select(InvalidationRequest.PasidCacheDomain));
        invalidations.AddRange(dids.Select(InvalidationRequest.IotlbDomain));
        return new Edit($"{change} {where}", invalidations);
    }

    private Edit EditRoot(Random random)
    {
        // A cleared root entry takes a whole bus of devices out of the working set: restore it at the next chance.
        var cleared = _roots.FindIndex(r => Memory.Read64(Builder.RootTable + (r.Bus * 16UL)) == 0);
        var (bus, low, high) = _roots[cleared >= 0 ? cleared : random.Next(_roots.Count)];
        var slot = Builder.RootTable + (bus * 16UL);
        if (Memory.Read64(slot) == 0 && Memory.Read64(slot + 8) == 0)
        {
            Write(slot, [low, high]);
            return new Edit($"restore root entry {bus:x2}", []);
        }
        Write(slot, [0, 0]);
        // Table 28: root entry → global context cache, global PASID cache, global IOTLB.
        List<InvalidationRequest> invalidations = Scalable
            ? [InvalidationRequest.ContextCacheGlobal(), InvalidationRequest.PasidCacheGlobal(), InvalidationRequest.IotlbGlobal()]
            : [InvalidationRequest.ContextCacheGlobal(), InvalidationRequest.IotlbGlobal()];
        return new Edit($"clear root entry {bus:x2}", invalidations);
    }

    private void Write(ulong address, ulong[] qwords)
    {
        // Highest qword first, so the present bit in qword 0 lands last, as drivers do.
        for (var i = qwords.Length - 1; i >= 0; i--)
        {
            Memory.Write64(address + (ulong)(i * 8), qwords[i]);
        }
    }
}
