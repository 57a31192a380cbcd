using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VtdEngine.Iotlb.Probing;

/// <summary>Tag compare with two 256-bit compares (AVX2 <c>vpcmpeqq</c> + <c>vmovmskpd</c>).</summary>
internal readonly struct V256Probe : IProbe
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Match(ref ulong tags, ulong tag)
    {
        Vector256<ulong> needle = Vector256.Create(tag);
        uint lo = Vector256.Equals(Vector256.LoadUnsafe(ref tags, 0), needle).ExtractMostSignificantBits();
        uint hi = Vector256.Equals(Vector256.LoadUnsafe(ref tags, 4), needle).ExtractMostSignificantBits();
        return lo | (hi << 4);
    }
}
