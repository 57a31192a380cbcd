using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VtdEngine.Iotlb;
using VtdEngine.Iotlb.Storage;

namespace VtdEngine;

/// <summary>
/// A port's private first-level TLB: direct-mapped copies of the shared IOTLB's hits, one 4 KiB page per entry, in
/// front of the IOTLB as a core's L1 TLB sits in front of its shared second-level TLB. Only the owning port's thread
/// reads or writes it, so a hit needs no seqlock, no liveness stamps, no fingerprint re-check and no permission logic:
/// two key compares, and one load of the IOTLB's invalidation epoch per call. Beside the copies it keeps, per requester
/// and 2 MiB region, what the last walk there learned above its 4 KiB leaf (<see cref="PdeCacheCopy"/>),
/// so that an IOTLB miss in the region reads one leaf entry instead of consulting the context, PASID and
/// paging-structure caches again.
/// </summary>
/// <remarks>
/// <para>
/// <b>Why it stays exact.</b> Every copy is taken from a lookup made after <see cref="Synchronize"/> read the IOTLB's
/// <see cref="IoTlb.InvalidationEpoch"/>, and is stored only if the generation that epoch opened is still current. The epoch moves only
/// after an invalidation has taken effect, so while it still reads the same value, no invalidation that could have
/// removed a copied entry has finished: a request served from the copy overlapped that invalidation, which VT-d allows.
/// Once the epoch moves, the next <see cref="Synchronize"/> opens a new generation and every older copy stops matching.
/// Copies of entries the IOTLB later evicts may be served until the next invalidation, as a hardware L1 TLB may.
/// </para>
/// <para>
/// <b>Layout.</b> 32 bytes per entry: the page address with the generation in its low 12 bits; the request's whole
/// second word (AT, source id, PASID, access kind and PR, compared exactly, so ATS requests and wide PASIDs never match
/// a copy); the output frame; and the outcome word a hit reports. A copy records that the IOTLB granted this access
/// kind with this privilege, so a hit needs no permission check; a read and a write of one page take two entries (at
/// different indices, the access kind being hashed in). Generations run 1..4095; when they wrap the array is cleared,
/// so a stale copy can never come back.
/// </para>
/// </remarks>
internal sealed class PortTranslationCache
{
    /// <summary>Entries: 16 KiB, so the array stays in the L1 data cache beside the requests and results.</summary>
    internal const int Capacity = 512;

    private const ulong OffsetMask = 0xFFF;
    private const ulong LastGeneration = OffsetMask;
    private const ulong ShapeMultiplier = 0x9E37_79B9_7F4A_7C15UL;

    /// <summary>No request has this shape word: its access-kind byte would be 0xFF.</summary>
    private const ulong NoShape = ulong.MaxValue;

    /// <summary>PDE-cache copies: one per requester and 2 MiB region, 256 regions (512 MiB of 4 KiB pages) in 10 KiB.</summary>
    internal const int PdeCapacity = 256;

    private const int RegionShift = 21;

    private readonly Entry[] _entries = new Entry[Capacity];
    private readonly PdeEntry[] _pdes = new PdeEntry[PdeCapacity];
    private readonly EpochCell _epochCell;
    private long _epoch = -1;
    private ulong _generation;

    /// <summary>A first-level TLB over <paramref name="iotlb"/>; it keeps only the IOTLB's epoch word, not the IOTLB.</summary>
    internal PortTranslationCache(IoTlb iotlb) => _epochCell = iotlb.Epoch;

    /// <summary>Opens a new generation when an invalidation has finished since the last call; call before translating.</summary>
    /// <returns>The generation the call's lookups fill into: pass it to <see cref="Fill"/>.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Synchronize()
    {
        var epoch = Volatile.Read(ref _epochCell.Value);
        if (epoch != _epoch)
        {
            OpenGeneration(epoch);
        }
        return _generation;
    }

    /// <summary>The copy's answer for <paramref name="request"/>, or false when there is no copy or it does not grant the access.</summary>
    /// <param name="request">The request.</param>
    /// <param name="generation">What <see cref="Synchronize"/> returned for this call.</param>
    /// <param name="result">The copy's answer.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTranslate(in DmaRequest request, ulong generation, out TranslationResult result)
    {
        var shape = request.ShapeWord;
        return TryAnswer(ref MemoryMarshal.GetArrayDataReference(_entries), generation, request.Address, shape,
            ShapeOffset(shape), out result);
    }

    /// <summary>
    /// Answers requests from copies, starting at <paramref name="start"/>, until one has no copy that grants it.
    /// </summary>
    /// <returns>The index of that request, or the length of <paramref name="requests"/>; every result before it is written.</returns>
    /// <remarks>
    /// A loop of its own, out of line, so that a burst the copies serve runs in a handful of registers instead of
    /// sharing them with the burst window and the IOTLB path.
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public int TranslateRun(ReadOnlySpan<DmaRequest> requests, Span<TranslationResult> results, int start)
    {
        ref var entries = ref MemoryMarshal.GetArrayDataReference(_entries);
        var generation = _generation;
        var todo = requests[start..];
        var done = results.Slice(start, todo.Length);
        var lastShape = NoShape;
        nuint offset = 0;
        for (var i = 0; i < todo.Length; i++)
        {
            ref readonly var request = ref todo[i];
            var shape = request.ShapeWord;
            if (shape != lastShape)
            {
                // A burst's requests mostly share a shape: its hash is taken once per run of them.
                lastShape = shape;
                offset = ShapeOffset(shape);
            }
            if (!TryAnswer(ref entries, generation, request.Address, shape, offset, out done[i]))
            {
                return start + i;
            }
        }
        return requests.Length;
    }

