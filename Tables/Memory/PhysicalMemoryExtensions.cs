using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace VtdEngine.Tables;

/// <summary>Qword and byte access to an <see cref="IPhysicalMemory"/> on top of its frames.</summary>
public static class PhysicalMemoryExtensions
{
    /// <summary>Page size of a frame.</summary>
    public const int FrameSize = 4096;

    /// <summary>Reads the naturally aligned qword at <paramref name="address"/>; false when the frame is unbacked.</summary>
    public static bool TryRead64(this IPhysicalMemory memory, ulong address, out ulong value)
    {
        var frame = memory.GetFrame(address >> 12);
        if (frame.IsEmpty)
        {
            value = 0;
            return false;
        }
        value = Volatile.Read(ref frame[(int)((address >> 3) & 511)]);
        return true;
    }

    /// <summary>Writes the naturally aligned qword at <paramref name="address"/>; false when the frame is unbacked.</summary>
    public static bool TryWrite64(this IPhysicalMemory memory, ulong address, ulong value)
    {
        var frame = memory.GetFrame(address >> 12);
        if (frame.IsEmpty)
        {
            return false;
        }
        Volatile.Write(ref frame[(int)((address >> 3) & 511)], value);
        return true;
    }

    /// <summary>Reads a qword and throws when the address is unbacked: for builders and tests, not for the walker.</summary>
    public static ulong Read64(this IPhysicalMemory memory, ulong address) =>
        memory.TryRead64(address, out var value) ? value : throw NotBacked(address);

    /// <summary>Writes a qword and throws when the address is unbacked: for builders and tests, not for the walker.</summary>
    public static void Write64(this IPhysicalMemory memory, ulong address, ulong value)
    {
        if (!memory.TryWrite64(address, value))
        {
            throw NotBacked(address);
        }
    }

    /// <summary>Copies bytes out of memory; false (with <paramref name="destination"/> partly filled) on an unbacked frame.</summary>
    public static bool TryReadBytes(this IPhysicalMemory memory, ulong address, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            var frame = MemoryMarshal.AsBytes(memory.GetFrame(address >> 12));
            if (frame.IsEmpty)
            {
                return false;
            }
            var offset = (int)(address & (FrameSize - 1));
            var count = Math.Min(FrameSize - offset, destination.Length);
            frame.Slice(offset, count).CopyTo(destination);
            destination = destination[count..];
            address += (ulong)count;
        }
        return true;
    }

    /// <summary>Copies bytes into memory; false (with a prefix written) on an unbacked frame.</summary>
    public static bool TryWriteBytes(this IPhysicalMemory memory, ulong address, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            var frame = MemoryMarshal.AsBytes(memory.GetFrame(address >> 12));
            if (frame.IsEmpty)
            {
                return false;
            }
            var offset = (int)(address & (FrameSize - 1));
            var count = Math.Min(FrameSize - offset, source.Length);
            source[..count].CopyTo(frame.Slice(offset, count));
            source = source[count..];
            address += (ulong)count;
        }
        return true;
    }

    /// <summary>Reads a little-endian dword; false when unbacked.</summary>
    public static bool TryRead32(this IPhysicalMemory memory, ulong address, out uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        var ok = memory.TryReadBytes(address, bytes);
        value = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        return ok;
    }

    /// <summary>Writes a little-endian dword; false when unbacked.</summary>
    public static bool TryWrite32(this IPhysicalMemory memory, ulong address, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return memory.TryWriteBytes(address, bytes);
    }

    private static ArgumentOutOfRangeException NotBacked(ulong address) =>
        new(nameof(address), $"No memory backs physical address 0x{address:X}.");
}
