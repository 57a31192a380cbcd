using System.Runtime.CompilerServices;
using VtdEngine.Tables;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Tests.Caches;

/// <summary>
/// Engine-level concurrency stress (style anchor 12) and allocation checks of the translation hot paths.
/// </summary>
/// <remarks>
/// Stated invariant: a writer remaps one IOVA to generation g, issues the Table 28 invalidation and only then publishes
/// g; a reader that read the published g before it started translating never sees a frame of a generation older than
/// g, never a frame the writer did not map, and always rights that belong to the frame it got.
/// </remarks>
[Trait("Category", "Caches")]
[Trait("Category", "Stress")]
public class TranslationStressTests
{
    private const ushort Sid = 0x0010;
    private const ushort SecondStageDid = 1;
    private const ushort FirstStageDid = 3;
    private const uint FirstStagePasid = 1;
    private const ulong HotIova = 0x20_0000;
    private const ulong GenerationBase = 0x2_0000_0000;
    private const ulong FixedBase = 0x4_0000_0000;
    private const int FixedPages = 8;
    private static readonly TimeSpan s_stressTime = TimeSpan.FromSeconds(1);

    /// <summary>One device: RID_PASID 0 second-stage (DID 1, 4 levels) and PASID 1 first-stage (DID 3, 4 levels).</summary>
    private sealed class Rig
    {
        public Rig(RootTableMode mode = RootTableMode.Scalable)
        {
            Builder = new TableBuilder(mode: mode);
            SecondStageRoot = Builder.NewFrame();
            FirstStageRoot = Builder.NewFrame();
            if (mode == RootTableMode.Scalable)
            {
                var directory = Builder.AttachScalable(Sid);
                Builder.SetPasidEntry(directory, 0, PasidTableEntry.SecondStage(SecondStageDid, SecondStageRoot, 2));
                Builder.SetPasidEntry(directory, FirstStagePasid, PasidTableEntry.FirstStage(FirstStageDid, FirstStageRoot));
            }
            else
            {
                Builder.SetLegacyContext(Sid, ContextEntry.Create(SecondStageDid, 2, SecondStageRoot));
            }
            for (var i = 0; i < FixedPages; i++)
            {
                var iova = 0x10_0000 + ((ulong)i << 12);
                Builder.MapSecondStage(SecondStageRoot, 4, iova, FixedBase + ((ulong)i << 12), PageSize.Size4K);
                Builder.MapFirstStage(FirstStageRoot, 4, iova, FixedBase + ((ulong)i << 12), PageSize.Size4K);
            }
            Builder.MapSecondStage(SecondStageRoot, 4, HotIova, GenerationBase, PageSize.Size4K);
            Builder.MapFirstStage(FirstStageRoot, 4, HotIova, GenerationBase, PageSize.Size4K);
            SecondStageSlot = LeafSlot(SecondStageRoot);
            FirstStageSlot = LeafSlot(FirstStageRoot);
            Unit = Builder.CreateUnit();
        }

        public TableBuilder Builder { get; }

        public TranslationUnit Unit { get; }

        public ulong SecondStageRoot { get; }

        public ulong FirstStageRoot { get; }

        public ulong SecondStageSlot { get; }

        public ulong FirstStageSlot { get; }

        private ulong LeafSlot(ulong root)
        {
            var table = root;
            for (var level = 4; level > 1; level--)
            {
                table = Builder.Memory.Read64(table + ((ulong)PageTableGeometry.LevelIndex(HotIova, level) * 8)) & 0x000F_FFFF_FFFF_F000;
            }
            return table + ((ulong)PageTableGeometry.LevelIndex(HotIova, 1) * 8);
        }
    }

    [Fact]
    public void SecondStageRemapIsNeverSeenStaleAfterItsInvalidationReturned() => Stress(firstStage: false);

    [Fact]
    public void FirstStageRemapIsNeverSeenStaleAfterItsInvalidationReturned() => Stress(firstStage: true);

