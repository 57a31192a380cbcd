using System.Buffers.Binary;
using VtdEngine.Tables;

namespace VtdEngine.Fuzzing;

/// <summary>
/// The memory image every fuzz target starts from: a small table set at fixed frames whose qwords come straight from
/// the input, so a fuzzer can flip any bit of any root, context, PASID or paging entry, including pointers.
/// </summary>
/// <remarks>
/// Layout of an input: a 2-byte header, then <see cref="SlotCount"/> qwords (little-endian) in the order of
/// <see cref="Slots"/>, then the target's own stream (requests or operations). A short input leaves the remaining
/// qwords zero. RAM is <c>[0, 256 KiB)</c>; every address above it is unbacked, so a flipped pointer bit quickly
/// reaches an access error, and a small change reaches another table (or the same one: a self-pointing entry).
/// <para>
/// Header byte 0: bits 1:0 mode (0 legacy, 1 and 2 scalable, 3 the raw RTADDR.TTM in bits 3:2), bit 4 translation
/// disabled, bits 6:5 the capability profile (<see cref="Profiles"/>). Header byte 1: bits 1:0 the root table
/// address (0 and 1 the root frame, 2 an unbacked address, 3 the first context table).
/// </para>
/// </remarks>
public sealed class FuzzImage
{
    /// <summary>Backed RAM: 64 frames.</summary>
    public const int RamFrames = 64;

    /// <summary>Root table frame.</summary>
    public const ulong RootTable = 0x1000;

    /// <summary>First context table (legacy bus 0; scalable bus 0 lower half).</summary>
    public const ulong ContextTableA = 0x2000;

    /// <summary>Second context table (legacy bus 1; scalable bus 0 upper half and bus 1 lower half).</summary>
    public const ulong ContextTableB = 0x3000;

    /// <summary>PASID directory.</summary>
    public const ulong PasidDirectory = 0x4000;

    /// <summary>PASID table.</summary>
    public const ulong PasidTable = 0x5000;

    /// <summary>First paging-structure frame.</summary>
    public const ulong PagingBase = 0x10000;

    /// <summary>Paging-structure frames.</summary>
    public const int PagingFrames = 12;

    /// <summary>Entries taken from the input in each paging frame (indices 0..3; request addresses use these).</summary>
    public const int PagingSlots = 4;

    /// <summary>PASID-table entries taken from the input (PASIDs 0..3, and 64..67 through directory entry 1).</summary>
    public const int PasidEntries = 4;

    /// <summary>An address no RAM backs.</summary>
    public const ulong Unbacked = 0x7FFF_F000;

    /// <summary>Header bytes before the image qwords.</summary>
    public const int HeaderBytes = 2;

    /// <summary>The requesters every target uses: 00:00.0, 00:01.1, 00:10.1 (devfn ≥ 128: the upper scalable half), 01:00.0.</summary>
    public static IReadOnlyList<ushort> Devices { get; } = [0x0000, 0x0009, 0x0081, 0x0100];

    /// <summary>The capability profiles header bits 6:5 select.</summary>
    public static IReadOnlyList<CapabilityProfile> Profiles { get; } =
    [
        CapabilityProfile.Default,
        // A narrow unit: 39-bit HAW, 3/4-level second stage only, no large pages beyond 2 MiB, small PASIDs and domains.
        new CapabilityProfile
        {
            HostAddressWidth = 39,
            MaxGuestAddressWidth = 48,
            SupportedAdjustedGuestAddressWidths = 0b0110,
            NumberOfDomainsEncoding = 2,
            SecondStage1GPages = false,
            FirstStage1GPages = false,
            FirstStage5Level = false,
            PasidWidth = 8,
            RidPasid = false,
            RidPriv = false,
            SnoopControl = false,
            ExtendedAccessedFlag = false,
            SupervisorRequests = false,
            Nested = false,
        },
        // No snooped page walks and no second-stage A/D: every flag update faults.
        new CapabilityProfile
        {
            ScalableModePageWalkCoherency = false,
            SecondStageAccessedDirty = false,
            PassThrough = false,
            DeviceTlb = false,
            SecondStage2MPages = false,
        },
        new CapabilityProfile { CachingMode = true, AbortDmaMode = false },
    ];

    private static readonly ulong[] s_legacySlots = BuildSlots(scalable: false);
    private static readonly ulong[] s_scalableSlots = BuildSlots(scalable: true);

    private FuzzImage(RootTableMode mode, bool translationEnabled, int profileIndex, ulong rootTableAddress, ulong[] slots, ulong[] values)
    {
        Mode = mode;
        TranslationEnabled = translationEnabled;
        ProfileIndex = profileIndex;
        RootTableAddress = rootTableAddress;
        SlotAddresses = slots;
        Values = values;
    }

    /// <summary>RTADDR.TTM.</summary>
    public RootTableMode Mode { get; }

    /// <summary>GSTS.TES.</summary>
    public bool TranslationEnabled { get; }

    /// <summary>Index into <see cref="Profiles"/>.</summary>
    public int ProfileIndex { get; }

    /// <summary>The unit's capabilities.</summary>
    public CapabilityProfile Profile => Profiles[ProfileIndex];

    /// <summary>RTADDR.RTA.</summary>
    public ulong RootTableAddress { get; }

    /// <summary>Physical address of each input qword.</summary>
    public IReadOnlyList<ulong> SlotAddresses { get; }

    /// <summary>The input qwords, one per slot.</summary>
    public IReadOnlyList<ulong> Values { get; }

