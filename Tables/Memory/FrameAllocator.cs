namespace VtdEngine.Tables;

/// <summary>
/// Hands out zeroed 4 KiB frames from a physical range, for building remapping structures and page tables.
/// </summary>
/// <remarks>
/// Freed frames are zeroed and reused LIFO, so steady-state map/unmap creates no garbage. Not thread-safe: callers
/// that build tables from several threads serialise on their own lock (the ownership model does).
/// </remarks>
public sealed class FrameAllocator
{
    private readonly IPhysicalMemory _memory;
    private readonly ulong _end;
    private readonly Stack<ulong> _free = new();
    private ulong _next;

    /// <summary>Allocates from <c>[baseAddress, baseAddress + length)</c> of <paramref name="memory"/>.</summary>
    public FrameAllocator(IPhysicalMemory memory, ulong baseAddress, ulong length)
    {
        if ((baseAddress | length) % PhysicalMemoryExtensions.FrameSize != 0)
        {
            throw new ArgumentException("The allocation range must be 4 KiB aligned.", nameof(length));
        }
        _memory = memory;
        _next = baseAddress;
        _end = baseAddress + length;
    }

    /// <summary>Frames currently handed out.</summary>
    public long InUse { get; private set; }

    /// <summary>Returns the address of a zero-filled frame.</summary>
    /// <exception cref="InvalidOperationException">The range is exhausted or not backed by memory.</exception>
    public ulong Allocate()
    {
        if (!TryAllocate(out var address))
        {
            throw new InvalidOperationException("Frame allocator exhausted.");
        }
        return address;
    }

    /// <summary>Takes a zero-filled frame; false when the range is exhausted.</summary>
    public bool TryAllocate(out ulong address)
    {
        if (_free.TryPop(out address))
        {
            InUse++;
            return true;
        }
        if (_next >= _end || _memory.GetFrame(_next >> 12).IsEmpty)
        {
            address = 0;
            return false;
        }
        address = _next;
        _next += PhysicalMemoryExtensions.FrameSize;
        InUse++;
        return true;
    }

    /// <summary>Zeroes a frame and makes it available again.</summary>
    public void Free(ulong address)
    {
        _memory.GetFrame(address >> 12).Clear();
        _free.Push(address);
        InUse--;
    }
}
