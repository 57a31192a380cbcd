using System.Runtime.CompilerServices;

namespace VtdEngine.Iotlb.Storage;

/// <summary>
/// One owner's counter blocks, one per thread that counted: a thread increments its own block with plain stores, so
/// counting shares nothing with other threads and needs no processor-id query (a system call on Linux); readers sum
/// every block.
/// </summary>
/// <typeparam name="TBlock">The counters; padded so that two threads' blocks never share a cache line.</typeparam>
/// <remarks>
/// Each owner type keeps a <see cref="ThreadStaticAttribute"/> cache of "this thread's block of the last owner it
/// counted for" and passes it by reference, so the common case is one thread-local load and one compare. A thread
/// that alternates between owners finds its block again by managed thread id (the slow path). Blocks outlive their
/// threads, so no count is lost; a later thread given the same managed thread id continues the block, which is safe
/// because two live threads never share an id. A slot names its registry by a number, not a reference, so the cache
/// keeps alive only the calling thread's own last slot: neither the registry, nor other threads' blocks, nor any engine
/// (a block that holds references must hold nothing large for the same reason).
/// </remarks>
internal sealed class ThreadCounters<TBlock>
    where TBlock : struct
{
    private static long s_registries;

    private readonly Lock _lock = new();
    private readonly long _id = Interlocked.Increment(ref s_registries);
    private Slot[] _slots = [];

    /// <summary>Every block so far; read their fields with <see cref="Volatile"/> loads.</summary>
    public Slot[] Slots => Volatile.Read(ref _slots);

    /// <summary>The calling thread's block.</summary>
    /// <param name="threadCache">The owner type's thread-static cache of the calling thread's last block.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TBlock For(ref Slot? threadCache)
    {
        var slot = threadCache;
        if (slot is null || slot.OwnerId != _id)
        {
            slot = Attach(ref threadCache);
        }
        return ref slot.Block;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Slot Attach(ref Slot? threadCache)
    {
        var thread = Environment.CurrentManagedThreadId;
        Slot? mine = null;
        foreach (var slot in Slots)
        {
            if (slot.ThreadId == thread)
            {
                mine = slot;
                break;
            }
        }
        if (mine is null)
        {
            mine = new Slot(_id, thread);
            lock (_lock)
            {
                Volatile.Write(ref _slots, [.. _slots, mine]);
            }
        }
        threadCache = mine;
        return mine;
    }

    /// <summary>One thread's block.</summary>
    internal sealed class Slot(long ownerId, int threadId)
    {
        /// <summary>The number of the registry the block belongs to: the thread-static cache is valid only for it.</summary>
        public readonly long OwnerId = ownerId;

        /// <summary>Managed id of the thread that counts in this block.</summary>
        public readonly int ThreadId = threadId;

        /// <summary>The counters.</summary>
        public TBlock Block;
    }
}
