namespace VtdEngine.Tables;

/// <summary>
/// A sparse 52-bit physical address space: RAM ranges are declared up front, frames inside them are allocated
/// zero-filled on first touch, and everything outside them reads as unbacked (an access error to the walker).
/// </summary>
/// <remarks>
/// Frames hang off a three-level radix of arrays (14 + 13 + 13 bits of frame number). Lookups take no lock: every
/// level is published with <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>, so a reader sees either null
/// (and takes the allocation path) or a fully constructed array. Declaring RAM takes a lock; it is not a hot path.
/// </remarks>
public sealed class SparsePhysicalMemory : IPhysicalMemory
{
    /// <summary>Physical address width this model can back (the largest VT-d HAW).</summary>
    public const int AddressWidth = 52;

    private const int LeafBits = 13;
    private const int MiddleBits = 13;
    private const int TopBits = AddressWidth - 12 - LeafBits - MiddleBits;

    private readonly ulong[]?[]?[]?[] _top = new ulong[]?[]?[]?[1 << TopBits];
    private readonly Lock _ramLock = new();
    private (ulong FirstFrame, ulong EndFrame)[] _ram = [];

    /// <summary>Creates an address space with no RAM.</summary>
    public SparsePhysicalMemory()
    {
    }

    /// <summary>Creates an address space with one RAM range <c>[0, bytes)</c>.</summary>
    public SparsePhysicalMemory(ulong bytes) => AddRam(0, bytes);

    /// <summary>Declares <c>[baseAddress, baseAddress + length)</c> as RAM. Both must be 4 KiB aligned.</summary>
    public void AddRam(ulong baseAddress, ulong length)
    {
        if ((baseAddress | length) % PhysicalMemoryExtensions.FrameSize != 0)
        {
            throw new ArgumentException("RAM ranges must be 4 KiB aligned.", nameof(length));
        }
        if (length == 0 || baseAddress + length > 1UL << AddressWidth || baseAddress + length < baseAddress)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "RAM must be non-empty and below 2^52.");
        }
        lock (_ramLock)
        {
            _ram = [.. _ram, (baseAddress >> 12, (baseAddress + length) >> 12)];
        }
    }

    /// <summary>Whether the frame lies in declared RAM.</summary>
    public bool IsRam(ulong frameNumber)
    {
        foreach (var (first, end) in Volatile.Read(ref _ram))
        {
            if (frameNumber >= first && frameNumber < end)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Number of frames that have been touched and therefore hold storage.</summary>
    public long AllocatedFrames => Interlocked.Read(ref _allocatedFrames);

    private long _allocatedFrames;

    /// <summary>A deep copy: same RAM ranges, same frame contents. For differential tests and snapshots.</summary>
    public SparsePhysicalMemory Clone()
    {
        var copy = new SparsePhysicalMemory();
        lock (_ramLock)
        {
            copy._ram = [.. _ram];
        }
        for (var i = 0; i < _top.Length; i++)
        {
            var middle = Volatile.Read(ref _top[i]);
            if (middle is null)
            {
                continue;
            }
            for (var j = 0; j < middle.Length; j++)
            {
                var leaf = Volatile.Read(ref middle[j]);
                if (leaf is null)
                {
                    continue;
                }
                for (var k = 0; k < leaf.Length; k++)
                {
                    var frame = Volatile.Read(ref leaf[k]);
                    if (frame is not null)
                    {
                        var frameNumber = ((ulong)(uint)i << (LeafBits + MiddleBits)) | ((ulong)(uint)j << LeafBits) | (uint)k;
                        frame.CopyTo(copy.GetFrame(frameNumber));
                    }
                }
            }
        }
        return copy;
    }

    /// <inheritdoc />
    public Span<ulong> GetFrame(ulong frameNumber)
    {
        // A frame beyond the address width is never RAM (AddRam keeps RAM below 2^52), so AllocateFrame returns empty.
        var frame = AllocatedFrame(frameNumber);
        return frame is not null ? frame : AllocateFrame(frameNumber);
    }

    /// <summary>
    /// The array behind a frame already allocated, or null: for a cache that keeps a frame's storage instead of looking
    /// it up again (a frame's array, once allocated, is its storage for the life of this memory).
    /// </summary>
    internal ulong[]? AllocatedFrame(ulong frameNumber)
    {
        if (frameNumber >> (AddressWidth - 12) != 0)
        {
            return null;
        }
        var middle = _top[(int)(frameNumber >> (LeafBits + MiddleBits))];
        var leaf = middle?[(int)((frameNumber >> LeafBits) & ((1 << MiddleBits) - 1))];
        return leaf?[(int)(frameNumber & ((1 << LeafBits) - 1))];
    }

    private Span<ulong> AllocateFrame(ulong frameNumber)
    {
        if (!IsRam(frameNumber))
        {
            return default;
        }
        ref var middleSlot = ref _top[(int)(frameNumber >> (LeafBits + MiddleBits))];
        var middle = Publish(ref middleSlot, () => new ulong[]?[]?[1 << MiddleBits]);
        ref var leafSlot = ref middle[(int)((frameNumber >> LeafBits) & ((1 << MiddleBits) - 1))];
        var leaf = Publish(ref leafSlot, () => new ulong[]?[1 << LeafBits]);
        ref var frameSlot = ref leaf[(int)(frameNumber & ((1 << LeafBits) - 1))];
        var frame = Volatile.Read(ref frameSlot);
        if (frame is null)
        {
            var fresh = new ulong[512];
            frame = Interlocked.CompareExchange(ref frameSlot, fresh, null);
            if (frame is null)
            {
                Interlocked.Increment(ref _allocatedFrames);
                frame = fresh;
            }
        }
        return frame;
    }

    private static T Publish<T>(ref T? slot, Func<T> create)
        where T : class
    {
        var existing = Volatile.Read(ref slot);
        if (existing is not null)
        {
            return existing;
        }
        var fresh = create();
        return Interlocked.CompareExchange(ref slot, fresh, null) ?? fresh;
    }
}
