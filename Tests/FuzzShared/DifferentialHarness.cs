using VtdEngine.Tables;
using VtdEngine.Tests.Reference;

namespace VtdEngine.Fuzzing;

/// <summary>
/// Runs a unit's cached <see cref="TranslationUnit.Translate(in DmaRequest)"/> in lockstep with two oracles, each on
/// its own copy of the memory: the engine's uncached walk (<see cref="TranslationUnit.Trace"/> of a second unit) and
/// the independent <see cref="ReferenceWalker"/>; throws <see cref="OracleViolationException"/> when they disagree
/// where the spec says they must agree.
/// </summary>
/// <remarks>
/// <para>
/// The two memories start as clones and must stay identical while nothing is stale: same result fields, same A/D
/// writes. A cache may legitimately serve a stale structure after the memory changed without the matching
/// invalidation, so the harness keeps a conservative model of what may be stale. Every traced walk records which
/// qwords it read as which structure for which (source-id, PASID) and domain; a change of such a qword (a software
/// write, or the engine's own flag update landing on an aliased structure) marks the caches that may hold it dirty,
/// and only an invalidation that surely covers them cleans them again. Results are compared only while everything
/// is clean; otherwise the oracle memory is re-synchronised from the engine's after each request.
/// </para>
/// <para>
/// Conservative means "never a false alarm": a device walked while its context may be stale taints every cache
/// filled through it until a global invalidation of that cache, and domain-selective invalidations count only when
/// every domain-id ever seen for the entry is the invalidated one.
/// </para>
/// </remarks>
public sealed class DifferentialHarness
{
    /// <summary>
    /// Bound on structure reads of one walk: 4 remapping structures, then a nested walk of 5 first-stage levels each
    /// behind a 5-level second-stage walk, and the final 5-level second-stage walk (4 + 5 × 6 + 5 = 39).
    /// </summary>
    public const int MaxTableReads = 39;

    private const int QwordsPerFrame = 512;

    /// <summary>A small IOTLB, so that a short input already evicts and collides.</summary>
    private static readonly TranslationUnitOptions s_options = new() { IotlbEntries = 64 };

    private readonly FuzzImage _image;
    private readonly bool _flushOnSelfModification;
    private readonly ulong[] _shadow = new ulong[FuzzImage.RamFrames * QwordsPerFrame];
    private readonly Dictionary<ulong, HashSet<StructureUse>> _uses = [];
    private readonly HashSet<ushort> _contextDirty = [];
    private readonly Dictionary<ushort, HashSet<ushort>> _contextDomains = [];
    private readonly HashSet<(ushort SourceId, uint Pasid)> _pasidDirty = [];
    private readonly HashSet<ushort> _pasidDirtyAll = [];
    private readonly HashSet<ushort> _pasidTainted = [];
    private readonly Dictionary<(ushort SourceId, uint Pasid), HashSet<ushort>> _pasidDomains = [];
    private bool _iotlbDirty;

    /// <summary>One port for the whole run, so its first-level TLB carries copies from request to request.</summary>
    private readonly TranslationPort _port;

    /// <summary>Domains whose paging structures software changed since their last domain-selective or global IOTLB invalidation.</summary>
    private readonly HashSet<ushort> _iotlbDirtyDomains = [];
    private int _observedFaults;
    private int _invalidatedEvents;
    private int _deviceTlbCalls;

    /// <summary>Builds both units over the image.</summary>
    /// <param name="image">The decoded image.</param>
    /// <param name="flushOnSelfModification">
    /// When the engine's own flag update changes a remapping structure, flush the caches (as software would after
    /// noticing) instead of waiting for invalidations: for targets that issue none.
    /// </param>
    public DifferentialHarness(FuzzImage image, bool flushOnSelfModification)
    {
        _image = image;
        _flushOnSelfModification = flushOnSelfModification;
        Memory = image.CreateMemory();
        OracleMemory = Memory.Clone();
        ReferenceMemory = Memory.Clone();
        Unit = image.CreateUnit(Memory, s_options);
        _port = Unit.OpenPort();
        Oracle = image.CreateUnit(OracleMemory, s_options);
        Reference = new ReferenceWalker(ReferenceMemory, image.Profile, Unit.RootTableAddress, image.Mode, image.TranslationEnabled);
        for (var f = 0; f < FuzzImage.RamFrames; f++)
        {
            Memory.GetFrame((ulong)f).CopyTo(_shadow.AsSpan(f * QwordsPerFrame, QwordsPerFrame));
        }
        Unit.FaultObserver = (_, _) => _observedFaults++;
        Unit.Invalidated += _ => _invalidatedEvents++;
        Unit.DeviceTlbInvalidationHandler = _ => _deviceTlbCalls++;
    }

