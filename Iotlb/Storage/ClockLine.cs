using System.Runtime.InteropServices;

namespace VtdEngine.Iotlb.Storage;

/// <summary>The shared clock, the invalidation gate and the global stamp, each on its own cache line.</summary>
/// <remarks>
/// <see cref="Clock"/> and <see cref="Gate"/> are written by every invalidation; <see cref="Global"/> is read by every
/// hit. Padding keeps the hit path's line (and the owning object's hot read-only fields) clear of writer traffic.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 256)]
internal struct ClockLine
{
    /// <summary>The invalidation clock: each invalidation takes <c>++Clock</c> as its stamp.</summary>
    [FieldOffset(64)] internal uint Clock;

    /// <summary>Invalidations in flight (low 31 bits), or bit 31 while the wrap reset holds everything.</summary>
    [FieldOffset(68)] internal int Gate;

    /// <summary>Stamp of the last global invalidation.</summary>
    [FieldOffset(192)] internal uint Global;

    /// <summary>The newest stamp any invalidation has raised anywhere: an entry at least this new is live without
    /// looking at its scopes (the hit path's one-load fast case). Read-mostly, beside <see cref="Global"/>.</summary>
    [FieldOffset(196)] internal uint Latest;
}
