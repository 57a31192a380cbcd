using System.Runtime.InteropServices;

namespace VtdEngine;

/// <summary>The kind of memory access a request performs.</summary>
public enum AccessKind : byte
{
    /// <summary>Read.</summary>
    Read = 0,

    /// <summary>Write.</summary>
    Write = 1,

    /// <summary>Atomic (read-modify-write): needs both read and write permission.</summary>
    Atomic = 2,
}

/// <summary>PCIe address type (AT) of a request.</summary>
public enum AddressType : byte
{
    /// <summary>AT=00: an untranslated DMA request, remapped by the engine.</summary>
    Untranslated = 0,

    /// <summary>AT=01: an ATS translation request; the result is a completion, permission denials are not faults.</summary>
    TranslationRequest = 1,

    /// <summary>AT=10: a translated request carrying an HPA; passed through where the context allows device-TLBs.</summary>
    Translated = 2,
}

/// <summary>
/// One DMA request as a device presents it: source-id (bus:dev.fn), optional PASID with privilege, access kind and
/// input address. 16 bytes (PR shares a byte with AT), so four requests fill a cache line.
/// </summary>
/// <remarks>
/// The second eight bytes are also read as one word, so a first-level TLB compares requester, access kind and privilege
/// with one load (see <see cref="ShapeWord"/>). The word's layout is little-endian, as on every platform .NET runs on;
/// <see cref="RequesterWord"/> relies on it to clear the access-kind byte, and tests check that equal words mean equal
/// requests apart from the address (and, for the requester word, apart from the access kind). The constructor builds
/// that word in a register and stores it as one word, after the compiler's zeroing of the narrow fields it overlaps:
/// a later one-word load is then served by that one store, whereas four narrow stores read back as one word would
/// stall store-to-load forwarding on every request a caller builds just before translating it.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public readonly struct DmaRequest
{
    /// <summary>The PASID value used when a request carries none.</summary>
    public const uint NoPasid = uint.MaxValue;

    private const byte PrivilegedFlag = 0x80;

    [FieldOffset(0)] private readonly ulong _address;
    [FieldOffset(8)] private readonly uint _pasid;
    [FieldOffset(12)] private readonly ushort _sourceId;
    [FieldOffset(14)] private readonly byte _access;
    [FieldOffset(15)] private readonly byte _addressTypeAndPrivileged;

    /// <summary>Bytes 8..15 as one word: [63 PR][62:56 AT][55:48 access kind][47:32 source id][31:0 PASID].</summary>
    [FieldOffset(8)] private readonly ulong _shape;

    /// <summary>Creates a request.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="access"/> or <paramref name="addressType"/> is not a defined value.</exception>
    public DmaRequest(ushort sourceId, ulong address, AccessKind access, uint pasid = NoPasid, bool privileged = false,
        AddressType addressType = AddressType.Untranslated)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((byte)access, (byte)AccessKind.Atomic, nameof(access));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((byte)addressType, (byte)AddressType.Translated, nameof(addressType));
        _address = address;
        _shape = pasid | ((ulong)sourceId << 32) | ((ulong)access << 48)
            | ((ulong)((byte)addressType | (privileged ? PrivilegedFlag : 0)) << 56);
    }

    /// <summary>Input address (IOVA, GVA or GPA depending on the translation type).</summary>
    public ulong Address => _address;

    /// <summary>PASID, or <see cref="NoPasid"/> for a request without PASID.</summary>
    public uint Pasid => _pasid;

    /// <summary>Requester id: bus in bits 15:8, devfn in bits 7:0.</summary>
    public ushort SourceId => _sourceId;

    /// <summary>Everything but the address in one word: equal words, equal requests apart from the address.</summary>
    internal ulong ShapeWord => _shape;

    /// <summary>
    /// <see cref="ShapeWord"/> with the access kind cleared: equal words, the same requester with the same privilege
    /// and address type, whatever it reads or writes.
    /// </summary>
    internal ulong RequesterWord => _shape & ~(0xFFUL << 48);

    /// <summary>Access kind.</summary>
    public AccessKind Access => (AccessKind)_access;

    /// <summary>Privileged-mode-requested (PR) of the PASID TLP prefix; meaningful only with a PASID.</summary>
    public bool Privileged => (_addressTypeAndPrivileged & PrivilegedFlag) != 0;

    /// <summary>PCIe AT field.</summary>
    public AddressType AddressType => (AddressType)(_addressTypeAndPrivileged & ~PrivilegedFlag);

    /// <summary>Whether the request carries a PASID.</summary>
    public bool HasPasid => Pasid != NoPasid;

    /// <summary>Bus number.</summary>
    public byte Bus => (byte)(SourceId >> 8);

    /// <summary>Device/function number.</summary>
    public byte DevFn => (byte)SourceId;

    /// <summary>Source-id from bus, device and function.</summary>
    public static ushort MakeSourceId(byte bus, int device, int function) =>
        (ushort)((bus << 8) | ((device & 0x1F) << 3) | (function & 7));

    /// <inheritdoc />
    public override string ToString() =>
        $"{Bus:x2}:{DevFn >> 3:x2}.{DevFn & 7} {(HasPasid ? $"pasid {Pasid:x}{(Privileged ? " priv" : "")} " : "")}{Access} 0x{Address:x}";
}