    /// <summary>The engine's memory.</summary>
    public SparsePhysicalMemory Memory { get; }

    /// <summary>The oracle's memory.</summary>
    public SparsePhysicalMemory OracleMemory { get; }

    /// <summary>The reference walker's memory.</summary>
    public SparsePhysicalMemory ReferenceMemory { get; }

    /// <summary>The independent reference walker (Tests/Reference).</summary>
    public ReferenceWalker Reference { get; }

    /// <summary>The unit under test (cached translation).</summary>
    public TranslationUnit Unit { get; }

    /// <summary>The oracle unit (only its uncached <see cref="TranslationUnit.Trace"/> is used).</summary>
    public TranslationUnit Oracle { get; }

    /// <summary>Requests whose results were compared.</summary>
    public int Compared { get; private set; }

    /// <summary>Receives one line per probe (request, cached result, whether it was compared), for diagnostics.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Whether no cache may hold a stale structure, so cached and uncached results must agree.</summary>
    public bool IsClean => _contextDirty.Count == 0 && _pasidDirty.Count == 0 && _pasidDirtyAll.Count == 0
        && _pasidTainted.Count == 0 && !_iotlbDirty && _iotlbDirtyDomains.Count == 0;

    private bool Scalable => Unit.Mode == RootTableMode.Scalable;

    /// <summary>Translates one request on every side and checks them; returns the cached translation's result.</summary>
    public TranslationResult Probe(in FuzzRequest fuzzRequest)
    {
        var request = fuzzRequest.Request;
        if (fuzzRequest.Op == RequestOp.Relatch)
        {
            // SRTP drops every cached structure (the engine does so whether or not ESRTPS is advertised).
            Unit.SetRootTable(Unit.RootTableAddress, Unit.Mode);
            ForgetAllDirt();
        }
        var clean = IsClean;
        if (!clean)
        {
            Taint(request.SourceId);
        }

        var trace = Oracle.Trace(request);
        var expected = trace.Result;
        Record(trace);
        CheckBounded("uncached", request, expected);
        var reference = Reference.Translate(request);

        var faultsBefore = _observedFaults;
        Span<TranslationResult> results = stackalloc TranslationResult[1];
        switch (fuzzRequest.Op)
        {
            case RequestOp.Batch:
                Unit.Translate([request], results);
                break;
            case RequestOp.PortBatch:
                _port.Translate([request], results);
                break;
            case RequestOp.Port:
                results[0] = _port.Translate(request);
                break;
            default:
                results[0] = Unit.Translate(request);
                break;
        }
        var actual = results[0];
        CheckBounded("cached", request, actual);
        var expectedObserved = faultsBefore + (actual.Status == TranslationStatus.Fault ? 1 : 0);
        if (_observedFaults != expectedObserved)
        {
            throw Violation(request, $"FaultObserver ran {_observedFaults - faultsBefore} times for {actual}", trace);
        }

        Log?.Invoke($"{(clean ? "==" : "~~")} {request} [{fuzzRequest.Op}] => {actual}");
        if (clean)
        {
            Compared++;
            CompareResults(request, expected, actual, trace);
            CompareMemories(request, trace, Memory, OracleMemory, "cached walk", "uncached walk");
            if (ReferenceResult.FromEngine(expected) != reference)
            {
                throw Violation(request, $"reference walker gave {reference}, engine's uncached walk {expected}", trace);
            }
            CompareMemories(request, trace, OracleMemory, ReferenceMemory, "uncached walk", "reference walker");
        }
        AbsorbEngineWrites();
        return actual;
    }

    /// <summary>A software write of one qword (to both memories), marking whatever caches may now be stale.</summary>
    public void Write(ulong address, ulong value)
    {
        address &= ~7UL;
        if (address >> 12 >= FuzzImage.RamFrames)
        {
            return;
        }
        var old = Memory.Read64(address);
        Memory.Write64(address, value);
        OracleMemory.Write64(address, value);
        ReferenceMemory.Write64(address, value);
        _shadow[(int)(address >> 3)] = value;
        if (old != value)
        {
            Changed(address, software: true);
        }
    }

