using VtdEngine.Tables;

namespace VtdEngine.Tests.Reference;

/// <summary>A generated memory image with its unit configuration and the requests that hit its mappings.</summary>
public sealed class TableImage
{
    internal TableImage(TableBuilder builder, bool translationEnabled)
    {
        Builder = builder;
        TranslationEnabled = translationEnabled;
    }

    /// <summary>The builder that laid the image out (its memory, profile, root table and frames).</summary>
    public TableBuilder Builder { get; }

    /// <summary>The memory holding the image.</summary>
    public SparsePhysicalMemory Memory => Builder.Memory;

    /// <summary>The unit's capabilities.</summary>
    public CapabilityProfile Profile => Builder.Profile;

    /// <summary>RTADDR.TTM.</summary>
    public RootTableMode Mode => Builder.Mode;

    /// <summary>GSTS.TES.</summary>
    public bool TranslationEnabled { get; }

    /// <summary>Requests that hit a mapping of a well-formed image.</summary>
    public List<DmaRequest> Hits { get; } = [];

    /// <summary>Source-ids with context entries.</summary>
    public List<ushort> Devices { get; } = [];

    /// <summary>PASIDs with PASID-table entries.</summary>
    public List<uint> Pasids { get; } = [];

    /// <summary>Frames holding paging structures (first or second stage).</summary>
    public HashSet<ulong> PagingFrames { get; } = [];

    /// <summary>Human-readable notes on what a mutation did, for failure messages.</summary>
    public List<string> Mutations { get; } = [];

    /// <summary>A translation unit over <see cref="Memory"/> configured as the image says.</summary>
    public TranslationUnit CreateUnit()
    {
        var unit = new TranslationUnit(Memory, Profile);
        unit.SetRootTable(Builder.RootTable, Mode);
        unit.TranslationEnabled = TranslationEnabled;
        return unit;
    }

    /// <summary>A reference walker over <paramref name="memory"/> configured as the image says.</summary>
    public ReferenceWalker CreateReference(IPhysicalMemory memory) =>
        new(memory, Profile, Builder.RootTable, Mode, TranslationEnabled);
}

/// <summary>
/// Seeded generator of random well-formed table images (legacy and scalable mode, every PGTT, 4/5-level first stage,
/// 3/4/5-level second stage, 4K/2M/1G pages, random permissions, FPD/SRE/WPE/EAFE/SSADE, absent levels), of request
/// streams over them, and of malformed images made by flipping bits in structure qwords.
/// </summary>
public static class TableImageGenerator
{
    /// <summary>RAM for the tables: [0, 4 MiB). Everything above is unbacked.</summary>
    public const ulong RamBytes = 4 << 20;

    /// <summary>An unbacked region for pointers that must fail to read.</summary>
    public const ulong UnbackedBase = 0x10_0000_0000;

    /// <summary>Builds a random well-formed image.</summary>
    public static TableImage Generate(Random random)
    {
        var profile = RandomProfile(random);
        var mode = random.Next(100) switch
        {
            < 65 => RootTableMode.Scalable,
            < 95 => RootTableMode.Legacy,
            < 97 => RootTableMode.AbortDma,
            _ => RootTableMode.Reserved,
        };
        var builder = new TableBuilder(new SparsePhysicalMemory(RamBytes), 0, RamBytes, profile, mode);
        var image = new TableImage(builder, random.Next(40) != 0);
        var devices = 1 + random.Next(3);
        for (var i = 0; i < devices; i++)
        {
            var sid = (ushort)random.Next(1 << 16);
            if (image.Devices.Contains(sid))
            {
                continue;
            }
            image.Devices.Add(sid);
            if (mode == RootTableMode.Legacy)
            {
                AddLegacyDevice(image, random, sid);
            }
            else
            {
                AddScalableDevice(image, random, sid);
            }
        }
        SetRandomFlags(image, random);
        return image;
    }

