namespace VtdEngine.Tables;

/// <summary>
/// Host physical memory as the remapping hardware sees it: 4 KiB frames of 512 little-endian qwords.
/// </summary>
/// <remarks>
/// Embedders put their simulator's RAM behind this interface. A frame with no backing memory is an empty span;
/// the walker turns a read of it into the spec's access-error fault (e.g. SRT.1, SFS.1), never an exception.
/// Implementations must return the same storage for a frame every time (the walker updates A/D flags in place with
/// <see cref="Interlocked.CompareExchange(ref ulong, ulong, ulong)"/>), and must be safe for concurrent readers.
/// </remarks>
public interface IPhysicalMemory
{
    /// <summary>The frame with number <paramref name="frameNumber"/> (address >> 12), or an empty span when unbacked.</summary>
    Span<ulong> GetFrame(ulong frameNumber);
}
