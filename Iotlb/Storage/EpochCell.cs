using System.Runtime.InteropServices;

namespace VtdEngine.Iotlb.Storage;

/// <summary>
/// The IOTLB's invalidation epoch in an object of its own, so that a first-level TLB can watch it without holding the
/// whole IOTLB (a thread's first-level TLB may outlive its unit for as long as the thread's counter cache points at it).
/// </summary>
/// <remarks>Padded so the word shares its cache line with nothing: every first-level call reads it, every invalidation writes it.</remarks>
internal sealed class EpochCell
{
    private Padded _cell;

    /// <summary>The epoch word (see <see cref="IoTlb.InvalidationEpoch"/>).</summary>
    public ref long Value => ref _cell.Value;

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Padded
    {
        [FieldOffset(64)] public long Value;
    }
}
