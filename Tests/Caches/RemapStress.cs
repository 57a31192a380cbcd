using VtdEngine.Tables;

namespace VtdEngine.Tests.Caches;

/// <summary>
/// Remap-while-translating stress over a <see cref="TwoStageRig"/> (style anchor 12): one writer remaps the hot page
/// generation after generation while reader threads translate it, each round through whatever entry point the test
/// gives them.
/// </summary>
/// <remarks>
/// <para>
/// Stated invariant: the writer remaps the hot IOVA to generation g (frame <see cref="TwoStageRig.GenerationBase"/> +
/// g pages, writable exactly when g is even), issues an invalidation that covers it and only then publishes g; a
/// reader that read the published g before it started translating never sees a frame of a generation older than g,
/// never a frame the writer did not map, and always rights that belong to the frame it got. The fixed pages never
/// change and must always translate.
/// </para>
/// <para>
/// Each test runs <see cref="Duration"/>: one second, or STRESS_SCALE seconds when that is set above 1 (a longer local
/// run, as FUZZ_PROPERTY_SCALE lengthens the fuzz properties).
/// </para>
/// </remarks>
internal sealed class RemapStress
{
    /// <summary>Spins the writer waits at most for a reader to see a publication (see <see cref="AwaitObserved"/>).</summary>
    private const int MaxObservationWait = 200;

    private readonly ulong _hotSlot;
    private readonly InvalidationRequest[] _invalidations;
    private readonly bool _paceWriter;
    private long _published;
    private long _written;
    private long _observed;
    private int _stop;
    private string? _failure;

    /// <summary>A stress of the stage's hot page.</summary>
    /// <param name="firstStage">Remap the first-stage (PASID 1) leaf, else the second-stage (RID_PASID) one.</param>
    /// <param name="rotateInvalidations">Cycle through every invalidation that covers the hot page (see
    /// <see cref="CoveringInvalidations"/>), else always the page-selective one VT-d Table 28 names.</param>
    /// <param name="paceWriter">After each publication the writer waits, briefly, for a reader to see it (see
    /// <see cref="AwaitObserved"/>).</param>
    public RemapStress(bool firstStage, bool rotateInvalidations, bool paceWriter = false)
    {
        FirstStage = firstStage;
        _paceWriter = paceWriter;
        Rig = new TwoStageRig();
        _hotSlot = Rig.Slot(firstStage, TwoStageRig.HotIova);
        var covering = CoveringInvalidations(firstStage, TwoStageRig.HotIova).Select(c => c.Request).ToArray();
        _invalidations = rotateInvalidations ? covering : covering[..1];
    }

