using System.Buffers.Binary;
using VtdEngine.Tables;

namespace VtdEngine.Fuzzing;

/// <summary>
/// Small valid inputs per target, built with the Tables entry builders: the committed seed corpus
/// (<c>--make-corpus</c>) and the starting points of the property tests.
/// </summary>
public static class SeedCorpus
{
    private static ulong P(int frame) => FuzzImage.Paging(frame);

    /// <summary>The seeds of <paramref name="target"/> as (file name, bytes).</summary>
    public static IReadOnlyList<(string Name, byte[] Bytes)> For(string target) => target switch
    {
        FuzzTargets.Translate => TranslateSeeds(),
        FuzzTargets.Invalidate => InvalidateSeeds(),
        FuzzTargets.Queue => QueueRegisterInput.Seeds(),
        FuzzTargets.Ownership => OwnershipInput.Seeds(),
        _ => throw new ArgumentException($"Unknown fuzz target '{target}'.", nameof(target)),
    };

    /// <summary>A legacy-mode image: SS 4-level and 3-level devices, a pass-through one and a device-TLB one with FPD.</summary>
    public static Dictionary<ulong, ulong> LegacyImage()
    {
        var m = new Dictionary<ulong, ulong>();
        Root(m, 0, RootEntry.Create(FuzzImage.ContextTableA).Low, 0);
        Root(m, 1, RootEntry.Create(FuzzImage.ContextTableB).Low, 0);
        Context(m, 0, ContextEntry.Create(1, 2, P(0)));
        Context(m, 1, ContextEntry.Create(2, 1, P(1)));
        Context(m, 2, ContextEntry.Create(3, 3, 0, TranslationType.PassThrough));
        Context(m, 3, ContextEntry.Create(4, 2, P(0), TranslationType.UntranslatedWithDeviceTlb, faultProcessingDisable: true));
        SecondStageTables(m);
        return m;
    }

    /// <summary>
    /// A scalable-mode image: every device shares one PASID directory; PASID 0 is second-stage with A/D, 1 first-stage
    /// (4-level, or 5-level when <paramref name="fiveLevel"/>), 2 nested, 3 pass-through; RID_PASIDs are 0..3.
    /// </summary>
    public static Dictionary<ulong, ulong> ScalableImage(bool fiveLevel = false)
    {
        var m = new Dictionary<ulong, ulong>();
        var bus0 = ScalableModeRootEntry.Create(FuzzImage.ContextTableA, FuzzImage.ContextTableB);
        var bus1 = ScalableModeRootEntry.Create(FuzzImage.ContextTableB, 0);
        Root(m, 0, bus0.Low, bus0.High);
        Root(m, 1, bus1.Low, bus1.High);
        var dir = FuzzImage.PasidDirectory;
        ScalableContext(m, 0, ScalableModeContextEntry.Create(dir, 0, deviceTlbEnable: true, ridPasid: 0));
        ScalableContext(m, 1, ScalableModeContextEntry.Create(dir, 0, ridPasid: 1));
        ScalableContext(m, 2, ScalableModeContextEntry.Create(dir, 0, ridPasid: 2, ridPriv: true, faultProcessingDisable: true));
        ScalableContext(m, 3, ScalableModeContextEntry.Create(dir, 0, pasidEnable: false, ridPasid: 3));
        m[dir] = PasidDirectoryEntry.Create(FuzzImage.PasidTable).Value;
        m[dir + 8] = PasidDirectoryEntry.Create(FuzzImage.PasidTable, faultProcessingDisable: true).Value;
        PasidEntry(m, 0, PasidTableEntry.SecondStage(10, P(0), 2, accessedDirty: true));
        PasidEntry(m, 1, fiveLevel
            ? PasidTableEntry.FirstStage(11, P(9), FirstStagePagingMode.FiveLevel, supervisorRequests: true, extendedAccessed: true)
            : PasidTableEntry.FirstStage(11, P(4), supervisorRequests: true, extendedAccessed: true));
        PasidEntry(m, 2, PasidTableEntry.NestedTranslation(12, P(4), P(8), 2, supervisorRequests: true, accessedDirty: true));
        PasidEntry(m, 3, PasidTableEntry.PassThroughTranslation(13));
        SecondStageTables(m);
        FirstStageTables(m);
        return m;
    }