    /// <summary>The one hit test: the copy at the address's index matches the page, the generation and the shape.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryAnswer(ref Entry entries, ulong generation, ulong address, ulong shape, nuint shapeOffset,
        out TranslationResult result)
    {
        ref var entry = ref Unsafe.Add(ref entries, Index(address, shapeOffset));
        if (entry.Page == ((address & ~OffsetMask) | generation) && entry.Shape == shape)
        {
            result = new(entry.Frame | (address & OffsetMask), entry.Outcome);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>Copies a hit the IOTLB (or the burst window, from an IOTLB entry) just gave <paramref name="request"/>.</summary>
    /// <param name="request">
    /// A request the IOTLB may serve (callers gate on the same predicate as the IOTLB, so ATS and translated requests
    /// and PASIDs wider than 20 bits are never copied and their shape words never match) which the cached rights granted.
    /// </param>
    /// <param name="result">The hit's result.</param>
    /// <param name="generation">What <see cref="Synchronize"/> returned before the lookup that produced the hit.</param>
    /// <remarks>
    /// A copy whose generation is no longer current is not stored: the thread may have re-entered the port (a fault
    /// observer that invalidates and translates) and opened a newer generation after the lookup, which that
    /// invalidation may have overtaken.
    /// </remarks>
    public void Fill(in DmaRequest request, in TranslationResult result, ulong generation)
    {
        if (generation != _generation)
        {
            return;
        }
        var shape = request.ShapeWord;
        ref var slot = ref _entries[Index(request.Address, ShapeOffset(shape))];
        slot.Page = (request.Address & ~OffsetMask) | _generation;
        slot.Shape = shape;
        slot.Frame = result.Address & ~OffsetMask;
        slot.Outcome = result.Outcome;
    }

    /// <summary>The PDE-cache copy a walk of this requester left for the 2 MiB region of the address, this generation.</summary>
    /// <param name="request">The request that missed the copies and the IOTLB.</param>
    /// <param name="generation">What <see cref="Synchronize"/> returned for this call.</param>
    /// <param name="pde">The copy.</param>
    public bool TryFindPde(in DmaRequest request, ulong generation, out PdeCacheCopy pde)
    {
        var requester = request.RequesterWord;
        ref var slot = ref _pdes[PdeIndex(request.Address, requester)];
        if (slot.Region == (Region(request.Address) | generation) && slot.Requester == requester)
        {
            pde = slot.Pde;
            return true;
        }
        pde = default;
        return false;
    }

    /// <summary>Keeps what a walk for <paramref name="request"/> learned above its leaf, if the generation is still current.</summary>
    /// <param name="request">The request the walk translated; the copy serves its requester (any access kind) in its 2 MiB region.</param>
    /// <param name="pde">What the walk handed back.</param>
    /// <param name="generation">What <see cref="Synchronize"/> returned before the walk began.</param>
    /// <remarks>
    /// A copy of a walk's upper structures stays exact as a copy of a hit does: the walk began after the generation's
    /// epoch was read, every invalidation that can change what it read (IOTLB, paging-structure, context and PASID
    /// caches alike) moves the epoch when it finishes, and fills from the copy carry the walk's own IOTLB stamp.
    /// </remarks>
    public void FillPde(in DmaRequest request, in PdeCacheCopy pde, ulong generation)
    {
        if (generation != _generation)
        {
            return;
        }
        var requester = request.RequesterWord;
        ref var slot = ref _pdes[PdeIndex(request.Address, requester)];
        slot.Region = Region(request.Address) | generation;
        slot.Requester = requester;
        slot.Pde = pde;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void OpenGeneration(long epoch)
    {
        _epoch = epoch;
        if (++_generation > LastGeneration)
        {
            Array.Clear(_entries);
            Array.Clear(_pdes);
            _generation = 1;
        }
    }

    private static ulong Region(ulong address) => address & ~((1UL << RegionShift) - 1);

    private static nuint PdeIndex(ulong address, ulong requester) =>
        ((nuint)(address >> RegionShift) + ShapeOffset(requester)) & (PdeCapacity - 1);

    /// <summary>Consecutive pages of one request shape take consecutive entries, from the shape's hashed offset.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint Index(ulong address, nuint shapeOffset) => ((nuint)(address >> 12) + shapeOffset) & (Capacity - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint ShapeOffset(ulong shape) => (nuint)((shape * ShapeMultiplier) >> 55);

    /// <summary>A PDE-cache copy with its key: the 2 MiB region with the generation in its low bits, and the requester word.</summary>
    private struct PdeEntry
    {
        public ulong Region;
        public ulong Requester;
        public PdeCacheCopy Pde;
    }

    /// <summary>One copy; see the class remarks for the words.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 32)]
    private struct Entry
    {
        public ulong Page;
        public ulong Shape;
        public ulong Frame;
        public ulong Outcome;
    }
}
