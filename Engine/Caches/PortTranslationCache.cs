using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VtdEngine.Iotlb;

namespace VtdEngine;

/// <summary>
/// A port's private first-level TLB: direct-mapped copies of the shared IOTLB's hits, one 4 KiB page per entry, in
/// front of the IOTLB as a core's L1 TLB sits in front of its shared second-level TLB. Only the owning port's thread
/// reads or writes it, so a hit needs no seqlock, no liveness stamps and no fingerprint re-check: one key compare, one
/// permission bit and one load of the IOTLB's invalidation epoch.
/// </summary>
/// <remarks>
/// <para>
/// <b>Why it stays exact.</b> Every copy is taken from a lookup made after <see cref="Synchronize"/> read the IOTLB's
/// <see cref="IoTlb.InvalidationEpoch"/>, and is tagged with the generation that epoch opened. The epoch moves only
/// after an invalidation has taken effect, so while it still reads the same value, no invalidation that could have
/// removed a copied entry has finished: a request served from the copy overlapped that invalidation, which VT-d allows.
/// Once the epoch moves, the next <see cref="Synchronize"/> opens a new generation and every older copy stops matching.
/// Copies of entries the IOTLB later evicts may be served until the next invalidation, as a hardware L1 TLB may.
/// </para>
/// <para>
/// <b>Layout.</b> 32 bytes per entry: the page address with the generation in its low 12 bits; the requester (AT,
/// source id, PASID, compared exactly, so ATS requests and wide PASIDs never match a copy); the output frame with the
/// six-bit answer of <see cref="TranslationUnit.Permits"/> for (access kind, PR) in its low bits; and the outcome word
/// a hit reports. Generations run 1..4095; when they wrap the array is cleared, so a stale copy can never come back.
/// </para>
/// </remarks>
internal sealed class PortTranslationCache
{
    /// <summary>Entries: 8 KiB, so the array stays in the L1 data cache beside the requests and results.</summary>
    internal const int Capacity = 256;

    private const ulong OffsetMask = 0xFFF;
    private const ulong LastGeneration = OffsetMask;
    private const ulong RequesterMultiplier = 0x9E37_79B9_7F4A_7C15UL;

    private readonly Entry[] _entries = new Entry[Capacity];
    private readonly IoTlb _iotlb;
    private long _epoch = -1;
    private ulong _generation;

    internal PortTranslationCache(IoTlb iotlb) => _iotlb = iotlb;

    /// <summary>Opens a new generation when an invalidation has finished since the last call; call before translating.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Synchronize()
    {
        var epoch = _iotlb.InvalidationEpoch;
        if (epoch != _epoch)
        {
            OpenGeneration(epoch);
        }
    }

    /// <summary>The copy's answer for <paramref name="request"/>, or false when there is no copy or it does not grant the access.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTranslate(in DmaRequest request, out TranslationResult result) =>
        TryTranslate(ref MemoryMarshal.GetArrayDataReference(_entries), _generation, request, out result);

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
        for (var i = 0; i < todo.Length; i++)
        {
            if (!TryTranslate(ref entries, generation, todo[i], out done[i]))
            {
                return start + i;
            }
        }
        return requests.Length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryTranslate(ref Entry entries, ulong generation, in DmaRequest request, out TranslationResult result)
    {
        var requester = request.RequesterWord;
        var address = request.Address;
        ref var entry = ref Unsafe.Add(ref entries, Index(address, requester));
        if (entry.Page == ((address & ~OffsetMask) | generation) && entry.Requester == requester
            && ((entry.Frame >> request.AccessAndPrivilege) & 1) != 0)
        {
            result = new((entry.Frame & ~OffsetMask) | (address & OffsetMask), entry.Outcome);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>Copies a hit the IOTLB (or the burst window, from an IOTLB entry) just gave <paramref name="request"/>.</summary>
    /// <param name="request">An untranslated request the IOTLB may serve.</param>
    /// <param name="result">The hit's result.</param>
    /// <param name="entry">The IOTLB entry behind it, for its rights.</param>
    public void Fill(in DmaRequest request, in TranslationResult result, in IotlbEntry entry)
    {
        var requester = request.RequesterWord;
        ref var slot = ref _entries[Index(request.Address, requester)];
        slot.Page = (request.Address & ~OffsetMask) | _generation;
        slot.Requester = requester;
        slot.Frame = (result.Address & ~OffsetMask) | PermissionMasks[PermissionIndex(entry, request.HasPasid)];
        slot.Outcome = result.Outcome;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void OpenGeneration(long epoch)
    {
        _epoch = epoch;
        if (++_generation > LastGeneration)
        {
            Array.Clear(_entries);
            _generation = 1;
        }
    }

    /// <summary>Consecutive pages of one requester take consecutive entries; requesters start at hashed offsets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Index(ulong address, ulong requester) =>
        (int)(((address >> 12) + ((requester * RequesterMultiplier) >> 56)) & (Capacity - 1));

    private static int PermissionIndex(in IotlbEntry entry, bool hasPasid) =>
        ((int)entry.Rights & 0x7F) | ((int)entry.Type << 7) | (hasPasid ? 1 << 10 : 0);

    /// <summary>
    /// <see cref="TranslationUnit.Permits"/> tabulated: for each (rights, type, with PASID) the six answers for (access
    /// kind, PR), so a copy carries the walk's own permission rule instead of a second statement of it.
    /// </summary>
    private static readonly byte[] PermissionMasks = TabulatePermissions();

    private static byte[] TabulatePermissions()
    {
        var masks = new byte[1 << 11];
        for (var index = 0; index < masks.Length; index++)
        {
            var type = (CachedTranslationType)((index >> 7) & 7);
            var entry = new IotlbEntry(0, Tables.PageSize.Size4K, (CachedRights)(index & 0x7F), 0, type);
            var pasid = (index & (1 << 10)) != 0 ? 0u : DmaRequest.NoPasid;
            for (var access = AccessKind.Read; access <= AccessKind.Atomic; access++)
            {
                foreach (var privileged in (ReadOnlySpan<bool>)[false, true])
                {
                    var request = new DmaRequest(0, 0, access, pasid, privileged);
                    if (TranslationUnit.Permits(entry, request))
                    {
                        masks[index] |= (byte)(1 << request.AccessAndPrivilege);
                    }
                }
            }
        }
        return masks;
    }

    /// <summary>One copy; see the class remarks for the words.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 32)]
    private struct Entry
    {
        public ulong Page;
        public ulong Requester;
        public ulong Frame;
        public ulong Outcome;
    }
}