    /// <summary>The header and image bytes for <paramref name="qwords"/> (every key must be an image slot).</summary>
    public static byte[] Image(RootTableMode mode, Dictionary<ulong, ulong> qwords, bool translationEnabled = true, int profile = 0,
        int rootVariant = 0)
    {
        var slots = FuzzImage.Slots(FuzzImage.UsesScalableLayout(mode));
        var bytes = new byte[FuzzImage.HeaderBytes + (slots.Count * 8)];
        FuzzImage.Header(mode, translationEnabled, profile, rootVariant).CopyTo(bytes, 0);
        var placed = 0;
        for (var i = 0; i < slots.Count; i++)
        {
            if (qwords.TryGetValue(slots[i], out var value))
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(FuzzImage.HeaderBytes + (i * 8), 8), value);
                placed++;
            }
        }
        if (placed != qwords.Count)
        {
            throw new ArgumentException("Some qwords are not image slots.", nameof(qwords));
        }
        return bytes;
    }

    private static byte[] Concat(byte[] head, IEnumerable<byte[]> tail) => [.. head, .. tail.SelectMany(t => t)];

    private static List<(string, byte[])> TranslateSeeds()
    {
        var legacy = Image(RootTableMode.Legacy, LegacyImage());
        var legacyRequests = new[]
        {
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Read, offset: 0x10),
            TranslateInput.Encode(0, [1, 0, 0, 0], AccessKind.Write),
            TranslateInput.Encode(0, [1, 0, 0, 0], AccessKind.Read),
            TranslateInput.Encode(0, [0, 1, 0, 0], AccessKind.Atomic),
            TranslateInput.Encode(0, [0, 0, 1, 0], AccessKind.Write),
            TranslateInput.Encode(0, [3, 0, 0, 0], AccessKind.Read),
            TranslateInput.Encode(0, [2, 0, 0, 0], AccessKind.Read),
            TranslateInput.Encode(0, [0, 0, 0, 1], AccessKind.Read),
            TranslateInput.Encode(1, [0, 0, 0], AccessKind.Read, op: 6),
            TranslateInput.Encode(1, [0, 0, 0], AccessKind.Read, high: 4),
            TranslateInput.Encode(2, [1, 2, 3], AccessKind.Write, offset: 0x234),
            TranslateInput.Encode(3, [0, 0, 0, 0], AccessKind.Read, addressType: AddressType.TranslationRequest),
            TranslateInput.Encode(3, [0, 0, 0, 0], AccessKind.Write, addressType: AddressType.Translated),
            TranslateInput.Encode(3, [4, 0, 0, 0], AccessKind.Read),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Read, pasid: 1),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Write, high: 3),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Read, op: 7),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Write),
        };
        var scalableRequests = new[]
        {
            TranslateInput.Encode(0, [1, 0, 0, 0], AccessKind.Write),
            TranslateInput.Encode(0, [1, 0, 0, 0], AccessKind.Read),
            TranslateInput.Encode(1, [0, 0, 0, 0], AccessKind.Write, offset: 0x8),
            TranslateInput.Encode(1, [1, 0, 0, 0], AccessKind.Read),
            TranslateInput.Encode(1, [0, 1, 0, 0], AccessKind.Write),
            TranslateInput.Encode(1, [0, 0, 1, 0], AccessKind.Read),
            TranslateInput.Encode(2, [0, 0, 0, 0], AccessKind.Write),
            TranslateInput.Encode(2, [2, 0, 0, 0], AccessKind.Read),
            TranslateInput.Encode(3, [1, 2, 3, 0], AccessKind.Atomic, op: 6),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Read, pasid: 1),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Write, pasid: 2, privileged: true),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Read, pasid: 0),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Read, pasid: 65),
            TranslateInput.Encode(1, [0, 0, 0, 0], AccessKind.Read, pasid: 3),
            TranslateInput.Encode(1, [0, 0, 0, 0], AccessKind.Read, pasid: 1u << 20),
            TranslateInput.Encode(3, [0, 0, 0, 0], AccessKind.Read, pasid: 1),
            TranslateInput.Encode(0, [0, 0, 0, 0], AccessKind.Read, addressType: AddressType.TranslationRequest),
            TranslateInput.Encode(1, [0, 0, 0, 0], AccessKind.Read, addressType: AddressType.Translated),
            TranslateInput.Encode(1, [0, 0, 0, 0], AccessKind.Read, high: 1),
            TranslateInput.Encode(1, [3, 0, 0, 0], AccessKind.Read, high: 3, pasid: 1),
            TranslateInput.Encode(2, [1, 0, 0, 0], AccessKind.Read, op: 7),
            TranslateInput.Encode(1, [0, 0, 0, 1], AccessKind.Read),
        };
        return
        [
            ("legacy-ss", Concat(legacy, legacyRequests)),
            ("legacy-narrow", Concat(Image(RootTableMode.Legacy, LegacyImage(), profile: 1), legacyRequests)),
            ("scalable-all", Concat(Image(RootTableMode.Scalable, ScalableImage()), scalableRequests)),
            ("scalable-5level", Concat(Image(RootTableMode.Scalable, ScalableImage(fiveLevel: true)), scalableRequests)),
            ("scalable-nosnoop", Concat(Image(RootTableMode.Scalable, ScalableImage(), profile: 2), scalableRequests)),
            ("scalable-cm", Concat(Image(RootTableMode.Scalable, ScalableImage(), profile: 3, rootVariant: 3), scalableRequests)),
            ("abort-and-off", Concat(Image(RootTableMode.AbortDma, ScalableImage(), translationEnabled: false), scalableRequests[..4])),
        ];
    }

    private static List<(string, byte[])> InvalidateSeeds()
    {
        var scalable = ScalableImage();
        var table1 = PasidTableEntry.AddressOf(FuzzImage.PasidTable, 1);
        var context0 = FuzzImage.ContextEntryAddress(FuzzImage.Devices[0], scalable: true);
        var legacyContext0 = FuzzImage.ContextEntryAddress(FuzzImage.Devices[0], scalable: false);
        var scalableOps = new[]
        {
            InvalidateInput.EncodeProbe(),
            // PASID 1 moves from FS tables P4 to P9 (5-level) and domain 11 to 14: PASID-selective, then IOTLB.
            InvalidateInput.EncodeWrite(true, table1 + 16,
                PasidTableEntry.FirstStage(14, P(9), FirstStagePagingMode.FiveLevel, supervisorRequests: true).Q2),
            InvalidateInput.EncodeWrite(true, table1 + 8, PasidTableEntry.FirstStage(14, P(9)).Q1),
            InvalidateInput.EncodeProbe(3),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.PasidCachePasid(11, 1)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.PasidIotlb(11, 1)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbGlobal()),
            // Device 0's context loses PASIDE: device-selective context, then PASID cache and IOTLB.
            InvalidateInput.EncodeWrite(true, context0, 8, xor: true),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.ContextCacheDevice(0, FuzzImage.Devices[0])),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.PasidCacheDomain(10)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.PasidCacheGlobal()),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbGlobal()),
            // A leaf changes: page-selective IOTLB, then global.
            InvalidateInput.EncodeWrite(true, P(3) + 8, SecondStageEntry.Leaf(0x9000, PageSize.Size4K).Value),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbPage(10, 0x1000)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbGlobal()),
            // It changes again with the IOTLB warm: a domain-selective IOTLB invalidation alone must be enough.
            InvalidateInput.EncodeProbe(),
            InvalidateInput.EncodeWrite(true, P(3) + 8, SecondStageEntry.Leaf(0xA000, PageSize.Size4K).Value),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbDomain(10)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.DeviceTlb(FuzzImage.Devices[0], 0x1000)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.PasidDeviceTlb(FuzzImage.Devices[1], 1, 0x1000)),
            InvalidateInput.EncodeInvalidate(new InvalidationRequest(InvalidationKind.InterruptEntryCache)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbPage(10, 0, addressMask: 40)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.PasidCachePasid(10, 1u << 20)),
        };
        var legacyOps = new[]
        {
            InvalidateInput.EncodeProbe(),
            // Device 0 moves to domain 5 and the 3-level tables: domain-selective context, then IOTLB.
            InvalidateInput.EncodeWrite(false, legacyContext0 + 8, ContextEntry.Create(5, 1, P(1)).High),
            InvalidateInput.EncodeWrite(false, legacyContext0, ContextEntry.Create(5, 1, P(1)).Low),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbDomain(1)),
            InvalidateInput.EncodeInvalidate(new InvalidationRequest(InvalidationKind.ContextCacheDomain, 1)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbGlobal()),
            InvalidateInput.EncodeWrite(false, FuzzImage.RootTable + 16, 0),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.ContextCacheDevice(4, FuzzImage.Devices[3], functionMask: 3)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.IotlbGlobal()),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.PasidCacheGlobal()),
            InvalidateInput.EncodeInvalidate(new InvalidationRequest(InvalidationKind.ContextCacheDevice, FunctionMask: 5)),
            InvalidateInput.EncodeInvalidate(InvalidationRequest.ContextCacheGlobal()),
        };
        return
        [
            ("scalable-updates", Concat(Image(RootTableMode.Scalable, scalable), scalableOps)),
            ("scalable-narrow", Concat(Image(RootTableMode.Scalable, ScalableImage(), profile: 1), scalableOps[..8])),
            ("legacy-updates", Concat(Image(RootTableMode.Legacy, LegacyImage()), legacyOps)),
        ];
    }

    private static void Root(Dictionary<ulong, ulong> m, int bus, ulong low, ulong high)
    {
        m[FuzzImage.RootTable + ((ulong)bus * 16)] = low;
        m[FuzzImage.RootTable + ((ulong)bus * 16) + 8] = high;
    }

    private static void Context(Dictionary<ulong, ulong> m, int device, ContextEntry entry)
    {
        var address = FuzzImage.ContextEntryAddress(FuzzImage.Devices[device], scalable: false);
        m[address] = entry.Low;
        m[address + 8] = entry.High;
    }

    private static void ScalableContext(Dictionary<ulong, ulong> m, int device, ScalableModeContextEntry entry)
    {
        var address = FuzzImage.ContextEntryAddress(FuzzImage.Devices[device], scalable: true);
        m[address] = entry.Q0;
        m[address + 8] = entry.Q1;
    }

    private static void PasidEntry(Dictionary<ulong, ulong> m, uint pasid, PasidTableEntry entry)
    {
        var address = PasidTableEntry.AddressOf(FuzzImage.PasidTable, pasid);
        m[address] = entry.Q0;
        m[address + 8] = entry.Q1;
        m[address + 16] = entry.Q2;
    }

    /// <summary>
    /// P0 (L4) → P1 (L3) → P2 (L2) → P3 (L1), with a 1 GiB read-only leaf, a 2 MiB leaf, 4 KiB leaves of every
    /// permission and one into the interrupt window, and P0[1] pointing back at P0. P8 → P10 identity-maps 2 GiB for
    /// nested walks.
    /// </summary>
    private static void SecondStageTables(Dictionary<ulong, ulong> m)
    {
        m[P(0)] = SecondStageEntry.Table(P(1)).Value;
        m[P(0) + 8] = SecondStageEntry.Table(P(0)).Value;
        m[P(1)] = SecondStageEntry.Table(P(2)).Value;
        m[P(1) + 8] = SecondStageEntry.Leaf(0x8000_0000, PageSize.Size1G, writable: false).Value;
        m[P(2)] = SecondStageEntry.Table(P(3)).Value;
        m[P(2) + 8] = SecondStageEntry.Leaf(0x60_0000, PageSize.Size2M).Value;
        m[P(3)] = SecondStageEntry.Leaf(0x1234_5000, PageSize.Size4K).Value;
        m[P(3) + 8] = SecondStageEntry.Leaf(0x2000, PageSize.Size4K, writable: false).Value;
        m[P(3) + 16] = SecondStageEntry.Leaf(0x5000, PageSize.Size4K, readable: false).Value;
        m[P(3) + 24] = SecondStageEntry.Leaf(0xFEE0_0000, PageSize.Size4K).Value;
        m[P(8)] = SecondStageEntry.Table(P(10)).Value;
        m[P(10)] = SecondStageEntry.Leaf(0, PageSize.Size1G).Value;
        m[P(10) + 8] = SecondStageEntry.Leaf(0x4000_0000, PageSize.Size1G, writable: false).Value;
    }

    /// <summary>P9 (PML5) → P4 (PML4, P4[1] → P4) → P5 (PDPT, 1 GiB leaf) → P6 (PD, 2 MiB read-only leaf) → P7 (PT).</summary>
    private static void FirstStageTables(Dictionary<ulong, ulong> m)
    {
        m[P(9)] = FirstStageEntry.Table(P(4)).Value;
        m[P(4)] = FirstStageEntry.Table(P(5)).Value;
        m[P(4) + 8] = FirstStageEntry.Table(P(4)).Value;
        m[P(5)] = FirstStageEntry.Table(P(6)).Value;
        m[P(5) + 8] = FirstStageEntry.Leaf(0x8000_0000, PageSize.Size1G).Value;
        m[P(6)] = FirstStageEntry.Table(P(7)).Value;
        m[P(6) + 8] = FirstStageEntry.Leaf(0x60_0000, PageSize.Size2M, writable: false).Value;
        m[P(7)] = FirstStageEntry.Leaf(0x1234_5000, PageSize.Size4K).Value;
        m[P(7) + 8] = FirstStageEntry.Leaf(0x3000, PageSize.Size4K, user: false).Value;
        m[P(7) + 16] = FirstStageEntry.Leaf(0x7000, PageSize.Size4K, writable: false).Value;
        m[P(7) + 24] = FirstStageEntry.Leaf(0xFEE0_0000, PageSize.Size4K).Value;
    }
}