    /// <summary>A stream of requests: mostly hits on mappings, some near misses, some random.</summary>
    public static List<DmaRequest> Requests(TableImage image, Random random, int count)
    {
        var requests = new List<DmaRequest>(count);
        for (var i = 0; i < count; i++)
        {
            var access = (AccessKind)random.Next(3);
            var type = random.Next(20) switch
            {
                0 => AddressType.Translated,
                1 or 2 => AddressType.TranslationRequest,
                _ => AddressType.Untranslated,
            };
            var roll = random.Next(10);
            if (roll < 7 && image.Hits.Count > 0)
            {
                var hit = image.Hits[random.Next(image.Hits.Count)];
                var privileged = hit.HasPasid && (hit.Privileged || random.Next(8) == 0);
                requests.Add(new DmaRequest(hit.SourceId, hit.Address, access, hit.Pasid, privileged, type));
                continue;
            }
            var sid = image.Devices.Count > 0 && random.Next(4) != 0
                ? image.Devices[random.Next(image.Devices.Count)]
                : (ushort)random.Next(1 << 16);
            var pasid = random.Next(3) switch
            {
                0 => DmaRequest.NoPasid,
                1 when image.Pasids.Count > 0 => image.Pasids[random.Next(image.Pasids.Count)],
                _ => (uint)random.Next(1 << 21) >> random.Next(21),
            };
            var address = roll == 7 && image.Hits.Count > 0
                ? image.Hits[random.Next(image.Hits.Count)].Address ^ (1UL << random.Next(64))
                : RandomAddress(random);
            requests.Add(new DmaRequest(sid, address, access, pasid, random.Next(6) == 0, type));
        }
        return requests;
    }

    /// <summary>
    /// Corrupts <paramref name="flips"/> random structure qwords: bit flips, table pointers aimed at their own frame,
    /// at another structure frame, or at unbacked memory.
    /// </summary>
    public static void Mutate(TableImage image, Random random, int flips)
    {
        var frames = image.Builder.Frames;
        for (var i = 0; i < flips; i++)
        {
            var frame = frames[random.Next(frames.Count)];
            var slot = PickQword(image.Memory, random, frame);
            var address = frame + (ulong)(slot * 8);
            var value = image.Memory.Read64(address);
            var keepLow = value & 0xFFF;
            ulong mutated;
            string what;
            switch (random.Next(10))
            {
                case < 5:
                    var bit = random.Next(3) == 0 ? random.Next(12) : random.Next(64);
                    mutated = value ^ (1UL << bit);
                    what = $"flip bit {bit}";
                    break;
                case 5 or 6:
                    mutated = frame | keepLow | (value & ~0x000F_FFFF_FFFF_FFFFUL);
                    what = "point at own frame";
                    break;
                case 7:
                    mutated = frames[random.Next(frames.Count)] | keepLow;
                    what = "point at another frame";
                    break;
                case 8:
                    mutated = (UnbackedBase + ((ulong)random.Next(1024) << 12)) | keepLow;
                    what = "point at unbacked memory";
                    break;
                default:
                    mutated = value | (random.Next(2) == 0 ? 1UL : 3UL);
                    what = "set present/R/W";
                    break;
            }
            image.Memory.Write64(address, mutated);
            image.Mutations.Add($"[0x{address:x}] 0x{value:x} -> 0x{mutated:x} ({what})");
        }
    }

    private static int PickQword(SparsePhysicalMemory memory, Random random, ulong frame)
    {
        var qwords = memory.GetFrame(frame >> 12);
        if (random.Next(4) != 0)
        {
            var start = random.Next(512);
            for (var j = 0; j < 512; j++)
            {
                var index = (start + j) & 511;
                if (qwords[index] != 0)
                {
                    return index;
                }
            }
        }
        return random.Next(512);
    }