    /// <summary>How long each stress test runs: 1 s, times STRESS_SCALE when that is an integer above 1.</summary>
    public static TimeSpan Duration =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("STRESS_SCALE"), out var scale) && scale > 1 ? scale : 1);

    public TwoStageRig Rig { get; }

    public TranslationUnit Unit => Rig.Unit;

    public bool FirstStage { get; }

    /// <summary>
    /// Every invalidation that removes the stage's cached translations of the 2^<paramref name="addressMask"/> pages at
    /// <paramref name="iova"/>, page-selective first: second stage — IOTLB page, domain, global; first stage —
    /// P_IOTLB page, P_IOTLB PASID, IOTLB page (which drops every first-stage entry of the domain), domain, global.
    /// </summary>
    public static (string Kind, InvalidationRequest Request)[] CoveringInvalidations(bool firstStage, ulong iova, int addressMask = 0)
    {
        var did = TwoStageRig.Did(firstStage);
        (string, InvalidationRequest)[] common =
        [
            ("domain page", InvalidationRequest.IotlbPage(did, iova, addressMask)),
            ("domain", InvalidationRequest.IotlbDomain(did)),
            ("global", InvalidationRequest.IotlbGlobal()),
        ];
        return firstStage
            ?
            [
                ("pasid page", TwoStageRig.PageInvalidation(true, iova, addressMask)),
                ("pasid", InvalidationRequest.PasidIotlb(did, TwoStageRig.FirstStagePasid)),
                .. common,
            ]
            : common;
    }

    /// <summary>A request for the hot page: random offset, mostly reads, some writes and atomics.</summary>
    public DmaRequest Hot(Random random) =>
        TwoStageRig.Request(FirstStage, TwoStageRig.HotIova + ((ulong)random.Next(512) * 8), RandomAccess(random));

    /// <summary>A request for a random fixed page, from this stage's requester or the other stage's.</summary>
    public DmaRequest Fixed(Random random, bool otherStage = false) =>
        TwoStageRig.Request(FirstStage ^ otherStage,
            TwoStageRig.FixedIova + ((ulong)random.Next(TwoStageRig.FixedPages) << 12) + ((ulong)random.Next(512) * 8),
            RandomAccess(random));

    private static AccessKind RandomAccess(Random random) => random.Next(8) switch
    {
        0 or 1 => AccessKind.Write,
        2 => AccessKind.Atomic,
        _ => AccessKind.Read,
    };

    /// <summary>
    /// Runs the writer and <paramref name="readers"/> reader threads for <see cref="Duration"/>; each reader calls
    /// <paramref name="round"/> until told to stop. Asserts the invariant held and that the run did real work.
    /// </summary>
    /// <returns>What the run did; see <see cref="Counts"/>.</returns>
    public Counts Run(int readers, Action<Reader> round)
    {
        var all = Enumerable.Range(1, readers).Select(seed => new Reader(this, seed)).ToArray();
        var threads = all.Select(reader => new Thread(() =>
        {
            while (Volatile.Read(ref _stop) == 0)
            {
                round(reader);
            }
        })).Prepend(new Thread(Writer)).ToArray();
        foreach (var thread in threads)
        {
            thread.IsBackground = true;
            thread.Start();
        }
        Thread.Sleep(Duration);
        Volatile.Write(ref _stop, 1);
        foreach (var thread in threads)
        {
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)), "a stress thread did not stop");
        }
        Assert.Null(_failure);
        var counts = new Counts(Volatile.Read(ref _published), all.Sum(r => r.Translations), all.Sum(r => r.WarmRepeats),
            all.Sum(r => r.Fresh));
        Assert.True(counts.Published > 100, $"the writer published only {counts.Published} generations");
        Assert.True(counts.Translations > 1000, $"the readers translated only {counts.Translations} times");
        return counts;
    }

    /// <summary>What a run did.</summary>
    /// <param name="Published">Generations the writer published.</param>
    /// <param name="Translations">Results the readers checked.</param>
    /// <param name="WarmRepeats">Rounds in which a reader found the same published generation as in its previous
    /// round: it translated the hot page again with nothing new published in between (a warm cache's case).</param>
    /// <param name="Fresh">Rounds that found a newer generation published than the reader's previous round: what the
    /// previous round left in a cache had been invalidated since.</param>
    internal readonly record struct Counts(long Published, long Translations, long WarmRepeats, long Fresh);

    private void Writer()
    {
        for (long g = 1; Volatile.Read(ref _stop) == 0; g++)
        {
            Volatile.Write(ref _written, g);
            Rig.Memory.Write64(_hotSlot, TwoStageRig.Leaf(FirstStage, TwoStageRig.GenerationBase + ((ulong)g << 12), PageSize.Size4K,
                writable: (g & 1) == 0));
            Unit.Invalidate(_invalidations[g % _invalidations.Length]);
            Volatile.Write(ref _published, g);
            if (_paceWriter)
            {
                AwaitObserved(g);
            }
        }
    }

    /// <summary>
    /// Lets a reader start a round on <paramref name="generation"/> before the next remap, for a bounded while (about
    /// 0.1 ms of spinning): on a loaded two-core machine the writer otherwise runs ahead for whole time slices in which
    /// no reader runs, so readers see few publications between their rounds, and lookups seldom overlap invalidations.
    /// In trials with a port that tagged a copy with the generation read after its IOTLB lookup (a race a few
    /// instructions wide), the paced port stress caught it in 2 to 4 runs of 10, the unpaced one in 1 of 10.
    /// </summary>
    private void AwaitObserved(long generation)
    {
        for (var i = 0; i < MaxObservationWait && Volatile.Read(ref _observed) < generation; i++)
        {
            Thread.SpinWait(20); // no yield: giving up the core costs a whole time slice on two cores
        }
    }

    private void Fail(string message)
    {
        Interlocked.CompareExchange(ref _failure, message, null);
        Volatile.Write(ref _stop, 1);
    }

    /// <summary>Checks one result against the invariant; call it right after translating, so the ceiling is current.</summary>
    /// <param name="request">What was translated.</param>
    /// <param name="result">What came back.</param>
    /// <param name="floor">The generation published before the translation started.</param>
    /// <param name="path">The entry point, for the failure message (formatted only on failure: the check is hot).</param>
    /// <param name="index">The request's place in its burst, or -1.</param>
    private void Check(in DmaRequest request, in TranslationResult result, long floor, string path, int index)
    {
        var problem = Problem(request, result, floor, Volatile.Read(ref _written));
        if (problem is not null)
        {
            Fail($"{path}{(index >= 0 ? $" #{index}" : "")}: {request} at published {floor}: {problem}");
        }
    }

    private string? Problem(in DmaRequest request, in TranslationResult result, long floor, long ceiling)
    {
        if ((request.Address & ~0xFFFUL) != TwoStageRig.HotIova)
        {
            return result.IsSuccess && result.Address == TwoStageRig.FixedBase + (request.Address - TwoStageRig.FixedIova)
                ? null
                : $"fixed page gave {result}";
        }
        if (!result.IsSuccess)
        {
            return request.Access != AccessKind.Read && result.Fault == FaultReason.SgnNoWrite ? null : result.ToString();
        }
        var generation = (long)((result.Address - TwoStageRig.GenerationBase) >> 12);
        var writable = (result.Rights & AccessRights.Write) != 0;
        if (result.Address < TwoStageRig.GenerationBase || (result.Address & 0xFFF) != (request.Address & 0xFFF) || generation > ceiling)
        {
            return $"0x{result.Address:x} is no frame the writer mapped (last {ceiling})";
        }
        if (generation < floor)
        {
            return $"generation {generation} after generation {floor}'s invalidation returned";
        }
        if (writable != ((generation & 1) == 0) || (result.Rights & AccessRights.Read) == 0
            || result.PageSize != PageSize.Size4K || result.DomainId != TwoStageRig.Did(FirstStage))
        {
            return $"generation {generation} with rights {result.Rights}, size {result.PageSize}, did {result.DomainId}";
        }
        return request.Access != AccessKind.Read && !writable ? $"write granted on read-only generation {generation}" : null;
    }

    /// <summary>One reader thread's state: its random stream, its counts and, opened on first use, its own port.</summary>
    internal sealed class Reader(RemapStress stress, int seed)
    {
        private long _lastFloor = -1;
        private TranslationPort? _port;

        public Random Random { get; } = new(seed);

        /// <summary>This thread's port (ports are per thread).</summary>
        public TranslationPort Port => _port ??= stress.Unit.OpenPort();

        public long Translations { get; private set; }

        public long WarmRepeats { get; private set; }

        public long Fresh { get; private set; }

        /// <summary>Starts a round: reads the published generation, the floor of every result in the round.</summary>
        public long BeginRound()
        {
            var floor = Volatile.Read(ref stress._published);
            Volatile.Write(ref stress._observed, floor);
            if (floor == _lastFloor)
            {
                WarmRepeats++;
            }
            else if (_lastFloor >= 0)
            {
                Fresh++;
            }
            _lastFloor = floor;
            return floor;
        }

        /// <summary>Checks a result of this round (see <see cref="RemapStress.Check"/>).</summary>
        public void Check(in DmaRequest request, in TranslationResult result, long floor, string path, int index = -1)
        {
            Translations++;
            stress.Check(request, result, floor, path, index);
        }
    }
}
