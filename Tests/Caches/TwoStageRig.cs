using VtdEngine.Tables;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Tests.Caches;

/// <summary>
/// One device, <see cref="Sid"/>: in scalable mode RID_PASID 0 second-stage (DID 1) and PASID 1 first-stage (DID 3),
/// in legacy mode the second stage alone, 4-level tables each. Both stages map <see cref="FixedPages"/> 4 KiB pages at
/// <see cref="FixedIova"/> to <see cref="FixedBase"/> and the hot page <see cref="HotIova"/> to
/// <see cref="GenerationBase"/>; tests add their own mappings with <see cref="Map"/> and edit them with
/// <see cref="Remap"/>.
/// </summary>
internal sealed class TwoStageRig
{
    public const ushort Sid = 0x0010;
    public const ushort SecondStageDid = 1;
    public const ushort FirstStageDid = 3;
    public const uint FirstStagePasid = 1;
    public const ulong HotIova = 0x20_0000;
    public const ulong FixedIova = 0x10_0000;
    public const ulong FixedBase = 0x4_0000_0000;
    public const int FixedPages = 8;
    public const ulong GenerationBase = 0x2_0000_0000;
    private const int Levels = 4;

    /// <summary>A rig on a fresh 8 MiB memory.</summary>
    public TwoStageRig(RootTableMode mode = RootTableMode.Scalable, bool deviceTlb = false)
        : this(new TableBuilder(mode: mode), deviceTlb)
    {
    }

    /// <summary>A rig whose structures <paramref name="builder"/> writes (several rigs can share one memory).</summary>
    /// <param name="builder">Where the tables go, and in which mode.</param>
    /// <param name="deviceTlb">The scalable-mode context entry allows ATS (DTE=1).</param>
    public TwoStageRig(TableBuilder builder, bool deviceTlb = false)
    {
        Builder = builder;
        SecondStageRoot = Builder.NewFrame();
        FirstStageRoot = Builder.NewFrame();
        if (builder.Mode == RootTableMode.Scalable)
        {
            Directory = Builder.AttachScalable(Sid, deviceTlbEnable: deviceTlb);
            Builder.SetPasidEntry(Directory, 0, PasidTableEntry.SecondStage(SecondStageDid, SecondStageRoot, 2));
            Builder.SetPasidEntry(Directory, FirstStagePasid, PasidTableEntry.FirstStage(FirstStageDid, FirstStageRoot));
        }
        else
        {
            Builder.SetLegacyContext(Sid, ContextEntry.Create(SecondStageDid, 2, SecondStageRoot));
        }
        for (var i = 0; i < FixedPages; i++)
        {
            var iova = FixedIova + ((ulong)i << 12);
            Map(firstStage: false, iova, FixedBase + ((ulong)i << 12));
            Map(firstStage: true, iova, FixedBase + ((ulong)i << 12));
        }
        Map(firstStage: false, HotIova, GenerationBase);
        Map(firstStage: true, HotIova, GenerationBase);
        Unit = Builder.CreateUnit();
    }

    public TableBuilder Builder { get; }

    public SparsePhysicalMemory Memory => Builder.Memory;

    public TranslationUnit Unit { get; }

    public ulong SecondStageRoot { get; }

    public ulong FirstStageRoot { get; }

    /// <summary>The device's PASID directory (scalable mode), for tests that add PASIDs of their own.</summary>
    public ulong Directory { get; }

    /// <summary>The PASID of the stage's requests: PASID 1 for the first stage, none (RID_PASID 0) for the second.</summary>
    public static uint Pasid(bool firstStage) => firstStage ? FirstStagePasid : DmaRequest.NoPasid;

    /// <summary>The DID the stage's translations carry.</summary>
    public static ushort Did(bool firstStage) => firstStage ? FirstStageDid : SecondStageDid;

    /// <summary>A request of the stage's requester (user-mode: no PR), untranslated unless said otherwise.</summary>
    public static DmaRequest Request(bool firstStage, ulong address, AccessKind access = AccessKind.Read,
        AddressType addressType = AddressType.Untranslated) =>
        new(Sid, address, access, Pasid(firstStage), addressType: addressType);

    /// <summary>VT-d Table 28 after a leaf edit: page-selective P_IOTLB for the first stage, IOTLB for the second.</summary>
    public static InvalidationRequest PageInvalidation(bool firstStage, ulong iova, int addressMask = 0) => firstStage
        ? InvalidationRequest.PasidIotlbPage(FirstStageDid, FirstStagePasid, iova, addressMask)
        : InvalidationRequest.IotlbPage(SecondStageDid, iova, addressMask);

    /// <summary>Maps <paramref name="iova"/> in the stage's table (a new leaf: needs no invalidation).</summary>
    public void Map(bool firstStage, ulong iova, ulong frame, PageSize size = PageSize.Size4K, bool writable = true)
    {
        if (firstStage)
        {
            Builder.MapFirstStage(FirstStageRoot, Levels, iova, frame, size, writable);
        }
        else
        {
            Builder.MapSecondStage(SecondStageRoot, Levels, iova, frame, size, writable: writable);
        }
    }

    /// <summary>Host address of the stage's leaf entry for <paramref name="iova"/>.</summary>
    public ulong Slot(bool firstStage, ulong iova, PageSize size = PageSize.Size4K) =>
        Builder.LeafSlot(firstStage ? FirstStageRoot : SecondStageRoot, Levels, iova, size);

    /// <summary>Rewrites the leaf for <paramref name="iova"/> (A and D clear); the caller issues the invalidation.</summary>
    public void Remap(bool firstStage, ulong iova, ulong frame, PageSize size = PageSize.Size4K, bool writable = true) =>
        Memory.Write64(Slot(firstStage, iova, size), Leaf(firstStage, frame, size, writable));

    /// <summary>A present leaf of the stage's format.</summary>
    public static ulong Leaf(bool firstStage, ulong frame, PageSize size, bool writable) => firstStage
        ? FirstStageEntry.Leaf(frame, size, writable).Value
        : SecondStageEntry.Leaf(frame, size, writable: writable).Value;
}
