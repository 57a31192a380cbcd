using VtdEngine.Tables;

namespace VtdEngine.Tests.Reference;

/// <summary>
/// First-stage tables that live in guest-physical memory (nested translation): each table frame at host address H is
/// seen by the guest at GPA H + <see cref="GpaOffset"/>, and the second stage at <see cref="SecondStageRoot"/> maps it.
/// </summary>
public sealed record GuestTables(ulong SecondStageRoot, int SecondStageLevels, ulong GpaOffset);

/// <summary>
/// Builds remapping structures the way the Linux intel-iommu driver programs them, with the Tables builders: a root
/// table, legacy or scalable-mode context entries (scalable: PASID directory and 64-entry PASID tables behind them),
/// and second-/first-stage page tables with 4K/2M/1G mappings.
/// </summary>
public sealed class TableBuilder
{
    private readonly List<ulong> _frames = [];

    /// <summary>Creates a builder with <paramref name="ramBytes"/> of RAM at 0; tables come from that RAM.</summary>
    public TableBuilder(CapabilityProfile? profile = null, RootTableMode mode = RootTableMode.Scalable, ulong ramBytes = 8 << 20)
        : this(new SparsePhysicalMemory(ramBytes), 0, ramBytes, profile, mode)
    {
    }

    /// <summary>Creates a builder over <paramref name="memory"/> allocating tables from [tableBase, tableBase + tableBytes).</summary>
    public TableBuilder(SparsePhysicalMemory memory, ulong tableBase, ulong tableBytes, CapabilityProfile? profile,
        RootTableMode mode)
    {
        Memory = memory;
        Profile = profile ?? CapabilityProfile.Default;
        Mode = mode;
        Allocator = new FrameAllocator(memory, tableBase, tableBytes);
        RootTable = NewFrame();
    }

    /// <summary>The memory the tables are written to.</summary>
    public SparsePhysicalMemory Memory { get; }

    /// <summary>The unit's capabilities (for the AW encodings and similar).</summary>
    public CapabilityProfile Profile { get; }

    /// <summary>Root-table mode the structures are laid out for.</summary>
    public RootTableMode Mode { get; }

    /// <summary>Where the frames come from.</summary>
    public FrameAllocator Allocator { get; }

    /// <summary>Host address of the root table.</summary>
    public ulong RootTable { get; }

    /// <summary>Every frame handed out so far, in order.</summary>
    public IReadOnlyList<ulong> Frames => _frames;

    /// <summary>A zeroed 4 KiB frame.</summary>
    public ulong NewFrame()
    {
        var frame = Allocator.Allocate();
        _frames.Add(frame);
        return frame;
    }

    /// <summary>A translation unit over this memory with the root table latched and translation enabled.</summary>
    public TranslationUnit CreateUnit()
    {
        var unit = new TranslationUnit(Memory, Profile);
        unit.SetRootTable(RootTable, Mode);
        unit.TranslationEnabled = true;
        return unit;
    }

    /// <summary>A reference walker over <paramref name="memory"/> (default: this memory) configured like <see cref="CreateUnit"/>.</summary>
    public ReferenceWalker CreateReference(IPhysicalMemory? memory = null) =>
        new(memory ?? Memory, Profile, RootTable, Mode, translationEnabled: true);

    // ---------------------------------------------------------------------------------------------------------------
    // Legacy mode
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>The legacy context table of <paramref name="bus"/>, created (and the root entry written) on first use.</summary>
    public ulong LegacyContextTable(byte bus)
    {
        var root = RootEntry.TryRead(Memory, RootTable, bus, out var entry) && entry.Present ? entry : default;
        if (root.Present)
        {
            return root.ContextTablePointer;
        }
        var table = NewFrame();
        RootEntry.Create(table).Write(Memory, RootTable, bus);
        return table;
    }

    /// <summary>Writes a legacy context entry for <paramref name="sourceId"/>.</summary>
    public void SetLegacyContext(ushort sourceId, ContextEntry entry) =>
        entry.Write(Memory, LegacyContextTable((byte)(sourceId >> 8)), (byte)sourceId);

