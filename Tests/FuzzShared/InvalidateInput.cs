using System.Buffers.Binary;

namespace VtdEngine.Fuzzing;

/// <summary>What one decoded operation of the invalidate target does.</summary>
public enum InvalidateOpKind : byte
{
    /// <summary>Software writes one image qword (a table update).</summary>
    Write,

    /// <summary>Software issues one invalidation, then every probe runs.</summary>
    Invalidate,

    /// <summary>One probe request runs (filling the caches).</summary>
    ProbeOne,

    /// <summary>Every probe request runs.</summary>
    ProbeAll,
}

/// <summary>One decoded operation of the invalidate target.</summary>
/// <param name="Kind">What it does.</param>
/// <param name="Address">Qword written (<see cref="InvalidateOpKind.Write"/>).</param>
/// <param name="Value">Value written, or XOR-ed into the old value when <paramref name="Xor"/>.</param>
/// <param name="Xor">Whether <paramref name="Value"/> is a bit-flip mask.</param>
/// <param name="Invalidation">The descriptor (<see cref="InvalidateOpKind.Invalidate"/>).</param>
/// <param name="Probe">Probe index (<see cref="InvalidateOpKind.ProbeOne"/>).</param>
public readonly record struct InvalidateOp(InvalidateOpKind Kind, ulong Address, ulong Value, bool Xor, InvalidationRequest Invalidation, int Probe);

/// <summary>
/// "Input bytes → image + operations" for the invalidate target: a <see cref="FuzzImage"/> followed by 12-byte operations
/// that update tables, invalidate and translate, driving <see cref="TranslationUnit.Invalidate(in InvalidationRequest)"/>.
/// </summary>
/// <remarks>
/// Operation bytes: b0 bits 1:0 the kind. Write: b1 = image slot (mod the slot count), b2..b9 = value, b10 bit 0 =
/// XOR into the old value. Invalidate: b1 bits 3:0 = <see cref="InvalidationKind"/> (14 and 15 are undefined kinds),
/// b2..b3 = DID, b4..b6 = PASID (24 bits, so some exceed 20), b7..b8 = source-id, b9 = [4 S][3 IH][2:0 FM (4..7
/// invalid)], b10 = AM, b11 = page (bit 7 set: near the probes' second address). ProbeOne: b1 = probe index.
/// </remarks>
public static class InvalidateInput
{
    /// <summary>Bytes per operation.</summary>
    public const int OpBytes = 12;

    /// <summary>Operations decoded at most.</summary>
    public const int MaxOps = 32;

    /// <summary>The fixed probe set: every device, without PASID and with PASIDs 1 and 65, a read of one page and a write of another.</summary>
    public static IReadOnlyList<FuzzRequest> Probes { get; } = BuildProbes();

    /// <summary>Decodes an input.</summary>
    public static (FuzzImage Image, List<InvalidateOp> Ops) Decode(ReadOnlySpan<byte> input)
    {
        var image = FuzzImage.Decode(input, out var rest);
        var ops = new List<InvalidateOp>();
        while (rest.Length >= OpBytes && ops.Count < MaxOps)
        {
            ops.Add(DecodeOp(rest[..OpBytes], image));
            rest = rest[OpBytes..];
        }
        return (image, ops);
    }

