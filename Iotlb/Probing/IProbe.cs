namespace VtdEngine.Iotlb.Probing;

/// <summary>A tag-compare strategy for one 8-way set; each vector width and the scalar twin implement it.</summary>
internal interface IProbe
{
    /// <summary>Bit <c>i</c> of the result is set when <c>Unsafe.Add(ref tags, i) == tag</c>, for <c>i</c> in 0..7.</summary>
    /// <param name="tags">The first of 8 consecutive tag words.</param>
    /// <param name="tag">The tag to find.</param>
    static abstract uint Match(ref ulong tags, ulong tag);
}
