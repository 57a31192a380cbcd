using VtdEngine.Iotlb.Storage;

namespace VtdEngine;

/// <summary>
/// One cache slot holding a multi-word value that lock-free readers copy out whole or not at all: a sequence word
/// (seqlock) in front of the value, so that filling a cache allocates nothing.
/// </summary>
/// <remarks>
/// A writer takes the slot by CAS of the sequence from even <c>s</c> to odd <c>s+1</c> (a full fence, so the odd value
/// is visible before any store of the value), stores the value, and publishes with a release write of <c>s+2</c>
/// (<see cref="SequenceLock"/>, as the IOTLB's sets do).
/// A reader acquires the sequence, copies the value, and after <see cref="Volatile.ReadBarrier"/> (no read before it
/// may complete after a read that follows it) reads the sequence again: an odd or changed sequence means a writer
/// overlapped the copy, which the reader then discards, treating the slot as empty. Readers never write and never wait.
/// A mutable struct: use slots in place (array elements), never through a copy, which would take the lock of the copy.
/// </remarks>
/// <typeparam name="T">The value: plain data, copied with ordinary loads and stores.</typeparam>
internal struct PublishedSlot<T>
    where T : unmanaged
{
    private int _sequence;
    private T _value;

    /// <summary>Copies the value out; false when a writer overlapped the copy.</summary>
    public bool TryRead(out T value)
    {
        var sequence = Volatile.Read(ref _sequence);
        value = _value;
        Volatile.ReadBarrier();
        return (sequence & 1) == 0 && Volatile.Read(ref _sequence) == sequence;
    }

    /// <summary>Replaces the value; concurrent writers of one slot take turns.</summary>
    public void Write(in T value)
    {
        var sequence = SequenceLock.Enter(ref _sequence);
        _value = value;
        SequenceLock.Exit(ref _sequence, sequence);
    }
}
