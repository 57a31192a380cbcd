using VtdEngine.Fuzzing;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Properties;

/// <summary>
/// Bad table images end in a spec outcome, never an exception or an unbounded walk: page tables that point at
/// themselves (first and second stage, at every level), remapping-structure pointers into unbacked memory, and
/// all-ones entries. Every request runs through <see cref="DifferentialHarness"/>, so the cached walk, the uncached
/// walk and the reference walker must also agree, and table reads stay within <see cref="DifferentialHarness.MaxTableReads"/>.
/// </summary>
[Trait("Category", "Fuzz")]
public class BadInputTests
{
    private static ulong P(int frame) => FuzzImage.Paging(frame);

    private static readonly ushort s_secondStageDevice = FuzzImage.Devices[0]; // scalable: RID_PASID 0 → SS; legacy: SS AW=2
    private static readonly ushort s_firstStageDevice = FuzzImage.Devices[1];  // scalable: RID_PASID 1 → FS 4-level
    private static readonly ushort s_nestedDevice = FuzzImage.Devices[2];      // scalable: RID_PASID 2 → nested

    /// <summary>Translates <paramref name="request"/> over the image twice (a miss, then whatever the caches hold).</summary>
    private static TranslationResult Run(RootTableMode mode, Dictionary<ulong, ulong> qwords, DmaRequest request, int rootVariant = 0)
    {
        var image = FuzzImage.Decode(SeedCorpus.Image(mode, qwords, rootVariant: rootVariant), out _);
        var harness = new DifferentialHarness(image, flushOnSelfModification: true);
        var first = harness.Probe(new FuzzRequest(request, RequestOp.Translate));
        var second = harness.Probe(new FuzzRequest(request, RequestOp.Translate));
        Assert.Equal(2, harness.Compared);
        Assert.Equal(first.Status, second.Status);
        Assert.Equal(first.Fault, second.Fault);
        Assert.InRange(first.TableReads, 0, DifferentialHarness.MaxTableReads);
        return first;
    }

    private static Dictionary<ulong, ulong> Image(RootTableMode mode, bool fiveLevel = false) =>
        mode == RootTableMode.Legacy ? SeedCorpus.LegacyImage() : SeedCorpus.ScalableImage(fiveLevel);

    private static DmaRequest Read(ushort device, ulong address = 0) => new(device, address, AccessKind.Read);

    /// <summary>The SS chain P0 (L4) → P1 (L3) → P2 (L2) → P3 (L1): entry 0 of the level-<paramref name="level"/> table points back at it.</summary>
    [Theory]
    [InlineData(RootTableMode.Scalable, 4)]
    [InlineData(RootTableMode.Scalable, 3)]
    [InlineData(RootTableMode.Scalable, 2)]
    [InlineData(RootTableMode.Scalable, 1)]
    [InlineData(RootTableMode.Legacy, 4)]
    [InlineData(RootTableMode.Legacy, 3)]
    [InlineData(RootTableMode.Legacy, 2)]
    [InlineData(RootTableMode.Legacy, 1)]
    public void SecondStageTableThatPointsAtItselfEndsInABoundedWalk(RootTableMode mode, int level)
    {
        var qwords = Image(mode);
        var table = P(4 - level);
        // At level 1 the self-pointer is a leaf mapping the table's own frame; above it, a table pointer that every lower
        // level re-reads, until level 1 takes it as a leaf.
        qwords[table] = level == 1 ? SecondStageEntry.Leaf(table, PageSize.Size4K).Value : SecondStageEntry.Table(table).Value;
        var result = Run(mode, qwords, Read(s_secondStageDevice, 0x10));
        Assert.Equal(TranslationStatus.Success, result.Status);
        Assert.Equal(table + 0x10, result.Address);
    }

    [Fact]
    public void FiveLevelSecondStageTableThatPointsAtItselfEndsInABoundedWalk()
    {
        var qwords = Image(RootTableMode.Scalable);
        var entry = PasidTableEntry.SecondStage(10, P(11), addressWidth: 3);
        qwords[FuzzImage.PasidTable] = entry.Q0;
        qwords[P(11)] = SecondStageEntry.Table(P(11)).Value;
        var result = Run(RootTableMode.Scalable, qwords, Read(s_secondStageDevice));
        Assert.Equal(TranslationStatus.Success, result.Status);
        Assert.Equal(P(11), result.Address);
    }

