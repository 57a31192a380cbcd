using System.Runtime.CompilerServices;
using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>
/// The last few translations a burst got from the IOTLB for its current requester, each good for its whole page — a
/// 2 MiB entry serves every 4 KiB page inside it, as one hardware IOTLB entry does — so the descriptor, buffer and
/// completion pages a NIC burst interleaves are looked up in the IOTLB once per burst rather than once per request.
/// </summary>
/// <remarks>
/// Lives on the stack of one burst call and is emptied when the requester changes, so it never outlives the moment
/// the burst was issued (the burst contract of <see cref="TranslationUnit.Translate(ReadOnlySpan{DmaRequest}, Span{TranslationResult})"/>).
/// The IOTLB itself tags a large page by the 4 KiB page that filled it (a fractured entry), so without this window
/// every further 4 KiB page of a 2 MiB buffer would walk once.
/// </remarks>
internal struct RecentTranslations
{
    private const int Capacity = 4;

    private Slots _slots;
    private int _count;
    private int _next;
    private int _last;

    /// <summary>The index of the translation whose page holds <paramref name="address"/>, or -1.</summary>
    /// <remarks>The slot found last is tried first: the payload TLPs of one buffer come in a row.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(ulong address)
    {
        ref readonly var last = ref _slots[_last];
        if ((address & last.PageMask) == last.PageBase && _count != 0)
        {
            return _last;
        }
        for (var i = 0; i < _count; i++)
        {
            ref readonly var slot = ref _slots[i];
            if ((address & slot.PageMask) == slot.PageBase)
            {
                _last = i;
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// The result for <paramref name="request"/> from slot <paramref name="index"/> (from <see cref="Find"/>), or false
    /// when the cached rights do not settle the access and the request must look further.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool TryTranslate(int index, in DmaRequest request, out TranslationResult result)
    {
        ref readonly var slot = ref _slots[index];
        if (!TranslationUnit.Permits(slot.Entry, request))
        {
            result = default;
            return false;
        }
        result = new(slot.Frame | (request.Address & ~slot.PageMask), slot.Outcome);
        return true;
    }

    /// <summary>
    /// Remembers <paramref name="entry"/>, the translation of <paramref name="address"/>, in place of
    /// <paramref name="replace"/> (a slot of the same page whose rights did not settle the access) or of the oldest.
    /// </summary>
    /// <param name="address">The address the entry was found for.</param>
    /// <param name="entry">The IOTLB entry.</param>
    /// <param name="replace">The slot to overwrite, or -1.</param>
    public void Remember(ulong address, in IotlbEntry entry, int replace)
    {
        int index;
        if (replace >= 0)
        {
            index = replace;
        }
        else if (_count < Capacity)
        {
            index = _count++;
        }
        else
        {
            index = _next;
            _next = (_next + 1) & (Capacity - 1);
        }
        var mask = CoverageMask(address, entry);
        _last = index;
        ref var slot = ref _slots[index];
        slot.PageBase = address & mask;
        slot.PageMask = mask;
        slot.Frame = entry.Translate(address & mask); // the covered range's output base, also when narrowed to 4 KiB
        slot.Entry = entry;
        slot.Outcome = TranslationUnit.HitOutcome(entry);
    }

    /// <summary>
    /// The mask of the input range <paramref name="entry"/> may serve: its whole page, unless the page's input or output
    /// range overlaps the interrupt window 0xFEE0_0000–0xFEEF_FFFF (VT-d §3.14, §3.15). There the walk decides per
    /// address — an input inside it is an interrupt message, an output inside it a fault — and the IOTLB, which tags
    /// an entry with the 4 KiB page that filled it, never lets one page's success answer another's; neither may we.
    /// </summary>
    private static ulong CoverageMask(ulong address, in IotlbEntry entry)
    {
        var pageMask = ~entry.Size.OffsetMask();
        var last = entry.Size.OffsetMask();
        var inputBase = address & pageMask;
        return Overlaps(inputBase, last) || Overlaps(entry.PageFrame, last) ? ~PageSize.Size4K.OffsetMask() : pageMask;

        static bool Overlaps(ulong start, ulong length) =>
            start < Walker.InterruptRangeEnd && start + length >= Walker.InterruptRangeBase;
    }

    /// <summary>Forgets everything: the requester changed.</summary>
    public void Clear()
    {
        _count = 0;
        _next = 0;
        _last = 0;
    }

    /// <summary>One remembered translation: the input range it serves, that range's output base, and what a hit reports.</summary>
    private struct Slot
    {
        public ulong PageBase;
        public ulong PageMask;
        public ulong Frame;
        public ulong Outcome;
        public IotlbEntry Entry;
    }

    [InlineArray(Capacity)]
    private struct Slots
    {
        private Slot _first;
    }
}
