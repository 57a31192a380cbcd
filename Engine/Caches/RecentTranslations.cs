using System.Diagnostics.CodeAnalysis;
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

    /// <summary>The index of the translation whose page holds <paramref name="address"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Find(ulong address)
    {
        for (var i = 0; i < _count; i++)
        {
            ref readonly var slot = ref _slots[i];
            if ((address & slot.PageMask) == slot.PageBase)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>The translation at <paramref name="index"/> (from <see cref="Find"/>).</summary>
    [UnscopedRef]
    public readonly ref readonly IotlbEntry this[int index] => ref _slots[index].Entry;

    /// <summary>
    /// Remembers <paramref name="entry"/>, the translation of <paramref name="address"/>, in place of
    /// <paramref name="replace"/> (a slot of the same page whose rights did not settle the access) or of the oldest.
    /// </summary>
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
        var mask = ~entry.Size.OffsetMask();
        ref var slot = ref _slots[index];
        slot.PageBase = address & mask;
        slot.PageMask = mask;
        slot.Entry = entry;
    }

    /// <summary>Forgets everything: the requester changed.</summary>
    public void Clear()
    {
        _count = 0;
        _next = 0;
    }

    private struct Slot
    {
        public ulong PageBase;
        public ulong PageMask;
        public IotlbEntry Entry;
    }

    [InlineArray(Capacity)]
    private struct Slots
    {
        private Slot _first;
    }
}
