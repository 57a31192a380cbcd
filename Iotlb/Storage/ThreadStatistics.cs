using System.Runtime.InteropServices;

namespace VtdEngine.Iotlb.Storage;

/// <summary>One thread's IOTLB counters, padded to two cache lines so two threads' blocks never share a line.</summary>
/// <remarks>128 bytes rather than 64 because the adjacent-line prefetcher pairs lines.</remarks>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct ThreadStatistics
{
    [FieldOffset(0)] internal long Hits;
    [FieldOffset(8)] internal long Misses;
    [FieldOffset(16)] internal FillCounts Fills;
    [FieldOffset(40)] internal long GlobalInvalidations;
    [FieldOffset(48)] internal long DomainInvalidations;
    [FieldOffset(56)] internal long DomainPageInvalidations;
    [FieldOffset(64)] internal long PasidInvalidations;
    [FieldOffset(72)] internal long PasidPageInvalidations;
    [FieldOffset(80)] internal long WidenedInvalidations;
}
