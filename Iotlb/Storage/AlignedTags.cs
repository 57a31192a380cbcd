namespace VtdEngine.Iotlb.Storage;

/// <summary>Owns the one piece of address arithmetic in the IOTLB: aligning the tag array to 64-byte lines.</summary>
internal static class AlignedTags
{
    private const int LineBytes = 64;

    /// <summary>
    /// Allocates <paramref name="count"/> tag words on the pinned object heap plus 7 words of slack, and returns the
    /// array with the index of its first 64-byte-aligned element. The array never moves (pinned), so the offset stays
    /// valid for its lifetime and each set of 8 tags starting at <c>base + 8k</c> is exactly one cache line.
    /// </summary>
    internal static unsafe (ulong[] Tags, int Base) Allocate(int count)
    {
        ulong[] tags = GC.AllocateArray<ulong>(count + 7, pinned: true);
        fixed (ulong* first = tags)
        {
            int misalignedWords = (int)(((nuint)first & (LineBytes - 1)) / sizeof(ulong));
            return (tags, (8 - misalignedWords) & 7);
        }
    }
}
