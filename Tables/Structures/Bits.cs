using System.Runtime.CompilerServices;

namespace VtdEngine.Tables;

/// <summary>Bit-field helpers for spec-numbered fields; <c>hi</c> and <c>lo</c> are inclusive bit numbers within one qword.</summary>
internal static class Bits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Field(ulong value, int hi, int lo) => (value >> lo) & Mask(hi - lo + 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask(int width) => width >= 64 ? ulong.MaxValue : (1UL << width) - 1;

    /// <summary>Bits hi..lo set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Range(int hi, int lo) => hi < lo ? 0 : Mask(hi - lo + 1) << lo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Bit(ulong value, int bit) => ((value >> bit) & 1) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Set(ulong value, int hi, int lo, ulong field) =>
        (value & ~Range(hi, lo)) | ((field & Mask(hi - lo + 1)) << lo);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Set(ulong value, int bit, bool on) => on ? value | (1UL << bit) : value & ~(1UL << bit);

    /// <summary>Address bits 63:12 of a qword.</summary>
    public const ulong PageAddressMask = ~0xFFFUL;

    /// <summary>Bits 63:haw: an address field's reserved upper bits for a host address width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AboveWidth(int haw) => Range(63, haw);
}
