using System.Buffers.Binary;
using VtdEngine.Ownership;
using VtdEngine.Tables;

namespace VtdEngine.Fuzzing;

/// <summary>
/// Target (c), ownership: bytes decode into a sequence of ownership operations (create/free paging domains, map,
/// unmap, attach/detach RIDs and PASIDs) on an <see cref="IommuDriver"/> over one unit, interleaved with DMA probes.
/// Oracle: the isolation invariant against a simple model — a device never reaches a physical page that is not mapped
/// (with write permission, for a write) in the domain attached to that (RID, PASID) at that moment. Refusals must be
/// <see cref="IommuException"/>s that leave the model unchanged; any other exception is a crash.
/// </summary>
/// <remarks>
/// Input: 1 header byte (bits 1:0 the capability profile: default, caching mode, no first-stage translation), then
/// 8-byte operations. b0 bits 2:0 the kind: 0 map, 1 unmap, 2 attach RID, 3 detach RID, 4 attach PASID, 5 detach
/// PASID, 6 create (or, when the slot is taken, free) a domain, 7 probe. b1 bits 1:0 the domain slot (bit 2: the
/// identity domain, bit 3: the blocked domain, for attaches); b2 the device (mod 3); b3 bits 3:0 the PASID (15: none,
/// for probes); b4..b5 the IOVA page (bit 15: 2 MiB units); b6 the physical page (in 4 KiB or 2 MiB units); b7 bits 2:0
/// the length - 1 in those units, bits 5:4 the access or permission (0 none, 1 read, 2 write, 3 both), bit 6 the
/// NestParent flag on create. After every successful unmap or detach, every device probes the operation's IOVA and the
/// last four mapped ones, with and without PASID.
/// </remarks>
public static class OwnershipInput
{
    /// <summary>Bytes per operation.</summary>
    public const int OpBytes = 8;

    /// <summary>Operations decoded at most.</summary>
    public const int MaxOps = 64;

    /// <summary>Mapped physical pages lie in [32 MiB, 64 MiB).</summary>
    public const ulong DataBase = 32UL << 20;

    private const int Slots = 4;

    private static readonly CapabilityProfile[] s_profiles =
    [
        CapabilityProfile.Default,
        new CapabilityProfile { CachingMode = true },
        new CapabilityProfile { FirstStageTranslation = false },
        CapabilityProfile.Default,
    ];

    private static readonly (ushort SourceId, DeviceOptions Options)[] s_devices =
    [
        (DmaRequest.MakeSourceId(0, 1, 0), new DeviceOptions { PasidWidth = 4 }),
        (DmaRequest.MakeSourceId(0, 2, 0), new DeviceOptions { PasidWidth = 4, Ats = true }),
        (DmaRequest.MakeSourceId(1, 3, 0), new DeviceOptions()),
    ];

    /// <summary>Runs an input; returns the number of probes checked.</summary>
    public static int Run(ReadOnlySpan<byte> input, Action<string>? log = null)
    {
        var profile = s_profiles[input.Length > 0 ? input[0] & 3 : 0];
        var memory = new SparsePhysicalMemory(64UL << 20);
        var frames = new FrameAllocator(memory, 16UL << 20, 16UL << 20);
        var driver = new IommuDriver();
        var iommu = driver.AddUnit(new TranslationUnit(memory, profile, new TranslationUnitOptions { IotlbEntries = 64 }), frames);
        var model = new Model(driver, log);
        foreach (var (sourceId, options) in s_devices)
        {
            model.Devices.Add(iommu.ProbeDevice(sourceId, options));
        }
        var rest = input.Length > 0 ? input[1..] : [];
        for (var i = 0; i < MaxOps && rest.Length >= OpBytes; i++)
        {
            model.Execute(iommu, rest[..OpBytes]);
            rest = rest[OpBytes..];
        }
        return model.Probes;
    }

    /// <summary>Encodes one operation.</summary>
    public static byte[] Encode(int kind, int slot = 0, int device = 0, int pasid = 0, int iovaPage = 0, bool large = false,
        int physicalPage = 0, int pages = 1, IommuPermissions access = IommuPermissions.ReadWrite, bool nestParent = false)
    {
        var iova = (iovaPage & 0x7FFF) | (large ? 0x8000 : 0);
        return
        [
            (byte)kind, (byte)slot, (byte)device, (byte)pasid, (byte)iova, (byte)(iova >> 8), (byte)physicalPage,
            (byte)(((pages - 1) & 7) | ((int)access << 4) | (nestParent ? 0x40 : 0)),
        ];
    }

