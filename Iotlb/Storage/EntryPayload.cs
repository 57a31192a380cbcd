using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VtdEngine.Tables;

namespace VtdEngine.Iotlb.Storage;

/// <summary>One way's outputs and exact key, 24 bytes; with its 8-byte tag an entry costs 32 bytes.</summary>
/// <remarks>
/// Layout:
/// <code>
/// Frame  = [63:52 0][51:12 page frame][11:10 0][9:5 rights][4:2 type][1:0 size]
/// Ids    = [63:32 fill stamp][31:16 source id][15:0 domain id]
/// Pasids = [63:41 0][40:21 tag PASID][20:0 lookup PASID key (bit 20 = request without PASID)]
/// </code>
/// The tag holds only an 18-bit fingerprint of (source id, PASID), so the exact key is checked here.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 24)]
internal struct EntryPayload
{
    internal ulong Frame;
    internal ulong Ids;
    internal ulong Pasids;

    /// <summary>Lookup PASID key for a request without PASID: outside the 20-bit PASID space.</summary>
    internal const uint NoPasidKey = 1u << 20;

    internal static ulong PackFrame(in IotlbEntry entry) =>
        entry.PageFrame | ((ulong)entry.Rights << 5) | ((ulong)entry.Type << 2) | (ulong)entry.Size;

    internal static ulong PackIds(ushort domainId, ushort sourceId, uint fillStamp) =>
        domainId | ((ulong)sourceId << 16) | ((ulong)fillStamp << 32);

    internal static ulong PackPasids(uint pasidKey, uint tagPasid) => pasidKey | ((ulong)(tagPasid & 0xF_FFFF) << 21);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static PageSize SizeOf(ulong frame) => (PageSize)(frame & 3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static CachedTranslationType TypeOf(ulong frame) => (CachedTranslationType)((frame >> 2) & 7);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort DomainOf(ulong ids) => (ushort)ids;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort SourceOf(ulong ids) => (ushort)(ids >> 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint StampOf(ulong ids) => (uint)(ids >> 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint LookupPasidOf(ulong pasids) => (uint)pasids & 0x1F_FFFF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint TagPasidOf(ulong pasids) => (uint)(pasids >> 21) & 0xF_FFFF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static IotlbEntry Unpack(ulong frame, ulong ids) =>
        new(frame & IotlbEntry.FrameMask, SizeOf(frame), (CachedRights)((frame >> 5) & 0x7F), DomainOf(ids), TypeOf(frame));
}
