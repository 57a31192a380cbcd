using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VtdEngine.Iotlb.Probing;

/// <summary>Tag compare with four 128-bit compares (SSE4.1 <c>pcmpeqq</c> / AdvSimd).</summary>
internal readonly struct V128Probe : IProbe
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Match(ref ulong tags, ulong tag)
    {
        Vector128<ulong> needle = Vector128.Create(tag);
        uint m0 = Vector128.Equals(Vector128.LoadUnsafe(ref tags, 0), needle).ExtractMostSignificantBits();
        uint m1 = Vector128.Equals(Vector128.LoadUnsafe(ref tags, 2), needle).ExtractMostSignificantBits();
        uint m2 = Vector128.Equals(Vector128.LoadUnsafe(ref tags, 4), needle).ExtractMostSignificantBits();
        uint m3 = Vector128.Equals(Vector128.LoadUnsafe(ref tags, 6), needle).ExtractMostSignificantBits();
        return m0 | (m1 << 2) | (m2 << 4) | (m3 << 6);
    }
}
