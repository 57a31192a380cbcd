using VtdEngine.Tables;

namespace VtdEngine.Hardware;

public sealed partial class RemappingHardwareUnit
{
    // IVA: [63:12 ADDR][6 IH][5:0 AM].
    private const ulong InvalidateAddressWritable = Bits.PageAddressMask | 0x7F;

    private ulong _ccmd;
    private ulong _iva;
    private ulong _iotlb;

    /// <summary>
    /// Register-based invalidation is available only in legacy mode with queued invalidation off: with TTM≠00 (or on
    /// version 6 and later) software must use the queue, and hardware reports the request as an error (CAIG/IAIG = 00).
    /// QEMU still performs them in scalable mode.
    /// </summary>
    private bool RegisterInvalidationAllowed =>
        Unit.Mode == RootTableMode.Legacy && (Profile.Version >> 4) < 6
        && (_gsts & GlobalStatus.QueuedInvalidationEnableStatus) == 0;

    /// <summary>
    /// CCMD high dword: [63 ICC][62:61 CIRG][60:59 CAIG, RO][33:32 FM]. With ICC set, hardware invalidates at the requested
    /// granularity, clears ICC and reports what it did in CAIG (00 = the request was refused).
    /// </summary>
    private void WriteContextCommandHigh(uint value)
    {
        const uint caigMask = 3u << 27;
        var command = ((ulong)(value & ~caigMask) << 32) | (uint)_ccmd;
        if (!Bits.Bit(command, 63))
        {
            _ccmd = (command & ~((ulong)caigMask << 32)) | (_ccmd & ((ulong)caigMask << 32));
            return;
        }
        var did = (ushort)command;
        var granularity = (int)Bits.Field(command, 62, 61);
        InvalidationRequest? request = !RegisterInvalidationAllowed ? null : granularity switch
        {
            1 => InvalidationRequest.ContextCacheGlobal(),
            2 => new InvalidationRequest(InvalidationKind.ContextCacheDomain, did),
            3 => InvalidationRequest.ContextCacheDevice(did, (ushort)(command >> 16), (int)Bits.Field(command, 33, 32)),
            _ => null,
        };
        var actual = 0UL;
        if (request is { } r)
        {
            Unit.Execute(r);
            actual = (ulong)granularity;
        }
        // ICC clears when the invalidation is done; CAIG (60:59) reports the granularity performed.
        _ccmd = (command & ~(1UL << 63) & ~Bits.Range(60, 59)) | (actual << 59);
    }

    /// <summary>
    /// IOTLB_REG high dword: [63 IVT][61:60 IIRG][58:57 IAIG, RO][49 DR][48 DW][47:32 DID]. With IVT set, hardware
    /// invalidates, clears IVT and reports the granularity performed in IAIG. A page-selective request the unit cannot
    /// honour (no CAP.PSI, AM beyond MAMV) is performed domain-selective, which the spec allows hardware to do.
    /// </summary>
    private void WriteIotlbHigh(uint value)
    {
        const uint iaigMask = 3u << 25;
        var command = (ulong)(value & ~iaigMask) << 32;
        if (!Bits.Bit(command, 63))
        {
            _iotlb = command | (_iotlb & ((ulong)iaigMask << 32));
            return;
        }
        var did = (ushort)(command >> 32);
        var granularity = (int)Bits.Field(command, 61, 60);
        var actual = 0;
        if (RegisterInvalidationAllowed && granularity != 0)
        {
            var request = granularity switch
            {
                1 => InvalidationRequest.IotlbGlobal(),
                2 => InvalidationRequest.IotlbDomain(did),
                _ => InvalidationRequest.IotlbPage(did, _iva & Bits.PageAddressMask, (int)(_iva & 0x3F), Bits.Bit(_iva, 6)),
            };
            if (request.Validate(Profile, scalableMode: false) is not null)
            {
                request = InvalidationRequest.IotlbDomain(did);
            }
            Unit.Execute(request);
            actual = request.Kind switch
            {
                InvalidationKind.IotlbGlobal => 1,
                InvalidationKind.IotlbDomain => 2,
                _ => 3,
            };
        }
        _iotlb = (command & ~(1UL << 63)) | ((ulong)actual << 57);
    }
}