    /// <summary>The ownership target's seeds.</summary>
    public static IReadOnlyList<(string Name, byte[] Bytes)> Seeds()
    {
        byte[][] basic =
        [
            Encode(6, slot: 0),
            Encode(6, slot: 1, nestParent: true),
            Encode(0, slot: 0, iovaPage: 0x10, physicalPage: 3, pages: 4),
            Encode(0, slot: 0, iovaPage: 1, large: true, physicalPage: 2, pages: 1),
            Encode(0, slot: 1, iovaPage: 0x20, physicalPage: 9, pages: 2, access: IommuPermissions.Read),
            Encode(2, slot: 0, device: 0),
            Encode(4, slot: 1, device: 1, pasid: 1),
            Encode(4, slot: 0, device: 1, pasid: 2),
            Encode(2, slot: 1, device: 2),
            Encode(7, device: 0, pasid: 15, iovaPage: 0x11, access: IommuPermissions.Write),
            Encode(7, device: 1, pasid: 1, iovaPage: 0x21, access: IommuPermissions.Read),
            Encode(7, device: 1, pasid: 1, iovaPage: 0x21, access: IommuPermissions.Write),
            Encode(7, device: 1, pasid: 2, iovaPage: 0x200, access: IommuPermissions.Write),
            Encode(7, device: 2, pasid: 15, iovaPage: 0x20, access: IommuPermissions.Read),
            Encode(1, slot: 0, iovaPage: 0x10, pages: 2),
            Encode(7, device: 0, pasid: 15, iovaPage: 0x10, access: IommuPermissions.Read),
            Encode(3, slot: 0, device: 0),
            Encode(5, slot: 1, device: 1, pasid: 1),
            Encode(2, slot: 4, device: 0),
            Encode(6, slot: 0),
            Encode(5, slot: 0, device: 1, pasid: 2),
            Encode(6, slot: 0),
            Encode(7, device: 0, pasid: 15, iovaPage: 0x12, access: IommuPermissions.Read),
        ];
        var seed = basic.SelectMany(b => b).ToArray();
        return
        [
            ("basic", [0, .. seed]),
            ("caching-mode", [1, .. seed]),
            ("second-stage-only", [2, .. seed]),
        ];
    }

    private sealed class Model(IommuDriver driver, Action<string>? log)
    {
        private readonly PagingDomain?[] _slots = new PagingDomain?[Slots];
        private readonly Dictionary<PagingDomain, Dictionary<ulong, (ulong Physical, IommuPermissions Permissions)>> _maps = [];
        private readonly Dictionary<(Device Device, uint Pasid), Domain> _attached = [];
        private readonly List<ulong> _recent = [];

        public List<Device> Devices { get; } = [];

        public int Probes { get; private set; }