    /// <summary>Decodes one operation.</summary>
    public static InvalidateOp DecodeOp(ReadOnlySpan<byte> b, FuzzImage image)
    {
        switch ((InvalidateOpKind)(b[0] & 3))
        {
            case InvalidateOpKind.Write:
                var slot = b[1] % image.SlotAddresses.Count;
                return new InvalidateOp(InvalidateOpKind.Write, image.SlotAddresses[slot], BinaryPrimitives.ReadUInt64LittleEndian(b[2..10]),
                    (b[10] & 1) != 0, default, 0);
            case InvalidateOpKind.Invalidate:
                var page = (b[11] & 0x80) != 0 ? 0x4020_0000UL + ((ulong)(b[11] & 0x7F) << 12) : (ulong)b[11] << 12;
                var request = new InvalidationRequest(
                    (InvalidationKind)(b[1] & 0xF),
                    DomainId: BinaryPrimitives.ReadUInt16LittleEndian(b[2..4]),
                    Pasid: (uint)(b[4] | (b[5] << 8) | (b[6] << 16)),
                    SourceId: BinaryPrimitives.ReadUInt16LittleEndian(b[7..9]),
                    FunctionMask: (byte)(b[9] & 7),
                    Address: page,
                    AddressMask: b[10],
                    InvalidationHint: (b[9] & 8) != 0,
                    SizeBit: (b[9] & 0x10) != 0);
                return new InvalidateOp(InvalidateOpKind.Invalidate, 0, 0, false, request, 0);
            case InvalidateOpKind.ProbeOne:
                return new InvalidateOp(InvalidateOpKind.ProbeOne, 0, 0, false, default, b[1] % Probes.Count);
            default:
                return new InvalidateOp(InvalidateOpKind.ProbeAll, 0, 0, false, default, 0);
        }
    }

    /// <summary>Encodes a write of <paramref name="value"/> to the image slot at <paramref name="address"/>.</summary>
    public static byte[] EncodeWrite(bool scalable, ulong address, ulong value, bool xor = false)
    {
        var slot = -1;
        var slots = FuzzImage.Slots(scalable);
        for (var i = 0; i < slots.Count; i++)
        {
            if (slots[i] == address)
            {
                slot = i;
                break;
            }
        }
        if (slot is < 0 or > 255)
        {
            throw new ArgumentException($"0x{address:x} is not an encodable image slot.", nameof(address));
        }
        var bytes = new byte[OpBytes];
        bytes[0] = (byte)InvalidateOpKind.Write;
        bytes[1] = (byte)slot;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(2, 8), value);
        bytes[10] = (byte)(xor ? 1 : 0);
        return bytes;
    }

    /// <summary>Encodes an invalidation (the page is taken from bits 19:12 of the address only).</summary>
    public static byte[] EncodeInvalidate(in InvalidationRequest request)
    {
        var bytes = new byte[OpBytes];
        bytes[0] = (byte)InvalidateOpKind.Invalidate;
        bytes[1] = (byte)request.Kind;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2, 2), request.DomainId);
        bytes[4] = (byte)request.Pasid;
        bytes[5] = (byte)(request.Pasid >> 8);
        bytes[6] = (byte)(request.Pasid >> 16);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(7, 2), request.SourceId);
        bytes[9] = (byte)((request.FunctionMask & 7) | (request.InvalidationHint ? 8 : 0) | (request.SizeBit ? 0x10 : 0));
        bytes[10] = request.AddressMask;
        bytes[11] = (byte)(request.Address >> 12);
        return bytes;
    }

    /// <summary>Encodes a probe of one request, or of all.</summary>
    public static byte[] EncodeProbe(int index = -1)
    {
        var bytes = new byte[OpBytes];
        bytes[0] = (byte)(index < 0 ? InvalidateOpKind.ProbeAll : InvalidateOpKind.ProbeOne);
        bytes[1] = (byte)Math.Max(index, 0);
        return bytes;
    }

    private static FuzzRequest[] BuildProbes()
    {
        var probes = new List<FuzzRequest>();
        foreach (var device in FuzzImage.Devices)
        {
            foreach (var pasid in (ReadOnlySpan<uint>)[DmaRequest.NoPasid, 1, 65])
            {
                // The unit and a port ask the same questions: the port answers from copies of IOTLB hits, which must go stale no later than the IOTLB.
                foreach (var op in (ReadOnlySpan<RequestOp>)[RequestOp.Translate, RequestOp.Port])
                {
                    probes.Add(new FuzzRequest(new DmaRequest(device, 0x1000, AccessKind.Read, pasid), op));
                    probes.Add(new FuzzRequest(new DmaRequest(device, 0x4020_1000, AccessKind.Write, pasid), op));
                }
            }
        }
        return [.. probes];
    }
}
