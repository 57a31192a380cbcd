using VtdEngine.Tables;

namespace VtdEngine.Hardware;

/// <summary>
/// Fault recording register FRCD, 128 bits (VT-d §11.4, FRCD_REG), spec bits 127:64 in <see cref="High"/>:
/// lo = [63:12 FI][11:0 reserved];
/// hi = [63 F][62 T1][61:60 AT][59:40 PV][39:32 FR][31 PP][30 EXE][29 PRIV][28 T2][27:16 reserved][15:0 SID].
/// </summary>
public readonly record struct FaultRecord(ulong Low, ulong High)
{
    /// <summary>F (spec bit 127) in <see cref="High"/>: the record holds an unserviced fault (RW1C).</summary>
    public const ulong FaultBit = 1UL << 63;

    /// <summary>F: the register holds a fault software has not cleared.</summary>
    public bool Fault => (High & FaultBit) != 0;

    /// <summary>FI: page address (bits 63:12) of the faulting request.</summary>
    public ulong FaultInfo => Low & Bits.PageAddressMask;

    /// <summary>SID: requester id.</summary>
    public ushort SourceId => (ushort)High;

    /// <summary>T2: with T1, the request type (T1=0: write / page request; T1=1: read / atomic).</summary>
    public bool Type2 => Bits.Bit(High, 28);

    /// <summary>PRIV: the request had PASID with privileged-mode-requested set (valid when PP=1).</summary>
    public bool Privileged => Bits.Bit(High, 29);

    /// <summary>EXE: execute requested (no execute requests exist in VT-d 5.x; always 0).</summary>
    public bool Execute => Bits.Bit(High, 30);

    /// <summary>PP: the request carried a PASID, which <see cref="PasidValue"/> holds.</summary>
    public bool PasidPresent => Bits.Bit(High, 31);

    /// <summary>FR: fault reason.</summary>
    public FaultReason Reason => (FaultReason)(byte)(High >> 32);

    /// <summary>PV: the 20-bit PASID (valid when PP=1).</summary>
    public uint PasidValue => (uint)Bits.Field(High, 59, 40);

    /// <summary>AT: PCIe address type of the request.</summary>
    public AddressType AddressType => (AddressType)Bits.Field(High, 61, 60);

    /// <summary>T1: 0 = write or page request, 1 = read or atomic.</summary>
    public bool Type1 => Bits.Bit(High, 62);

    /// <summary>The access the (T1, T2) pair encodes; page requests (T1=0, T2=1) have no <see cref="AccessKind"/>.</summary>
    public AccessKind? Access => (Type1, Type2) switch
    {
        (false, false) => AccessKind.Write,
        (true, false) => AccessKind.Read,
        (true, true) => AccessKind.Atomic,
        _ => null,
    };

    /// <summary>The record hardware writes for a primary fault on <paramref name="request"/> (F set).</summary>
    public static FaultRecord Create(in DmaRequest request, FaultReason reason)
    {
        // T1/T2 (spec 5.x): write 0/0, page request 0/1, read 1/0, atomic 1/1.
        var t1 = request.Access != AccessKind.Write;
        var t2 = request.Access == AccessKind.Atomic;
        var high = FaultBit
            | (t1 ? 1UL << 62 : 0)
            | ((ulong)((byte)request.AddressType & 3) << 60)
            | ((ulong)(byte)reason << 32)
            | (t2 ? 1UL << 28 : 0)
            | request.SourceId;
        if (request.HasPasid)
        {
            // QEMU keeps only 16 PASID bits and never fills PRIV; the spec's PV is 20 bits.
            high |= ((ulong)(request.Pasid & 0xFFFFF) << 40) | (1UL << 31) | (request.Privileged ? 1UL << 29 : 0);
        }
        return new FaultRecord(request.Address & Bits.PageAddressMask, high);
    }

    /// <inheritdoc />
    public override string ToString() => Fault
        ? $"F {SourceId >> 8:x2}:{(SourceId >> 3) & 0x1F:x2}.{SourceId & 7} FR 0x{(byte)Reason:x2} {Reason} FI 0x{FaultInfo:x} "
            + $"{(Access?.ToString() ?? "PageRequest")} AT {AddressType}{(PasidPresent ? $" pasid {PasidValue:x}{(Privileged ? " priv" : "")}" : "")}"
        : "empty";
}
