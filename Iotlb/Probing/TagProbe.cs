using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace VtdEngine.Iotlb.Probing;

/// <summary>The set probe: one generic kernel over an <see cref="IProbe"/> strategy, dispatched by vector width.</summary>
/// <remarks>
/// Dispatch follows dotnet/runtime: <c>IsHardwareAccelerated</c> is read at each use (it is a JIT-time constant, so
/// the untaken branches vanish) and never cached. Tests call <see cref="Match{TProbe}(ReadOnlySpan{ulong}, ulong)"/>
/// with each strategy directly and compare against <see cref="ScalarProbe"/>.
/// </remarks>
internal static class TagProbe
{
    /// <summary>Ways per set: one 64-byte line of 8-byte tags.</summary>
    internal const int Ways = 8;

    /// <summary>Match mask of <paramref name="tag"/> against the 8 tags at <paramref name="tags"/>, widest accelerated path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Match(ref ulong tags, ulong tag)
    {
        if (Vector512.IsHardwareAccelerated && Vector512<ulong>.IsSupported)
        {
            return Match<V512Probe>(ref tags, tag);
        }

        if (Vector256.IsHardwareAccelerated && Vector256<ulong>.IsSupported)
        {
            return Match<V256Probe>(ref tags, tag);
        }

        if (Vector128.IsHardwareAccelerated && Vector128<ulong>.IsSupported)
        {
            return Match<V128Probe>(ref tags, tag);
        }

        return Match<ScalarProbe>(ref tags, tag);
    }

    /// <summary>The kernel: the strategy's compare, restricted to the 8 ways.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Match<TProbe>(ref ulong tags, ulong tag)
        where TProbe : struct, IProbe => TProbe.Match(ref tags, tag) & 0xFF;

    /// <summary>Bounds-checked entry for tests: <paramref name="set"/> must hold at least 8 tags.</summary>
    internal static uint Match<TProbe>(ReadOnlySpan<ulong> set, ulong tag)
        where TProbe : struct, IProbe
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(set.Length, Ways, nameof(set));
        return Match<TProbe>(ref MemoryMarshal.GetReference(set), tag);
    }
}