    private static void Stress(bool firstStage)
    {
        var rig = new Rig();
        var unit = rig.Unit;
        var memory = rig.Builder.Memory;
        var pasid = firstStage ? FirstStagePasid : DmaRequest.NoPasid;
        var did = firstStage ? FirstStageDid : SecondStageDid;
        long published = 0, written = 0, stop = 0, readerTranslations = 0;
        string? failure = null;

        void Fail(string message)
        {
            Interlocked.CompareExchange(ref failure, message, null);
            Volatile.Write(ref stop, 1);
        }

        void Writer()
        {
            // Generation g maps frame GenerationBase + g pages, writable exactly when g is even.
            for (long g = 1; Volatile.Read(ref stop) == 0; g++)
            {
                Volatile.Write(ref written, g);
                var frame = GenerationBase + ((ulong)g << 12);
                var writable = (g & 1) == 0;
                if (firstStage)
                {
                    memory.Write64(rig.FirstStageSlot, FirstStageEntry.Leaf(frame, PageSize.Size4K, writable).Value);
                    unit.Invalidate(InvalidationRequest.PasidIotlbPage(did, pasid, HotIova));
                }
                else
                {
                    memory.Write64(rig.SecondStageSlot, SecondStageEntry.Leaf(frame, PageSize.Size4K, writable: writable).Value);
                    unit.Invalidate(InvalidationRequest.IotlbPage(did, HotIova));
                }
                Volatile.Write(ref published, g);
            }
        }

        void Reader(int seed)
        {
            var random = new Random(seed);
            long count = 0;
            while (Volatile.Read(ref stop) == 0)
            {
                var floor = Volatile.Read(ref published);
                var access = random.Next(4) == 0 ? AccessKind.Write : AccessKind.Read;
                var offset = (ulong)random.Next(512) * 8;
                var result = unit.Translate(new DmaRequest(Sid, HotIova + offset, access, pasid));
                var ceiling = Volatile.Read(ref written);
                count++;
                if (!result.IsSuccess)
                {
                    var noWrite = access == AccessKind.Write && result.Fault == FaultReason.SgnNoWrite;
                    if (!noWrite)
                    {
                        Fail($"hot {access} at published {floor}: {result}");
                    }
                    continue;
                }
                var generation = (long)((result.Address - GenerationBase) >> 12);
                var writable = (result.Rights & AccessRights.Write) != 0;
                if (result.Address < GenerationBase || (result.Address & 0xFFF) != offset || generation > ceiling)
                {
                    Fail($"hot {access} at published {floor}: 0x{result.Address:x} is no frame the writer mapped (last {ceiling})");
                }
                else if (generation < floor)
                {
                    Fail($"hot {access}: generation {generation} after generation {floor}'s invalidation returned");
                }
                else if (writable != ((generation & 1) == 0) || (result.Rights & AccessRights.Read) == 0
                    || result.PageSize != PageSize.Size4K || result.DomainId != did)
                {
                    Fail($"hot {access}: generation {generation} with rights {result.Rights}, size {result.PageSize}, did {result.DomainId}");
                }
                else if (access == AccessKind.Write && !writable)
                {
                    Fail($"hot write granted on read-only generation {generation}");
                }

                var page = random.Next(FixedPages);
                var fixedResult = unit.Translate(new DmaRequest(Sid, 0x10_0000 + ((ulong)page << 12) + offset, access, pasid));
                if (!fixedResult.IsSuccess || fixedResult.Address != FixedBase + ((ulong)page << 12) + offset)
                {
                    Fail($"fixed page {page}: {fixedResult}");
                }
            }
            Interlocked.Add(ref readerTranslations, count);
        }

        var threads = new[] { new Thread(Writer), new Thread(() => Reader(1)), new Thread(() => Reader(2)) };
        foreach (var thread in threads)
        {
            thread.IsBackground = true;
            thread.Start();
        }
        Thread.Sleep(s_stressTime);
        Volatile.Write(ref stop, 1);
        foreach (var thread in threads)
        {
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)), "a stress thread did not stop");
        }
        Assert.Null(failure);
        Assert.True(Volatile.Read(ref published) > 100, $"the writer published only {published} generations");
        Assert.True(readerTranslations > 1000, $"the readers translated only {readerTranslations} times");
    }

    public static TheoryData<string> Kinds => ["second-stage", "first-stage", "legacy"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void IotlbHitsAllocateNothing(string kind)
    {
        var (unit, request) = Setup(kind);
        var warm = unit.Translate(request);
        Assert.True(warm.IsSuccess);
        Assert.Equal(0, unit.Translate(request).TableReads);

        var hitsBefore = unit.IotlbStatisticsForTest.Hits;
        var allocated = Measure(unit, request, invalidate: null, 100_000);
        Assert.True(unit.IotlbStatisticsForTest.Hits - hitsBefore >= 100_000, "the loop did not hit the IOTLB");
        Assert.Equal(0, allocated);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void MissesWithWarmContextAndPasidCachesAllocateNothing(string kind)
    {
        var (unit, request) = Setup(kind);
        var iotlbOnly = InvalidationRequest.IotlbGlobal();
        unit.Translate(request);
        unit.Invalidate(iotlbOnly);
        var miss = unit.Translate(request);
        Assert.True(miss.IsSuccess);
        Assert.Equal(4, miss.TableReads); // four paging levels: the context and PASID entries came from their caches

        var invalidations = Measure(unit, request: null, iotlbOnly, 10_000);
        var pairs = Measure(unit, request, iotlbOnly, 10_000);
        Assert.True(invalidations == 0, $"10k IOTLB invalidations allocated {invalidations} bytes");
        Assert.True(pairs == 0, $"10k invalidation + miss pairs allocated {pairs} bytes");
    }

    /// <summary>
    /// Bytes this thread allocates over <paramref name="count"/> rounds of an optional IOTLB invalidation and an optional
    /// translation: the least of five runs.
    /// </summary>
    /// <remarks>
    /// An allocation on the measured path recurs in every run. Right after the concurrent stress tests, a single run
    /// occasionally shows a one-off 3–6 KB on this thread that no individually measured call accounts for (runtime work,
    /// not the engine); taking the minimum keeps that out without hiding a per-call allocation.
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long Measure(TranslationUnit unit, DmaRequest? request, InvalidationRequest? invalidate, int count)
    {
        var allocated = long.MaxValue;
        for (var run = 0; run < 5; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < count; i++)
            {
                if (invalidate is { } invalidation)
                {
                    unit.Invalidate(invalidation);
                }
                if (request is { } r)
                {
                    unit.Translate(r);
                }
            }
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return allocated;
    }

    private static (TranslationUnit Unit, DmaRequest Request) Setup(string kind)
    {
        var rig = new Rig(kind == "legacy" ? RootTableMode.Legacy : RootTableMode.Scalable);
        var pasid = kind == "first-stage" ? FirstStagePasid : DmaRequest.NoPasid;
        return (rig.Unit, new DmaRequest(Sid, 0x10_1008, AccessKind.Write, pasid));
    }
}