    private static CapabilityProfile RandomProfile(Random random)
    {
        bool Mostly() => random.Next(8) != 0;
        var sagaw = random.Next(6) == 0 ? random.Next(16) & 0b1110 : 0b1110;
        return new CapabilityProfile
        {
            HostAddressWidth = random.Next(3) == 0 ? 39 + random.Next(14) : 52,
            MaxGuestAddressWidth = random.Next(3) == 0 ? 39 + random.Next(19) : 57,
            SupportedAdjustedGuestAddressWidths = sagaw,
            NumberOfDomainsEncoding = random.Next(3) == 0 ? random.Next(7) : 6,
            SecondStage2MPages = Mostly(),
            SecondStage1GPages = Mostly(),
            FirstStage1GPages = Mostly(),
            FirstStage5Level = Mostly(),
            DeviceTlb = Mostly(),
            PassThrough = Mostly(),
            SnoopControl = Mostly(),
            Nested = Mostly(),
            SupervisorRequests = Mostly(),
            ExtendedAccessedFlag = Mostly(),
            Pasid = Mostly(),
            PasidWidth = random.Next(3) == 0 ? 1 + random.Next(20) : 20,
            ScalableMode = random.Next(20) != 0,
            SecondStageAccessedDirty = Mostly(),
            SecondStageTranslation = Mostly(),
            FirstStageTranslation = Mostly(),
            ScalableModePageWalkCoherency = Mostly(),
            RidPasid = Mostly(),
            RidPriv = Mostly(),
            AbortDmaMode = Mostly(),
        };
    }

    private static ushort RandomDomain(Random random, CapabilityProfile profile) =>
        (ushort)random.Next(1 << Math.Min(16, profile.DomainIdBits));

    private static int RandomAw(Random random, CapabilityProfile profile)
    {
        if (random.Next(10) == 0 || profile.LargestAddressWidth < 0)
        {
            return random.Next(8);
        }
        while (true)
        {
            var aw = 1 + random.Next(3);
            if (profile.SupportsAddressWidth(aw))
            {
                return aw;
            }
        }
    }

    private static void AddLegacyDevice(TableImage image, Random random, ushort sid)
    {
        var builder = image.Builder;
        var profile = image.Profile;
        var type = random.Next(10) switch
        {
            < 6 => TranslationType.Untranslated,
            < 8 => TranslationType.UntranslatedWithDeviceTlb,
            _ => TranslationType.PassThrough,
        };
        var aw = RandomAw(random, profile);
        var domain = RandomDomain(random, profile);
        var root = builder.AttachLegacy(sid, domain, aw, type, faultProcessingDisable: random.Next(5) == 0);
        if (type == TranslationType.PassThrough)
        {
            image.Hits.Add(new DmaRequest(sid, RandomAddress(random), AccessKind.Read));
            return;
        }
        image.PagingFrames.Add(root);
        if (aw is < 1 or > 3)
        {
            return;
        }
        var inputBits = Math.Min(profile.MaxGuestAddressWidth, 30 + (9 * aw));
        MapSecondStagePages(image, random, root, aw + 2, inputBits, address => image.Hits.Add(new DmaRequest(sid, address, AccessKind.Read)));
    }

    private static void AddScalableDevice(TableImage image, Random random, ushort sid)
    {
        var builder = image.Builder;
        var profile = image.Profile;
        var pdts = random.Next(3);
        var ridPasid = profile.RidPasid && random.Next(3) == 0 ? (uint)random.Next(1 << 13) : 0;
        var pasidEnable = random.Next(5) != 0;
        var directory = builder.AttachScalable(sid, pdts, ridPasid, pasidEnable, deviceTlbEnable: random.Next(3) == 0,
            ridPriv: profile.RidPriv && random.Next(5) == 0, faultProcessingDisable: random.Next(7) == 0);
        var noPasidValue = profile.RidPasid ? ridPasid : 0;
        var entries = 1 + random.Next(3);
        for (var i = 0; i < entries; i++)
        {
            var pasid = i == 0 ? noPasidValue : (uint)random.Next(1 << (pdts + 13)) >> random.Next(13);
            if (i > 0 && pasid == noPasidValue)
            {
                continue;
            }
            image.Pasids.Add(pasid);
            var requestPasid = i == 0 ? DmaRequest.NoPasid : pasid;
            builder.PasidTable(directory, pasid, faultProcessingDisable: random.Next(10) == 0);
            AddPasidEntry(image, random, sid, directory, pasid, requestPasid);
        }
    }