    /// <summary>
    /// Performs an invalidation: an invalid request must throw <see cref="ArgumentException"/> and nothing else, a valid
    /// one must not throw and must reach the observers once; then the staleness model forgets what it covers.
    /// </summary>
    /// <returns>Whether the request was valid.</returns>
    public bool Invalidate(in InvalidationRequest request)
    {
        var error = request.Validate(Unit.Profile, Scalable);
        var eventsBefore = _invalidatedEvents;
        var deviceBefore = _deviceTlbCalls;
        try
        {
            Unit.Invalidate(request);
        }
        catch (ArgumentException) when (error is not null)
        {
            if (_invalidatedEvents != eventsBefore)
            {
                throw new OracleViolationException($"Rejected invalidation {request} still raised Invalidated.");
            }
            return false;
        }
        if (error is not null)
        {
            throw new OracleViolationException($"Invalidation {request} was accepted although Validate says: {error}");
        }
        if (_invalidatedEvents != eventsBefore + 1)
        {
            throw new OracleViolationException($"Invalidation {request} raised Invalidated {_invalidatedEvents - eventsBefore} times.");
        }
        var deviceExpected = request.Kind is InvalidationKind.DeviceTlb or InvalidationKind.PasidDeviceTlb ? 1 : 0;
        if (_deviceTlbCalls != deviceBefore + deviceExpected)
        {
            throw new OracleViolationException($"Invalidation {request} reached the device-TLB handler {_deviceTlbCalls - deviceBefore} times.");
        }
        Forget(request);
        return true;
    }

    private void Forget(in InvalidationRequest request)
    {
        var did = request.DomainId;
        switch (request.Kind)
        {
            case InvalidationKind.ContextCacheGlobal:
            case InvalidationKind.ContextCacheDomain when Scalable:
                ForgetContexts(_ => true);
                break;
            case InvalidationKind.ContextCacheDomain:
                ForgetContexts(sid => Within(_contextDomains, sid, did));
                break;
            case InvalidationKind.ContextCacheDevice:
                var ignored = request.FunctionMask switch { 1 => 0b100, 2 => 0b110, 3 => 0b111, _ => 0 };
                var target = request.SourceId & ~ignored;
                ForgetContexts(sid => (sid & ~ignored) == target);
                break;
            case InvalidationKind.PasidCacheGlobal:
                _pasidDirty.Clear();
                _pasidDirtyAll.Clear();
                _pasidTainted.Clear();
                _pasidDomains.Clear();
                break;
            case InvalidationKind.PasidCacheDomain:
                foreach (var sid in _pasidDirtyAll.ToArray())
                {
                    if (!_pasidTainted.Contains(sid)
                        && _pasidDomains.Where(e => e.Key.SourceId == sid).All(e => e.Value.All(d => d == did)))
                    {
                        _pasidDirtyAll.Remove(sid);
                    }
                }
                ForgetPasids(key => !_pasidTainted.Contains(key.SourceId) && Within(_pasidDomains, key, did));
                break;
            case InvalidationKind.PasidCachePasid:
                var pasid = request.Pasid;
                ForgetPasids(key => key.Pasid == pasid && !_pasidTainted.Contains(key.SourceId)
                    && Within(_pasidDomains, key, did));
                break;
            case InvalidationKind.IotlbGlobal:
                _iotlbDirty = false;
                _iotlbDirtyDomains.Clear();
                break;
            case InvalidationKind.IotlbDomain:
                // Table 23: every IOTLB and paging-structure-cache entry of the DID, first and second stage.
                _iotlbDirtyDomains.Remove(did);
                break;
            default:
                break;
        }
    }

    private void ForgetContexts(Func<ushort, bool> covered)
    {
        _contextDirty.RemoveWhere(sid => covered(sid));
        foreach (var sid in _contextDomains.Keys.Where(covered).ToArray())
        {
            _contextDomains.Remove(sid);
        }
    }

    private void ForgetPasids(Func<(ushort SourceId, uint Pasid), bool> covered)
    {
        var keys = _pasidDomains.Keys.Where(covered).ToArray();
        _pasidDirty.RemoveWhere(key => covered(key));
        foreach (var key in keys)
        {
            _pasidDomains.Remove(key);
        }
    }

