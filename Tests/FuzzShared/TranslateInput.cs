namespace VtdEngine.Fuzzing;

/// <summary>What the translate target does with one decoded request.</summary>
public enum RequestOp : byte
{
    /// <summary>Translate it with <see cref="TranslationUnit.Translate(in DmaRequest)"/>.</summary>
    Translate,

    /// <summary>Translate it through the batch API.</summary>
    Batch,

    /// <summary>Re-latch the root table (SRTP flushes every cache), then translate.</summary>
    Relatch,

    /// <summary>Translate it through the harness's <see cref="TranslationPort"/> (its first-level TLB stays warm across requests).</summary>
    Port,

    /// <summary>Translate it through the port's burst API.</summary>
    PortBatch,
}

/// <summary>One decoded request of the translate target.</summary>
public readonly record struct FuzzRequest(DmaRequest Request, RequestOp Op);

/// <summary>
/// "Input bytes → image + requests" for the translate target: a <see cref="FuzzImage"/> followed by 6-byte requests.
/// </summary>
/// <remarks>
/// Request bytes: b0 = [7 PASID present][6 PR][5:4 AT (3 = untranslated)][3:2 access (3 = read)][1:0 device];
/// b1 = PASID (bit 7 set: bits 6:0 shifted left by 14, reaching past every PASID width); b2 = level indices 1..4
/// (2 bits each, into the input's paging slots 0..3); b3 = [7:5 op][4:2 high-address form][1:0 level-5 index];
/// b4..b5 = [15:12 per-level "index + 4" bits for levels 1..4 (entries outside the input: zero)][11:0 page offset].
/// Op 4 uses a port's burst API, op 5 a port, op 6 the unit's burst API and op 7 re-latches the root table first;
/// the rest translate through the unit.
/// </remarks>
public static class TranslateInput
{
    /// <summary>Bytes per request.</summary>
    public const int RequestBytes = 6;

    /// <summary>Requests decoded at most (bounds the run time of one input).</summary>
    public const int MaxRequests = 48;

    /// <summary>Decodes an input.</summary>
    public static (FuzzImage Image, List<FuzzRequest> Requests) Decode(ReadOnlySpan<byte> input)
    {
        var image = FuzzImage.Decode(input, out var rest);
        var requests = new List<FuzzRequest>();
        while (rest.Length >= RequestBytes && requests.Count < MaxRequests)
        {
            requests.Add(DecodeRequest(rest[..RequestBytes]));
            rest = rest[RequestBytes..];
        }
        return (image, requests);
    }

    /// <summary>Decodes one 6-byte request.</summary>
    public static FuzzRequest DecodeRequest(ReadOnlySpan<byte> b)
    {
        var device = FuzzImage.Devices[b[0] & 3];
        var access = ((b[0] >> 2) & 3) switch
        {
            1 => AccessKind.Write,
            2 => AccessKind.Atomic,
            _ => AccessKind.Read,
        };
        var addressType = ((b[0] >> 4) & 3) switch
        {
            1 => AddressType.TranslationRequest,
            2 => AddressType.Translated,
            _ => AddressType.Untranslated,
        };
        var privileged = (b[0] & 0x40) != 0;
        var pasid = (b[0] & 0x80) == 0 ? DmaRequest.NoPasid
            : (b[1] & 0x80) != 0 ? (uint)(b[1] & 0x7F) << 14 : (uint)(b[1] & 0x7F);
        var wide = (b[4] | (b[5] << 8)) >> 12;
        var address = (ulong)(b[4] | ((b[5] & 0xF) << 8));
        for (var level = 1; level <= 5; level++)
        {
            var index = level <= 4 ? (b[2] >> (2 * (level - 1))) & 3 : b[3] & 3;
            if (level <= 4 && ((wide >> (level - 1)) & 1) != 0)
            {
                index |= 4;
            }
            address |= (ulong)index << (12 + (9 * (level - 1)));
        }
        address = ((b[3] >> 2) & 7) switch
        {
            1 => address | 0xFFFF_8000_0000_0000,
            2 => address | 0xFF00_0000_0000_0000,
            3 => 0xFEE0_0000 | (address & 0xFFF),
            4 => address | (1UL << 39),
            5 => address | (1UL << 47),
            6 => address | (1UL << 52),
            7 => address | (1UL << 57),
            _ => address,
        };
        var op = (b[3] >> 5) switch
        {
            4 => RequestOp.PortBatch,
            5 => RequestOp.Port,
            6 => RequestOp.Batch,
            7 => RequestOp.Relatch,
            _ => RequestOp.Translate,
        };
        return new FuzzRequest(new DmaRequest(device, address, access, pasid, privileged, addressType), op);
    }

    /// <summary>Encodes a request the way <see cref="DecodeRequest"/> reads it (for seeds and tests).</summary>
    /// <param name="device">Index into <see cref="FuzzImage.Devices"/>.</param>
    /// <param name="indices">Paging slot index per level, level 1 first (0..3; 4..7 reach entries outside the input).</param>
    /// <param name="access">Access kind.</param>
    /// <param name="pasid">PASID (0..127, or a multiple of 2^14 below 2^21), or <see cref="DmaRequest.NoPasid"/>.</param>
    /// <param name="offset">Page offset.</param>
    /// <param name="high">High-address form (0..7).</param>
    /// <param name="addressType">PCIe AT.</param>
    /// <param name="privileged">PR.</param>
    /// <param name="op">Op code (0..7).</param>
    public static byte[] Encode(int device, ReadOnlySpan<int> indices, AccessKind access = AccessKind.Read,
        uint pasid = DmaRequest.NoPasid, int offset = 0, int high = 0, AddressType addressType = AddressType.Untranslated,
        bool privileged = false, int op = 0)
    {
        var b0 = (device & 3) | ((int)access << 2) | ((int)addressType << 4) | (privileged ? 0x40 : 0)
            | (pasid == DmaRequest.NoPasid ? 0 : 0x80);
        var b1 = pasid == DmaRequest.NoPasid ? 0 : pasid < 128 ? (int)pasid : 0x80 | (int)((pasid >> 14) & 0x7F);
        var levels = new int[5];
        indices[..Math.Min(indices.Length, 5)].CopyTo(levels);
        int Index(int level) => levels[level - 1];
        var b2 = (Index(1) & 3) | ((Index(2) & 3) << 2) | ((Index(3) & 3) << 4) | ((Index(4) & 3) << 6);
        var b3 = (Index(5) & 3) | ((high & 7) << 2) | ((op & 7) << 5);
        var wide = 0;
        for (var level = 1; level <= 4; level++)
        {
            if ((Index(level) & 4) != 0)
            {
                wide |= 1 << (level - 1);
            }
        }
        var word = (offset & 0xFFF) | (wide << 12);
        return [(byte)b0, (byte)b1, (byte)b2, (byte)b3, (byte)word, (byte)(word >> 8)];
    }
}