    /// <summary>
    /// Attaches a device in legacy mode as <c>domain_context_mapping_one</c> does: a fresh second-stage root for
    /// <paramref name="addressWidth"/> (none for pass-through, whose AW is the largest supported). Returns the root.
    /// </summary>
    public ulong AttachLegacy(ushort sourceId, ushort domainId, int addressWidth = 2,
        TranslationType type = TranslationType.Untranslated, bool faultProcessingDisable = false)
    {
        var root = type == TranslationType.PassThrough ? 0 : NewFrame();
        var aw = type == TranslationType.PassThrough ? Profile.LargestAddressWidth : addressWidth;
        SetLegacyContext(sourceId, ContextEntry.Create(domainId, aw, root, type, faultProcessingDisable));
        return root;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Scalable mode
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>The scalable-mode context table serving <paramref name="sourceId"/>, created on first use.</summary>
    public ulong ScalableContextTable(ushort sourceId)
    {
        var bus = (byte)(sourceId >> 8);
        var devfn = (byte)sourceId;
        ScalableModeRootEntry.TryRead(Memory, RootTable, bus, out var entry);
        if (entry.IsPresentFor(devfn))
        {
            return entry.ContextTableFor(devfn);
        }
        var table = NewFrame();
        var lower = devfn < 128 ? table : entry.LowerPresent ? entry.LowerContextTablePointer : 0;
        var upper = devfn >= 128 ? table : entry.UpperPresent ? entry.UpperContextTablePointer : 0;
        ScalableModeRootEntry.Create(lower, upper).Write(Memory, RootTable, bus);
        return table;
    }

    /// <summary>Writes a scalable-mode context entry for <paramref name="sourceId"/>.</summary>
    public void SetScalableContext(ushort sourceId, ScalableModeContextEntry entry) =>
        entry.Write(Memory, ScalableContextTable(sourceId), (byte)sourceId);

    /// <summary>
    /// Attaches a device in scalable mode as <c>intel_pasid_setup_sm_context</c> does: a PASID directory sized by
    /// <paramref name="pasidDirectorySize"/> (PDTS; 2^(PDTS+7) entries), RID_PASID and the enables. Returns the directory.
    /// </summary>
    public ulong AttachScalable(ushort sourceId, int pasidDirectorySize = 0, uint ridPasid = 0, bool pasidEnable = true,
        bool deviceTlbEnable = false, bool ridPriv = false, bool faultProcessingDisable = false)
    {
        // A directory of 2^(PDTS+7) 8-byte entries: one frame up to PDTS 2, then 2^(PDTS-2) contiguous frames.
        var frames = 1 << Math.Max(0, pasidDirectorySize - 2);
        var directory = NewFrame();
        for (var i = 1; i < frames; i++)
        {
            NewFrame();
        }
        SetScalableContext(sourceId, ScalableModeContextEntry.Create(directory, pasidDirectorySize, pasidEnable,
            deviceTlbEnable, ridPasid: ridPasid, ridPriv: ridPriv, faultProcessingDisable: faultProcessingDisable));
        return directory;
    }

    /// <summary>The PASID table holding <paramref name="pasid"/>, created (with its directory entry) on first use.</summary>
    public ulong PasidTable(ulong pasidDirectory, uint pasid, bool faultProcessingDisable = false)
    {
        PasidDirectoryEntry.TryRead(Memory, pasidDirectory, pasid, out var entry);
        if (entry.Present)
        {
            return entry.PasidTablePointer;
        }
        var table = NewFrame();
        PasidDirectoryEntry.Create(table, faultProcessingDisable).Write(Memory, pasidDirectory, pasid);
        return table;
    }

    /// <summary>Writes the PASID table entry of <paramref name="pasid"/> under <paramref name="pasidDirectory"/>.</summary>
    public void SetPasidEntry(ulong pasidDirectory, uint pasid, PasidTableEntry entry) =>
        entry.Write(Memory, PasidTable(pasidDirectory, pasid), pasid);

    /// <summary><c>intel_pasid_setup_first_level</c>: a fresh first-stage root; returns it.</summary>
    public ulong SetupFirstStage(ulong pasidDirectory, uint pasid, ushort domainId,
        FirstStagePagingMode mode = FirstStagePagingMode.FourLevel, bool supervisorRequests = false, bool writeProtect = false,
        bool extendedAccessed = false)
    {
        var root = NewFrame();
        SetPasidEntry(pasidDirectory, pasid, PasidTableEntry.FirstStage(domainId, root, mode, supervisorRequests,
            writeProtect, extendedAccessed));
        return root;
    }

    /// <summary><c>intel_pasid_setup_second_level</c>: a fresh second-stage root; returns it.</summary>
    public ulong SetupSecondStage(ulong pasidDirectory, uint pasid, ushort domainId, int addressWidth = 2,
        bool accessedDirty = false)
    {
        var root = NewFrame();
        SetPasidEntry(pasidDirectory, pasid, PasidTableEntry.SecondStage(domainId, root, addressWidth, accessedDirty));
        return root;
    }

    /// <summary><c>intel_pasid_setup_pass_through</c>.</summary>
    public void SetupPassThrough(ulong pasidDirectory, uint pasid, ushort domainId) =>
        SetPasidEntry(pasidDirectory, pasid, PasidTableEntry.PassThroughTranslation(domainId));

    /// <summary>
    /// <c>intel_pasid_setup_nested</c>: a host second stage plus a guest first-stage root in guest memory (GPA =
    /// HPA + <paramref name="gpaOffset"/>). Returns the guest tables and the first-stage root GPA.
    /// </summary>
    public (GuestTables Guest, ulong FirstStageRootGpa) SetupNested(ulong pasidDirectory, uint pasid, ushort domainId,
        int addressWidth = 2, ulong gpaOffset = 0x4000_0000, FirstStagePagingMode mode = FirstStagePagingMode.FourLevel,
        bool supervisorRequests = false, bool writeProtect = false, bool extendedAccessed = false, bool accessedDirty = false)
    {
        var guest = new GuestTables(NewFrame(), addressWidth + 2, gpaOffset);
        var fsRoot = NewFirstStageTable(guest);
        SetPasidEntry(pasidDirectory, pasid, PasidTableEntry.NestedTranslation(domainId, fsRoot, guest.SecondStageRoot,
            addressWidth, mode, supervisorRequests, writeProtect, extendedAccessed, accessedDirty));
        return (guest, fsRoot);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Page tables
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>Maps <paramref name="iova"/> → <paramref name="hpa"/> with a second-stage leaf of <paramref name="size"/>.</summary>
    public void MapSecondStage(ulong root, int levels, ulong iova, ulong hpa, PageSize size, bool readable = true,
        bool writable = true, bool snoop = false)
    {
        var table = root;
        for (var level = levels; level > (int)size; level--)
        {
            var slot = table + ((ulong)PageTableGeometry.LevelIndex(iova, level) * 8);
            var entry = new SecondStageEntry(Memory.Read64(slot));
            if (!entry.Present)
            {
                var next = NewFrame();
                Memory.Write64(slot, SecondStageEntry.Table(next).Value);
                table = next;
                continue;
            }
            if (entry.IsLeaf(level))
            {
                throw new InvalidOperationException($"0x{iova:x} is already mapped by a level-{level} leaf.");
            }
            table = entry.Value & ~0xFFFUL & ((1UL << 52) - 1);
        }
        var leafSlot = table + ((ulong)PageTableGeometry.LevelIndex(iova, (int)size) * 8);
        Memory.Write64(leafSlot, SecondStageEntry.Leaf(hpa, size, readable, writable, snoop).Value);
    }

    /// <summary>
    /// Maps <paramref name="va"/> → <paramref name="pa"/> with a first-stage leaf of <paramref name="size"/>. With
    /// <paramref name="guest"/>, <paramref name="root"/> and every table pointer are GPAs whose frames the builder
    /// also maps in the guest's second stage.
    /// </summary>
    public void MapFirstStage(ulong root, int levels, ulong va, ulong pa, PageSize size, bool writable = true,
        bool user = true, GuestTables? guest = null)
    {
        var table = root;
        for (var level = levels; level > (int)size; level--)
        {
            var slot = HostOf(table, guest) + ((ulong)PageTableGeometry.LevelIndex(va, level) * 8);
            var entry = new FirstStageEntry(Memory.Read64(slot));
            if (!entry.Present)
            {
                var next = NewFirstStageTable(guest);
                Memory.Write64(slot, FirstStageEntry.Table(next).Value);
                table = next;
                continue;
            }
            if (entry.IsLeaf(level))
            {
                throw new InvalidOperationException($"0x{va:x} is already mapped by a level-{level} leaf.");
            }
            table = entry.Value & ~0xFFFUL & ((1UL << 52) - 1);
        }
        var leafSlot = HostOf(table, guest) + ((ulong)PageTableGeometry.LevelIndex(va, (int)size) * 8);
        Memory.Write64(leafSlot, FirstStageEntry.Leaf(pa, size, writable, user).Value);
    }

    /// <summary>
    /// Host address of the <paramref name="size"/> leaf entry that maps <paramref name="input"/> in the
    /// <paramref name="levels"/>-level table at <paramref name="root"/> (first- or second-stage: both keep the next
    /// table in bits 51:12). With <paramref name="guest"/>, <paramref name="root"/> and the table pointers are GPAs.
    /// </summary>
    public ulong LeafSlot(ulong root, int levels, ulong input, PageSize size, GuestTables? guest = null)
    {
        var table = root;
        for (var level = levels; level > (int)size; level--)
        {
            var host = HostOf(table, guest);
            table = Memory.Read64(host + ((ulong)PageTableGeometry.LevelIndex(input, level) * 8)) & ~0xFFFUL & ((1UL << 52) - 1);
        }
        return HostOf(table, guest) + ((ulong)PageTableGeometry.LevelIndex(input, (int)size) * 8);
    }

    /// <summary>A zeroed first-stage table: its host address, or with <paramref name="guest"/> its (mapped) GPA.</summary>
    public ulong NewFirstStageTable(GuestTables? guest)
    {
        var frame = NewFrame();
        if (guest is null)
        {
            return frame;
        }
        var gpa = frame + guest.GpaOffset;
        MapSecondStage(guest.SecondStageRoot, guest.SecondStageLevels, gpa, frame, PageSize.Size4K);
        return gpa;
    }

    private static ulong HostOf(ulong table, GuestTables? guest) => guest is null ? table : table - guest.GpaOffset;
}