    private static bool Within<TKey>(Dictionary<TKey, HashSet<ushort>> domains, TKey key, ushort did)
        where TKey : notnull =>
        !domains.TryGetValue(key, out var seen) || seen.All(d => d == did);

    private void ForgetAllDirt()
    {
        _contextDirty.Clear();
        _contextDomains.Clear();
        _pasidDirty.Clear();
        _pasidDirtyAll.Clear();
        _pasidTainted.Clear();
        _pasidDomains.Clear();
        _iotlbDirty = false;
        _iotlbDirtyDomains.Clear();
    }

    /// <summary>A walk while something is stale may fill later caches from stale structures.</summary>
    private void Taint(ushort sourceId)
    {
        if (_contextDirty.Contains(sourceId) && Scalable)
        {
            _pasidTainted.Add(sourceId);
        }
        // Whatever the IOTLB (when there is one) fills now may come from a stale path.
        _iotlbDirty = true;
    }

    private void Record(WalkTrace trace)
    {
        var request = trace.Request;
        var sid = request.SourceId;
        var pasid = request.HasPasid ? request.Pasid : 0;
        int? walkDomain = null; // the DID the walk's paging-structure and IOTLB fills are tagged with
        foreach (var step in trace.Steps)
        {
            var name = step.Structure;
            if (name.StartsWith("FS ", StringComparison.Ordinal) || name.StartsWith("SS ", StringComparison.Ordinal))
            {
                Use(step.Address, 1, new StructureUse(StructureKind.Paging, sid, 0, walkDomain));
                continue;
            }
            switch (name)
            {
                case "root entry":
                case "SM root entry":
                    Use(step.Address, 2, new StructureUse(StructureKind.Context, sid, 0));
                    break;
                case "context entry":
                    Use(step.Address, 2, new StructureUse(StructureKind.Context, sid, 0));
                    AddDomain(_contextDomains, sid, (ushort)(step.Raw[1] >> 8));
                    walkDomain = (ushort)(step.Raw[1] >> 8);
                    break;
                case "SM context entry":
                    Use(step.Address, 4, new StructureUse(StructureKind.Context, sid, 0));
                    if (!request.HasPasid)
                    {
                        pasid = Unit.Profile.RidPasid ? (uint)(step.Raw[1] & 0xFFFFF) : 0;
                    }
                    break;
                case "PASID directory entry":
                    Use(step.Address, 1, new StructureUse(StructureKind.Pasid, sid, pasid));
                    break;
                case "PASID table entry":
                    Use(step.Address, 8, new StructureUse(StructureKind.Pasid, sid, pasid));
                    AddDomain(_pasidDomains, (sid, pasid), (ushort)step.Raw[1]);
                    walkDomain = (ushort)step.Raw[1];
                    break;
                default:
                    // A structure this harness does not know: treat it as a context-level one (the strictest).
                    Use(step.Address, step.Raw.Count, new StructureUse(StructureKind.Context, sid, 0));
                    break;
            }
        }
    }

    private static void AddDomain<TKey>(Dictionary<TKey, HashSet<ushort>> domains, TKey key, ushort did)
        where TKey : notnull
    {
        if (!domains.TryGetValue(key, out var set))
        {
            domains[key] = set = [];
        }
        set.Add(did);
    }

    private void Use(ulong address, int qwords, StructureUse use)
    {
        for (var q = 0; q < qwords; q++)
        {
            var at = address + ((ulong)q * 8);
            if (!_uses.TryGetValue(at, out var set))
            {
                _uses[at] = set = [];
            }
            set.Add(use);
        }
    }

    private void Changed(ulong address, bool software)
    {
        if (!_uses.TryGetValue(address, out var uses))
        {
            return;
        }
        foreach (var use in uses)
        {
            switch (use.Kind)
            {
                case StructureKind.Paging:
                    // The walker's own A/D/EA updates never change what an entry translates; a software write may.
                    if (software && use.DomainId is { } domain)
                    {
                        _iotlbDirtyDomains.Add((ushort)domain);
                    }
                    else if (software)
                    {
                        _iotlbDirty = true;
                    }
                    break;
                case StructureKind.Context when _flushOnSelfModification && !software:
                case StructureKind.Pasid when _flushOnSelfModification && !software:
                    Unit.FlushAllCaches();
                    ForgetAllDirt();
                    return;
                case StructureKind.Context:
                    _contextDirty.Add(use.SourceId);
                    if (Scalable)
                    {
                        _pasidDirtyAll.Add(use.SourceId);
                    }
                    _iotlbDirty = true;
                    break;
                case StructureKind.Pasid:
                    _pasidDirty.Add((use.SourceId, use.Pasid));
                    _iotlbDirty = true;
                    break;
                default:
                    break;
            }
        }
    }