    private static void AddPasidEntry(TableImage image, Random random, ushort sid, ulong directory, uint pasid, uint requestPasid)
    {
        var builder = image.Builder;
        var profile = image.Profile;
        var domain = RandomDomain(random, profile);
        var fpd = random.Next(8) == 0;
        var snoop = random.Next(8) != 0 && profile.ScalableModePageWalkCoherency;
        var sre = profile.SupervisorRequests && random.Next(3) == 0;
        var wpe = random.Next(2) == 0;
        var eafe = profile.ExtendedAccessedFlag && random.Next(3) == 0;
        var ssade = profile.SecondStageAccessedDirty && random.Next(2) == 0;
        var mode = random.Next(3) == 0 ? FirstStagePagingMode.FiveLevel : FirstStagePagingMode.FourLevel;
        var privileged = sre && random.Next(2) == 0;
        void Hit(ulong address) => image.Hits.Add(new DmaRequest(sid, address, AccessKind.Read, requestPasid,
            privileged && requestPasid != DmaRequest.NoPasid));

        switch (random.Next(4))
        {
            case 0:
                {
                    var root = builder.NewFrame();
                    image.PagingFrames.Add(root);
                    builder.SetPasidEntry(directory, pasid, PasidTableEntry.FirstStage(domain, root, mode, sre, wpe, eafe, snoop, fpd));
                    MapFirstStagePages(image, random, root, mode, guest: null, profile.HostAddressWidth, Hit);
                    break;
                }
            case 1:
                {
                    var aw = RandomAw(random, profile);
                    var root = builder.NewFrame();
                    image.PagingFrames.Add(root);
                    builder.SetPasidEntry(directory, pasid, PasidTableEntry.SecondStage(domain, root, aw, ssade, snoop, fpd));
                    if (aw is >= 1 and <= 3)
                    {
                        MapSecondStagePages(image, random, root, aw + 2, Math.Min(profile.MaxGuestAddressWidth, 30 + (9 * aw)), Hit);
                    }
                    break;
                }
            case 2:
                {
                    var aw = RandomAw(random, profile);
                    var validAw = aw is >= 1 and <= 3;
                    var guest = new GuestTables(builder.NewFrame(), validAw ? aw + 2 : 4, 0x4000_0000);
                    image.PagingFrames.Add(guest.SecondStageRoot);
                    var before = builder.Frames.Count;
                    var fsRoot = builder.NewFirstStageTable(guest);
                    MarkNewFrames(image, before);
                    builder.SetPasidEntry(directory, pasid, PasidTableEntry.NestedTranslation(domain, fsRoot, guest.SecondStageRoot,
                        aw, mode, sre, wpe, eafe, ssade, snoop, fpd));
                    var gpaBits = validAw ? Math.Min(profile.MaxGuestAddressWidth, 30 + (9 * aw)) : 39;
                    MapFirstStagePages(image, random, fsRoot, mode, guest, Math.Min(gpaBits, profile.HostAddressWidth), Hit);
                    break;
                }
            default:
                builder.SetPasidEntry(directory, pasid, PasidTableEntry.PassThroughTranslation(domain, fpd));
                Hit(RandomAddress(random) & ((1UL << profile.HostAddressWidth) - 1));
                break;
        }
    }

    private static void MapSecondStagePages(TableImage image, Random random, ulong root, int levels, int inputBits,
        Action<ulong> hit)
    {
        var count = 1 + random.Next(4);
        for (var i = 0; i < count; i++)
        {
            var size = RandomSize(random, levels);
            var iova = RandomBelow(random, inputBits) & ~size.OffsetMask();
            var hpa = RandomOutput(random, image.Profile.HostAddressWidth, size);
            var before = image.Builder.Frames.Count;
            try
            {
                image.Builder.MapSecondStage(root, levels, iova, hpa, size, random.Next(5) != 0, random.Next(4) != 0,
                    image.Profile.SnoopControl && random.Next(4) == 0);
            }
            catch (InvalidOperationException)
            {
                // Overlaps a larger page already mapped: keep that one.
            }
            MarkNewFrames(image, before);
            hit(iova + ((ulong)random.NextInt64() & size.OffsetMask() & ~7UL));
        }
    }