        public void Execute(Iommu iommu, ReadOnlySpan<byte> op)
        {
            var kind = op[0] & 7;
            var slot = op[1] & 3;
            var device = Devices[op[2] % Devices.Count];
            var pasid = (uint)(op[3] & 0xF);
            var iovaField = BinaryPrimitives.ReadUInt16LittleEndian(op[4..6]);
            var large = (iovaField & 0x8000) != 0;
            var unit = large ? 1UL << 21 : 1UL << 12;
            var iova = (ulong)(iovaField & 0x7FFF) * unit;
            var physical = DataBase + ((ulong)op[6] * unit % (32UL << 20));
            var length = (ulong)((op[7] & 7) + 1) * unit;
            var access = (IommuPermissions)((op[7] >> 4) & 3);
            var domain = _slots[slot];
            Domain? target = (op[1] & 8) != 0 ? driver.Blocked : (op[1] & 4) != 0 ? driver.Identity : domain;
            try
            {
                switch (kind)
                {
                    case 0 when domain is not null:
                        log?.Invoke($"map d{slot} 0x{iova:x}+0x{length:x} -> 0x{physical:x} {access}");
                        domain.Map(iova, physical, length, access);
                        Remember(iova);
                        Remember(iova + length - 0x1000);
                        for (var offset = 0UL; offset < length; offset += 0x1000)
                        {
                            _maps[domain][(iova + offset) >> 12] = (physical + offset, access);
                        }
                        break;
                    case 1 when domain is not null:
                        log?.Invoke($"unmap d{slot} 0x{iova:x}+0x{length:x}");
                        domain.Unmap(iova, length);
                        foreach (var page in _maps[domain].Keys.Where(p => p >= iova >> 12 && p < (iova + length) >> 12).ToArray())
                        {
                            _maps[domain].Remove(page);
                        }
                        ProbeEverything(iova);
                        break;
                    case 2 when target is not null:
                        log?.Invoke($"attach {target.GetType().Name} {(target == domain ? $"d{slot}" : "")} to {device}");
                        driver.AttachDevice(target, device);
                        _attached[(device, 0)] = target;
                        break;
                    case 3 when target is not null:
                        log?.Invoke($"detach {(target == domain ? $"d{slot}" : target.GetType().Name)} from {device}");
                        driver.DetachDevice(target, device);
                        _attached.Remove((device, 0));
                        ProbeEverything(iova);
                        break;
                    case 4 when target is not null:
                        log?.Invoke($"attach {(target == domain ? $"d{slot}" : target.GetType().Name)} to {device} pasid {pasid}");
                        driver.AttachDevicePasid(target, device, pasid);
                        _attached[(device, pasid)] = target;
                        break;
                    case 5 when target is not null:
                        log?.Invoke($"detach {(target == domain ? $"d{slot}" : target.GetType().Name)} from {device} pasid {pasid}");
                        driver.DetachDevicePasid(target, device, pasid);
                        _attached.Remove((device, pasid));
                        ProbeEverything(iova);
                        break;
                    case 6 when domain is null:
                        var flags = (op[7] & 0x40) != 0 ? PagingDomainFlags.NestParent : PagingDomainFlags.None;
                        log?.Invoke($"create d{slot} {flags}");
                        var created = driver.CreatePagingDomain(iommu, flags: flags);
                        _slots[slot] = created;
                        _maps[created] = [];
                        break;
                    case 6:
                        log?.Invoke($"free d{slot}");
                        domain!.Free();
                        _slots[slot] = null;
                        _maps.Remove(domain);
                        break;
                    case 7:
                        Probe(device, (op[3] & 0xF) == 0xF ? DmaRequest.NoPasid : pasid, iova + (ulong)(op[6] & 0xF) * 0x100,
                            access == IommuPermissions.Write || access == IommuPermissions.ReadWrite ? AccessKind.Write : AccessKind.Read);
                        break;
                    default:
                        break;
                }
            }
            catch (IommuException e)
            {
                // A refusal is decided before any write: the model stays as it was.
                log?.Invoke($"  refused: {e.Error}");
            }
        }

        private void Remember(ulong iova)
        {
            _recent.Remove(iova);
            _recent.Add(iova);
            if (_recent.Count > 4)
            {
                _recent.RemoveAt(0);
            }
        }

        /// <summary>Every device, without PASID and with PASIDs 1..3, at the operation's IOVA and the last mapped ones.</summary>
        private void ProbeEverything(ulong iova)
        {
            foreach (var address in _recent.Append(iova).Distinct().ToArray())
            {
                foreach (var device in Devices)
                {
                    Probe(device, DmaRequest.NoPasid, address, AccessKind.Read);
                    for (var pasid = 1u; pasid <= 3; pasid++)
                    {
                        Probe(device, pasid, address, AccessKind.Write);
                    }
                }
            }
        }

        private void Probe(Device device, uint pasid, ulong address, AccessKind access)
        {
            Probes++;
            var request = new DmaRequest(device.SourceId, address, access, pasid);
            var result = device.Iommu.Unit.Translate(request);
            log?.Invoke($"  probe {request} => {result}");
            if (result.Status != TranslationStatus.Success)
            {
                return;
            }
            var domain = _attached.GetValueOrDefault((device, request.HasPasid ? pasid : 0));
            string? broken = null;
            if (domain is null or BlockedDomain)
            {
                broken = $"no domain is attached (model: {domain?.GetType().Name ?? "none"})";
            }
            else if (domain is IdentityDomain)
            {
                if (result.Address != address)
                {
                    broken = "the identity domain translated to another address";
                }
            }
            else if (domain is PagingDomain paging)
            {
                if (!_maps.TryGetValue(paging, out var map) || !map.TryGetValue(address >> 12, out var page))
                {
                    broken = "the IOVA is not mapped in the attached domain";
                }
                else if (result.Address != page.Physical + (address & 0xFFF))
                {
                    broken = $"the domain maps it to 0x{page.Physical + (address & 0xFFF):x}";
                }
                else if (access != AccessKind.Read && (page.Permissions & IommuPermissions.Write) == 0)
                {
                    broken = $"a write went through a {page.Permissions} mapping";
                }
            }
            if (broken is not null && !(access == AccessKind.Read && result.Rights == AccessRights.None))
            {
                throw new OracleViolationException($"{request} reached 0x{result.Address:x} ({result}), but {broken}.");
            }
        }
    }
}