    /// <summary>Folds the engine's flag writes into the model, then makes the oracle memory equal the engine's.</summary>
    private void AbsorbEngineWrites()
    {
        for (var f = 0; f < FuzzImage.RamFrames; f++)
        {
            var frame = Memory.GetFrame((ulong)f);
            var shadow = _shadow.AsSpan(f * QwordsPerFrame, QwordsPerFrame);
            if (!frame.SequenceEqual(shadow))
            {
                for (var i = 0; i < QwordsPerFrame; i++)
                {
                    if (frame[i] != shadow[i])
                    {
                        shadow[i] = frame[i];
                        Changed(((ulong)f << 12) + ((ulong)i * 8), software: false);
                    }
                }
            }
            var oracle = OracleMemory.GetFrame((ulong)f);
            if (!oracle.SequenceEqual(frame))
            {
                frame.CopyTo(oracle);
            }
            var reference = ReferenceMemory.GetFrame((ulong)f);
            if (!reference.SequenceEqual(frame))
            {
                frame.CopyTo(reference);
            }
        }
    }

    private void CompareMemories(in DmaRequest request, WalkTrace trace, SparsePhysicalMemory left, SparsePhysicalMemory right,
        string leftName, string rightName)
    {
        for (var f = 0; f < FuzzImage.RamFrames; f++)
        {
            var frame = left.GetFrame((ulong)f);
            var oracle = right.GetFrame((ulong)f);
            if (frame.SequenceEqual(oracle))
            {
                continue;
            }
            for (var i = 0; i < QwordsPerFrame; i++)
            {
                if (frame[i] != oracle[i])
                {
                    var address = ((ulong)f << 12) + ((ulong)i * 8);
                    throw Violation(request,
                        $"memory differs at 0x{address:x}: {leftName} left 0x{frame[i]:x16}, {rightName} 0x{oracle[i]:x16}", trace);
                }
            }
        }
    }

    private void CompareResults(in DmaRequest request, in TranslationResult expected, in TranslationResult actual, WalkTrace trace)
    {
        if (expected.Status != actual.Status || expected.Address != actual.Address || expected.Fault != actual.Fault
            || expected.FaultRecordingDisabled != actual.FaultRecordingDisabled || expected.PageSize != actual.PageSize
            || expected.Rights != actual.Rights || expected.DomainId != actual.DomainId)
        {
            throw Violation(request, $"cached Translate gave {actual}, uncached Trace {expected}", trace);
        }
    }

    private void CheckBounded(string which, in DmaRequest request, in TranslationResult result)
    {
        if (result.TableReads > MaxTableReads)
        {
            throw new OracleViolationException($"{which} walk of {request} read {result.TableReads} entries (bound {MaxTableReads}).");
        }
        if (result.Status == TranslationStatus.Fault && result.Fault == FaultReason.None)
        {
            throw new OracleViolationException($"{which} walk of {request} faulted without a reason.");
        }
        if (result.Status != TranslationStatus.Fault && result.Fault != FaultReason.None)
        {
            throw new OracleViolationException($"{which} walk of {request} has status {result.Status} with fault {result.Fault}.");
        }
    }

    private OracleViolationException Violation(in DmaRequest request, string what, WalkTrace trace) =>
        new($"{_image.Mode} mode, profile {_image.ProfileIndex}, {request}: {what}{Environment.NewLine}{trace}");

    private enum StructureKind : byte
    {
        Context,
        Pasid,
        Paging,
    }

    /// <summary>A walk's use of a qword; <paramref name="DomainId"/> tags a paging-structure use (null: unknown, so only a global invalidation covers it).</summary>
    private readonly record struct StructureUse(StructureKind Kind, ushort SourceId, uint Pasid, int? DomainId = null);
}
