using VtdEngine.Tables;

namespace VtdEngine.Hardware;

/// <summary>What a decoded descriptor asks the queue to do.</summary>
internal enum DescriptorAction : byte
{
    /// <summary>Execute <see cref="InvalidationRequest"/> through <see cref="TranslationUnit.Execute"/>.</summary>
    Invalidate,

    /// <summary>inv_wait: status write and/or completion interrupt.</summary>
    Wait,

    /// <summary>Accepted and ignored (page group/stream responses: no page requests are modelled).</summary>
    NoOp,
}

/// <summary>
/// One invalidation queue descriptor (VT-d §6.5.2), 128 bits (IQA.DW=0) or 256 bits (DW=1): qw0 = bits 63:0,
/// qw1 = 127:64, qw2/qw3 = 255:128 (reserved for every type this model knows). The 7-bit type is qw0 bits 11:9 then 3:0.
/// </summary>
/// <remarks>
/// Types: 1 cc_inv, 2 iotlb_inv, 3 dev_tlb_inv, 4 iec_inv, 5 inv_wait (legacy and scalable mode); 6 p_iotlb_inv,
/// 7 pc_inv, 8 p_dev_tlb_inv (256-bit, scalable mode); 9 page group response and 0xA page stream response (only with
/// ECAP.PRS). Builders encode the fields as the Linux driver does (<c>qi_flush_*</c>).
/// </remarks>
public readonly record struct InvalidationDescriptor(ulong Q0, ulong Q1, ulong Q2 = 0, ulong Q3 = 0)
{
    /// <summary>cc_inv.</summary>
    public const int ContextCacheType = 1;

    /// <summary>iotlb_inv.</summary>
    public const int IotlbType = 2;

    /// <summary>dev_tlb_inv.</summary>
    public const int DeviceTlbType = 3;

    /// <summary>iec_inv.</summary>
    public const int InterruptEntryCacheType = 4;

    /// <summary>inv_wait.</summary>
    public const int WaitType = 5;

    /// <summary>p_iotlb_inv.</summary>
    public const int PasidIotlbType = 6;

    /// <summary>pc_inv.</summary>
    public const int PasidCacheType = 7;

    /// <summary>p_dev_tlb_inv.</summary>
    public const int PasidDeviceTlbType = 8;

    /// <summary>Page group response.</summary>
    public const int PageGroupResponseType = 9;

    /// <summary>Page stream response.</summary>
    public const int PageStreamResponseType = 0xA;

    /// <summary>The 7-bit descriptor type: qw0 bits 11:9 (high) and 3:0 (low).</summary>
    public int Type => (int)((Q0 & 0xF) | ((Q0 >> 5) & 0x70));

    /// <summary>G (bits 5:4) of cc_inv, iotlb_inv, p_iotlb_inv and pc_inv.</summary>
    public int Granularity => (int)Bits.Field(Q0, 5, 4);

    /// <summary>inv_wait IF: raise an invalidation completion event.</summary>
    public bool InterruptFlag => Bits.Bit(Q0, 4);

    /// <summary>inv_wait SW: write <see cref="StatusData"/> to <see cref="StatusAddress"/>.</summary>
    public bool StatusWrite => Bits.Bit(Q0, 5);

    /// <summary>inv_wait FN: fence (later descriptors wait for this one; trivially true here).</summary>
    public bool Fence => Bits.Bit(Q0, 6);

    /// <summary>inv_wait status data (bits 63:32).</summary>
    public uint StatusData => (uint)(Q0 >> 32);

    /// <summary>inv_wait status address (bits 127:66, dword aligned).</summary>
    public ulong StatusAddress => Q1 & ~3UL;

    /// <summary>The descriptor that performs <paramref name="request"/> (the inverse of the queue's decoder).</summary>
    public static InvalidationDescriptor Encode(in InvalidationRequest request)
    {
        var did = (ulong)request.DomainId << 16;
        var pasid = (ulong)(request.Pasid & 0xFFFFF) << 32;
        var page = (request.Address & Bits.PageAddressMask) | (request.InvalidationHint ? 1UL << 6 : 0) | (request.AddressMask & 0x3FUL);
        return request.Kind switch
        {
            InvalidationKind.ContextCacheGlobal => new(ContextCacheType | (1UL << 4), 0),
            InvalidationKind.ContextCacheDomain => new(ContextCacheType | (2UL << 4) | did, 0),
            InvalidationKind.ContextCacheDevice => new(ContextCacheType | (3UL << 4) | did | ((ulong)request.SourceId << 32)
                | ((ulong)(request.FunctionMask & 3) << 48), 0),
            InvalidationKind.IotlbGlobal => new(IotlbType | (1UL << 4), 0),
            InvalidationKind.IotlbDomain => new(IotlbType | (2UL << 4) | did, 0),
            InvalidationKind.IotlbPage => new(IotlbType | (3UL << 4) | did, page),
            InvalidationKind.PasidIotlbPasid => new(PasidIotlbType | (2UL << 4) | did | pasid, 0),
            InvalidationKind.PasidIotlbPage => new(PasidIotlbType | (3UL << 4) | did | pasid, page),
            InvalidationKind.PasidCacheDomain => new(PasidCacheType | did, 0),
            InvalidationKind.PasidCachePasid => new(PasidCacheType | (1UL << 4) | did | pasid, 0),
            InvalidationKind.PasidCacheGlobal => new(PasidCacheType | (3UL << 4), 0),
            InvalidationKind.DeviceTlb => new(DeviceTlbType | ((ulong)request.SourceId << 32),
                (request.Address & Bits.PageAddressMask) | (request.SizeBit ? 1UL : 0)),
            InvalidationKind.PasidDeviceTlb => new(PasidDeviceTlbType | ((ulong)request.SourceId << 16) | pasid,
                (request.Address & Bits.PageAddressMask) | (request.SizeBit ? 1UL << 11 : 0)),
            InvalidationKind.InterruptEntryCache => new(InterruptEntryCacheType, 0),
            _ => new(0, 0),
        };
    }

    /// <summary>An inv_wait descriptor; <paramref name="statusAddress"/> must be dword aligned.</summary>
    public static InvalidationDescriptor Wait(ulong statusAddress = 0, uint statusData = 0, bool statusWrite = false,
        bool interrupt = false, bool fence = false) =>
        new(WaitType | (interrupt ? 1UL << 4 : 0) | (statusWrite ? 1UL << 5 : 0) | (fence ? 1UL << 6 : 0)
            | ((ulong)statusData << 32), statusAddress & ~3UL);

    /// <summary>Writes the descriptor at <paramref name="address"/>: 16 bytes, or 32 when <paramref name="wide"/>.</summary>
    public void Write(IPhysicalMemory memory, ulong address, bool wide)
    {
        memory.Write64(address, Q0);
        memory.Write64(address + 8, Q1);
        if (wide)
        {
            memory.Write64(address + 16, Q2);
            memory.Write64(address + 24, Q3);
        }
    }

    // Bits each type defines in qw0 and qw1 (type bits included); everything else is reserved (VT-d §6.5.2).
    private const ulong TypeBits = 0xFUL | (7UL << 9);
    private const ulong DidBits = 0xFFFFUL << 16;
    private const ulong PasidBits = 0xFFFFFUL << 32;
    private const ulong GranularityBits = 3UL << 4;
    private const ulong PageBits = Bits.PageAddressMask | 0x7F; // ADDR 63:12, IH 6, AM 5:0
    private const ulong PfsidBits = (0xFUL << 12) | (0xFFFUL << 52);

    /// <summary>
    /// Decodes the descriptor for a unit with <paramref name="profile"/> in the given mode, or says which IQEI makes it
    /// invalid. <paramref name="wide"/> is IQA.DW: in 256-bit mode qw2 and qw3 must be zero.
    /// </summary>
    internal InvalidationQueueErrorInfo Decode(CapabilityProfile profile, bool scalableMode, bool wide,
        out DescriptorAction action, out InvalidationRequest request)
    {
        action = DescriptorAction.Invalidate;
        request = default;
        ulong q0Defined, q1Defined;
        switch (Type)
        {
            case ContextCacheType:
                q0Defined = TypeBits | GranularityBits | DidBits | (0xFFFFUL << 32) | (3UL << 48);
                q1Defined = 0;
                break;
            case IotlbType:
                // DW (6) and DR (7) drain hints: nothing is queued in this model, so they are accepted and ignored.
                q0Defined = TypeBits | GranularityBits | (3UL << 6) | DidBits;
                q1Defined = PageBits;
                break;
            case DeviceTlbType when profile.DeviceTlb:
                q0Defined = TypeBits | PfsidBits | (0x1FUL << 16) | (0xFFFFUL << 32);
                q1Defined = Bits.PageAddressMask | 1;
                break;
            case InterruptEntryCacheType:
                q0Defined = TypeBits | (1UL << 4) | (0x1FUL << 27) | (0xFFFFUL << 32);
                q1Defined = 0;
                break;
            case WaitType:
                // PD (bit 7) needs ECAP.PDS, which this model does not report: reserved.
                q0Defined = TypeBits | (7UL << 4) | (0xFFFF_FFFFUL << 32);
                q1Defined = Bits.Range(profile.HostAddressWidth - 1, 2);
                break;
            case PasidIotlbType when scalableMode:
                q0Defined = TypeBits | GranularityBits | DidBits | PasidBits;
                q1Defined = PageBits;
                break;
            case PasidCacheType when scalableMode:
                q0Defined = TypeBits | GranularityBits | DidBits | PasidBits;
                q1Defined = 0;
                break;
            case PasidDeviceTlbType when scalableMode && profile.DeviceTlb:
                q0Defined = TypeBits | (0x1FUL << 4) | PfsidBits | DidBits | PasidBits;
                q1Defined = Bits.PageAddressMask | (1UL << 11) | 1;
                break;
            case PageGroupResponseType or PageStreamResponseType when scalableMode && profile.PageRequests:
                // No page requests are modelled, so no responses are owed: accepted as no-ops.
                action = DescriptorAction.NoOp;
                return InvalidationQueueErrorInfo.NotAvailable;
            default:
                return InvalidationQueueErrorInfo.InvalidDescriptorType;
        }
        if ((Q0 & ~q0Defined) != 0 || (Q1 & ~q1Defined) != 0 || (wide && (Q2 | Q3) != 0))
        {
            return InvalidationQueueErrorInfo.ReservedFieldViolation;
        }
        var did = (ushort)(Q0 >> 16);
        var pasid = (uint)Bits.Field(Q0, 51, 32);
        var address = Q1 & Bits.PageAddressMask;
        var am = (byte)(Q1 & 0x3F);
        var ih = Bits.Bit(Q1, 6);
        InvalidationKind? kind = Type switch
        {
            ContextCacheType => Granularity switch
            {
                1 => InvalidationKind.ContextCacheGlobal,
                2 => InvalidationKind.ContextCacheDomain,
                3 => InvalidationKind.ContextCacheDevice,
                _ => null,
            },
            IotlbType => Granularity switch
            {
                1 => InvalidationKind.IotlbGlobal,
                2 => InvalidationKind.IotlbDomain,
                3 => InvalidationKind.IotlbPage,
                _ => null,
            },
            PasidIotlbType => Granularity switch
            {
                2 => InvalidationKind.PasidIotlbPasid,
                3 => InvalidationKind.PasidIotlbPage,
                _ => null,
            },
            PasidCacheType => Granularity switch
            {
                0 => InvalidationKind.PasidCacheDomain,
                1 => InvalidationKind.PasidCachePasid,
                3 => InvalidationKind.PasidCacheGlobal,
                _ => null,
            },
            DeviceTlbType => InvalidationKind.DeviceTlb,
            PasidDeviceTlbType => InvalidationKind.PasidDeviceTlb,
            InterruptEntryCacheType => InvalidationKind.InterruptEntryCache,
            _ => null,
        };
        if (Type == WaitType)
        {
            action = DescriptorAction.Wait;
            return InvalidationQueueErrorInfo.NotAvailable;
        }
        if (kind is not { } k)
        {
            // A reserved granularity encoding is a reserved-field violation of a valid type.
            return InvalidationQueueErrorInfo.ReservedFieldViolation;
        }
        request = k switch
        {
            InvalidationKind.ContextCacheDomain => new(k, did),
            InvalidationKind.ContextCacheDevice => new(k, did, SourceId: (ushort)(Q0 >> 32), FunctionMask: (byte)Bits.Field(Q0, 49, 48)),
            InvalidationKind.IotlbDomain or InvalidationKind.PasidCacheDomain => new(k, did),
            InvalidationKind.IotlbPage => new(k, did, Address: address, AddressMask: am, InvalidationHint: ih),
            InvalidationKind.PasidIotlbPasid or InvalidationKind.PasidCachePasid => new(k, did, pasid),
            InvalidationKind.PasidIotlbPage => new(k, did, pasid, Address: address, AddressMask: am, InvalidationHint: ih),
            InvalidationKind.DeviceTlb => new(k, SourceId: (ushort)(Q0 >> 32), Address: address, SizeBit: Bits.Bit(Q1, 0)),
            InvalidationKind.PasidDeviceTlb => new(k, Pasid: pasid, SourceId: (ushort)(Q0 >> 16), Address: address,
                SizeBit: Bits.Bit(Q1, 11)),
            _ => new(k),
        };
        // The same validation the C# API applies (PSI, MAMV, PASID kinds in legacy mode).
        return request.Validate(profile, scalableMode) is null
            ? InvalidationQueueErrorInfo.NotAvailable
            : InvalidationQueueErrorInfo.ReservedFieldViolation;
    }
}