    /// <summary>The FS chain P9 (PML5) → P4 (PML4) → P5 (PDPT) → P6 (PD) → P7 (PT): entry 0 of one table points back at it.</summary>
    [Theory]
    [InlineData(5, 9)]
    [InlineData(4, 4)]
    [InlineData(3, 5)]
    [InlineData(2, 6)]
    [InlineData(1, 7)]
    public void FirstStageTableThatPointsAtItselfEndsInABoundedWalk(int level, int frame)
    {
        var qwords = Image(RootTableMode.Scalable, fiveLevel: level == 5);
        var table = P(frame);
        qwords[table] = level == 1 ? FirstStageEntry.Leaf(table, PageSize.Size4K).Value : FirstStageEntry.Table(table).Value;
        var result = Run(RootTableMode.Scalable, qwords, new DmaRequest(s_firstStageDevice, 0x20, AccessKind.Write));
        Assert.Equal(TranslationStatus.Success, result.Status);
        Assert.Equal(table + 0x20, result.Address);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void NestedTablesThatPointAtThemselvesEndInABoundedWalk(int frame)
    {
        // P8 is the nested SS root, P4 the FS root (a GPA the SS maps identically).
        var qwords = Image(RootTableMode.Scalable);
        qwords[P(frame)] = frame == 8 ? SecondStageEntry.Table(P(8)).Value : FirstStageEntry.Table(P(4)).Value;
        var result = Run(RootTableMode.Scalable, qwords, new DmaRequest(s_nestedDevice, 0, AccessKind.Write));
        Assert.NotEqual(TranslationStatus.Interrupt, result.Status);
    }

    [Theory]
    [InlineData(RootTableMode.Legacy, FaultReason.LrtAccessError)]
    [InlineData(RootTableMode.Scalable, FaultReason.SrtAccessError)]
    public void RootTableInUnbackedMemoryFaults(RootTableMode mode, FaultReason expected) =>
        Assert.Equal(expected, Run(mode, Image(mode), Read(s_secondStageDevice), rootVariant: 2).Fault);

    [Fact]
    public void LegacyContextTableInUnbackedMemoryFaults()
    {
        var qwords = Image(RootTableMode.Legacy);
        qwords[FuzzImage.RootTable] = RootEntry.Create(FuzzImage.Unbacked).Low;
        Assert.Equal(FaultReason.LctAccessError, Run(RootTableMode.Legacy, qwords, Read(s_secondStageDevice)).Fault);
    }

    [Fact]
    public void ScalableContextTableInUnbackedMemoryFaults()
    {
        var qwords = Image(RootTableMode.Scalable);
        qwords[FuzzImage.RootTable] = ScalableModeRootEntry.Create(FuzzImage.Unbacked, 0).Low;
        Assert.Equal(FaultReason.SctAccessError, Run(RootTableMode.Scalable, qwords, Read(s_secondStageDevice)).Fault);
    }

    [Fact]
    public void PasidDirectoryInUnbackedMemoryFaults()
    {
        var qwords = Image(RootTableMode.Scalable);
        var context = FuzzImage.ContextEntryAddress(s_secondStageDevice, scalable: true);
        qwords[context] = ScalableModeContextEntry.Create(FuzzImage.Unbacked, 0).Q0;
        Assert.Equal(FaultReason.SpdAccessError, Run(RootTableMode.Scalable, qwords, Read(s_secondStageDevice)).Fault);
    }

    [Fact]
    public void PasidTableInUnbackedMemoryFaults()
    {
        var qwords = Image(RootTableMode.Scalable);
        qwords[FuzzImage.PasidDirectory] = PasidDirectoryEntry.Create(FuzzImage.Unbacked).Value;
        Assert.Equal(FaultReason.SptAccessError, Run(RootTableMode.Scalable, qwords, Read(s_secondStageDevice)).Fault);
    }

    [Theory]
    [InlineData(RootTableMode.Scalable, true, FaultReason.SssRootAccessError)]
    [InlineData(RootTableMode.Scalable, false, FaultReason.SssAccessError)]
    [InlineData(RootTableMode.Legacy, true, FaultReason.LctInvalidProgramming)]
    [InlineData(RootTableMode.Legacy, false, FaultReason.LssAccessError)]
    public void SecondStageTablesInUnbackedMemoryFault(RootTableMode mode, bool root, FaultReason expected)
    {
        var qwords = Image(mode);
        if (root && mode == RootTableMode.Scalable)
        {
            qwords[FuzzImage.PasidTable] = PasidTableEntry.SecondStage(10, FuzzImage.Unbacked, 2).Q0;
        }
        else if (root)
        {
            var context = FuzzImage.ContextEntryAddress(s_secondStageDevice, scalable: false);
            qwords[context] = ContextEntry.Create(1, 2, FuzzImage.Unbacked).Low;
        }
        else
        {
            qwords[P(1)] = SecondStageEntry.Table(FuzzImage.Unbacked).Value;
        }
        Assert.Equal(expected, Run(mode, qwords, Read(s_secondStageDevice)).Fault);
    }

    [Theory]
    [InlineData(true, FaultReason.SfsRootAccessError)]
    [InlineData(false, FaultReason.SfsAccessError)]
    public void FirstStageTablesInUnbackedMemoryFault(bool root, FaultReason expected)
    {
        var qwords = Image(RootTableMode.Scalable);
        if (root)
        {
            qwords[PasidTableEntry.AddressOf(FuzzImage.PasidTable, 1) + 16] =
                PasidTableEntry.FirstStage(11, FuzzImage.Unbacked, supervisorRequests: true, extendedAccessed: true).Q2;
        }
        else
        {
            qwords[P(5)] = FirstStageEntry.Table(FuzzImage.Unbacked).Value;
        }
        Assert.Equal(expected, Run(RootTableMode.Scalable, qwords, Read(s_firstStageDevice)).Fault);
    }

    /// <summary>Every structure on a walk's path, set to all ones in turn.</summary>
    [Theory]
    [InlineData(RootTableMode.Legacy, "root", FaultReason.LrtReserved)]
    [InlineData(RootTableMode.Legacy, "context", FaultReason.LctReserved)]
    [InlineData(RootTableMode.Legacy, "ss", FaultReason.LssReserved)]
    [InlineData(RootTableMode.Scalable, "root", FaultReason.SrtReserved)]
    [InlineData(RootTableMode.Scalable, "context", FaultReason.SctReserved)]
    [InlineData(RootTableMode.Scalable, "directory", FaultReason.SpdReserved)]
    [InlineData(RootTableMode.Scalable, "pasid", FaultReason.SptReserved)]
    [InlineData(RootTableMode.Scalable, "ss", FaultReason.SssReserved)]
    [InlineData(RootTableMode.Scalable, "fs", FaultReason.SfsReserved)]
    public void AllOnesEntriesFaultAsReserved(RootTableMode mode, string structure, FaultReason expected)
    {
        var qwords = Image(mode);
        var scalable = mode == RootTableMode.Scalable;
        var device = structure == "fs" ? s_firstStageDevice : s_secondStageDevice;
        var context = FuzzImage.ContextEntryAddress(device, scalable);
        IEnumerable<ulong> targets = structure switch
        {
            "root" => [FuzzImage.RootTable, FuzzImage.RootTable + 8],
            "context" => scalable ? [context, context + 8, context + 16, context + 24] : [context, context + 8],
            "directory" => [FuzzImage.PasidDirectory],
            "pasid" => Enumerable.Range(0, 8).Select(q => FuzzImage.PasidTable + ((ulong)q * 8)),
            "ss" => [P(1)],
            _ => [P(5)],
        };
        foreach (var address in targets)
        {
            qwords[address] = ulong.MaxValue;
        }
        var result = Run(mode, qwords, Read(device));
        Assert.Equal(TranslationStatus.Fault, result.Status);
        Assert.Equal(expected, result.Fault);
    }
}
