using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VtdEngine.Iotlb.Probing;

/// <summary>Tag compare of the whole 64-byte set in one 512-bit compare (AVX-512 <c>vpcmpeqq</c> into a mask register).</summary>
internal readonly struct V512Probe : IProbe
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Match(ref ulong tags, ulong tag) =>
        (uint)Vector512.Equals(Vector512.LoadUnsafe(ref tags), Vector512.Create(tag)).ExtractMostSignificantBits();
}
