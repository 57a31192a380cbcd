using System.Runtime.CompilerServices;

namespace VtdEngine.Iotlb.Probing;

/// <summary>The reference tag compare: eight scalar comparisons. Every vector width is tested against it.</summary>
internal readonly struct ScalarProbe : IProbe
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Match(ref ulong tags, ulong tag)
    {
        uint mask = 0;
        for (int i = 0; i < TagProbe.Ways; i++)
        {
            // Branch-free so the loop unrolls to compares and ORs.
            mask |= (Unsafe.Add(ref tags, i) == tag ? 1u : 0u) << i;
        }

        return mask;
    }
}