    private static void MapFirstStagePages(TableImage image, Random random, ulong root, FirstStagePagingMode mode,
        GuestTables? guest, int outputBits, Action<ulong> hit)
    {
        var levels = mode == FirstStagePagingMode.FiveLevel ? 5 : 4;
        var canonicalBits = levels == 5 ? 57 : 48;
        var count = 1 + random.Next(4);
        for (var i = 0; i < count; i++)
        {
            var size = RandomSize(random, levels);
            var va = RandomBelow(random, canonicalBits) & ~size.OffsetMask();
            if ((va >> (canonicalBits - 1)) != 0)
            {
                va |= ulong.MaxValue << canonicalBits;
            }
            var output = RandomOutput(random, outputBits, size);
            var before = image.Builder.Frames.Count;
            try
            {
                image.Builder.MapFirstStage(root, levels, va, output, size, random.Next(4) != 0, random.Next(4) != 0, guest);
            }
            catch (InvalidOperationException)
            {
                // Overlaps a larger page already mapped: keep that one.
            }
            MarkNewFrames(image, before);
            if (guest is not null && random.Next(6) != 0)
            {
                // Map the output GPA in the second stage too (usually), with a page size of its own.
                var ssSize = RandomSize(random, guest.SecondStageLevels);
                var before2 = image.Builder.Frames.Count;
                try
                {
                    image.Builder.MapSecondStage(guest.SecondStageRoot, guest.SecondStageLevels, output & ~ssSize.OffsetMask(),
                        RandomOutput(random, image.Profile.HostAddressWidth, ssSize), ssSize, random.Next(6) != 0,
                        random.Next(4) != 0);
                }
                catch (InvalidOperationException)
                {
                }
                MarkNewFrames(image, before2);
            }
            hit(va + ((ulong)random.NextInt64() & size.OffsetMask() & ~7UL));
        }
    }

    /// <summary>Sets A/D/EA-position bits at random in paging entries, so that "only when clear" is exercised.</summary>
    private static void SetRandomFlags(TableImage image, Random random)
    {
        foreach (var frame in image.PagingFrames)
        {
            var qwords = image.Memory.GetFrame(frame >> 12);
            for (var i = 0; i < qwords.Length; i++)
            {
                if (qwords[i] != 0 && random.Next(3) == 0)
                {
                    qwords[i] |= ((ulong)random.Next(64) << 5) & 0x760; // bits 5, 6, 8, 9, 10
                }
            }
        }
    }

    private static void MarkNewFrames(TableImage image, int before)
    {
        for (var i = before; i < image.Builder.Frames.Count; i++)
        {
            image.PagingFrames.Add(image.Builder.Frames[i]);
        }
    }

    private static PageSize RandomSize(Random random, int levels) => random.Next(10) switch
    {
        < 6 => PageSize.Size4K,
        < 9 => PageSize.Size2M,
        _ => levels >= 3 ? PageSize.Size1G : PageSize.Size2M,
    };

    private static ulong RandomBelow(Random random, int bits) =>
        (ulong)random.NextInt64() >> (63 - Math.Min(bits, 63)) >> (random.Next(3) * 8);

    private static ulong RandomOutput(Random random, int bits, PageSize size)
    {
        if (random.Next(25) == 0)
        {
            return 0xFEE0_0000 & ~size.OffsetMask(); // lands in (or covers) the interrupt window
        }
        return RandomBelow(random, bits) & ~size.OffsetMask();
    }

    private static ulong RandomAddress(Random random) => random.Next(6) switch
    {
        0 => (ulong)random.NextInt64() | ((ulong)random.Next(2) << 63),
        1 => 0xFEE0_0000 + ((ulong)random.Next(1 << 20) & ~7UL),
        _ => RandomBelow(random, 48),
    };
}