    /// <summary>Whether the slot layout is the scalable-mode one (every mode but legacy uses it).</summary>
    public static bool UsesScalableLayout(RootTableMode mode) => mode != RootTableMode.Legacy;

    /// <summary>Slot addresses for a layout.</summary>
    public static IReadOnlyList<ulong> Slots(bool scalable) => scalable ? s_scalableSlots : s_legacySlots;

    /// <summary>Number of image bytes (header plus qwords) for a mode.</summary>
    public static int ImageBytes(RootTableMode mode) => HeaderBytes + (Slots(UsesScalableLayout(mode)).Count * 8);

    /// <summary>Address of paging frame <paramref name="index"/>.</summary>
    public static ulong Paging(int index) => PagingBase + ((ulong)index * 0x1000);

    /// <summary>The header's mode.</summary>
    public static RootTableMode DecodeMode(byte header) => (header & 3) switch
    {
        0 => RootTableMode.Legacy,
        1 or 2 => RootTableMode.Scalable,
        _ => (RootTableMode)((header >> 2) & 3),
    };

    /// <summary>Decodes the header and image; returns the rest of the input (the target's stream).</summary>
    public static FuzzImage Decode(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> rest)
    {
        var h0 = input.Length > 0 ? input[0] : (byte)0;
        var h1 = input.Length > 1 ? input[1] : (byte)0;
        var mode = DecodeMode(h0);
        var root = (h1 & 3) switch
        {
            2 => Unbacked,
            3 => ContextTableA,
            _ => RootTable,
        };
        var slots = UsesScalableLayout(mode) ? s_scalableSlots : s_legacySlots;
        var values = new ulong[slots.Length];
        var body = input.Length > HeaderBytes ? input[HeaderBytes..] : [];
        Span<byte> partial = stackalloc byte[8];
        for (var i = 0; i < values.Length; i++)
        {
            var offset = i * 8;
            if (offset + 8 <= body.Length)
            {
                values[i] = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(offset, 8));
            }
            else if (offset < body.Length)
            {
                partial.Clear();
                body[offset..].CopyTo(partial);
                values[i] = BinaryPrimitives.ReadUInt64LittleEndian(partial);
            }
        }
        var imageLength = slots.Length * 8;
        rest = body.Length > imageLength ? body[imageLength..] : [];
        return new FuzzImage(mode, (h0 & 0x10) == 0, (h0 >> 5) & 3, root, slots, values);
    }

    /// <summary>A fresh memory holding the image.</summary>
    public SparsePhysicalMemory CreateMemory()
    {
        var memory = new SparsePhysicalMemory((ulong)RamFrames * 4096);
        for (var i = 0; i < Values.Count; i++)
        {
            memory.Write64(SlotAddresses[i], Values[i]);
        }
        return memory;
    }

    /// <summary>A unit over <paramref name="memory"/> programmed as the header says.</summary>
    public TranslationUnit CreateUnit(IPhysicalMemory memory, TranslationUnitOptions? options = null)
    {
        var unit = new TranslationUnit(memory, Profile, options);
        unit.SetRootTable(RootTableAddress, Mode);
        unit.TranslationEnabled = TranslationEnabled;
        return unit;
    }

    /// <summary>The header bytes for an image.</summary>
    public static byte[] Header(RootTableMode mode, bool translationEnabled = true, int profile = 0, int rootVariant = 0)
    {
        var h0 = mode switch
        {
            RootTableMode.Legacy => 0,
            RootTableMode.Scalable => 1,
            _ => 3 | ((int)mode << 2),
        };
        h0 |= (translationEnabled ? 0 : 0x10) | ((profile & 3) << 5);
        return [(byte)h0, (byte)(rootVariant & 3)];
    }

    /// <summary>Context table and entry address of a device in a layout.</summary>
    public static ulong ContextEntryAddress(ushort sourceId, bool scalable)
    {
        var bus = sourceId >> 8;
        var devfn = sourceId & 0xFF;
        if (!scalable)
        {
            return (bus == 0 ? ContextTableA : ContextTableB) + ((ulong)devfn * 16);
        }
        var table = bus == 0 && devfn < 128 ? ContextTableA : ContextTableB;
        return table + ((ulong)(devfn & 0x7F) * 32);
    }

    private static ulong[] BuildSlots(bool scalable)
    {
        var slots = new List<ulong>();
        for (var q = 0; q < 4; q++)
        {
            slots.Add(RootTable + ((ulong)q * 8));
        }
        var contextQwords = scalable ? 4 : 2;
        foreach (var device in Devices)
        {
            var entry = ContextEntryAddress(device, scalable);
            for (var q = 0; q < contextQwords; q++)
            {
                slots.Add(entry + ((ulong)q * 8));
            }
        }
        if (scalable)
        {
            slots.Add(PasidDirectory);
            slots.Add(PasidDirectory + 8);
            for (var p = 0; p < PasidEntries; p++)
            {
                for (var q = 0; q < 8; q++)
                {
                    slots.Add(PasidTable + ((ulong)p * 64) + ((ulong)q * 8));
                }
            }
        }
        for (var f = 0; f < PagingFrames; f++)
        {
            for (var s = 0; s < PagingSlots; s++)
            {
                slots.Add(Paging(f) + ((ulong)s * 8));
            }
        }
        return [.. slots];
    }

    /// <summary>Number of image qwords in a layout.</summary>
    public static int SlotCount(bool scalable) => Slots(scalable).Count;
}
