using CsCheck;
using VtdEngine.Ownership;

namespace VtdEngine.Tests.Ownership;

/// <summary>
/// Isolation property: random sequences of domain creation, map, unmap, attach, detach, replace and translate over a
/// few devices, PASIDs and two units. A model tracks which physical page each (RID, PASID) may reach; the engine must
/// never translate anything else, and every translation the model allows must succeed with the model's address.
/// </summary>
[Trait("Category", "Ownership")]
public class IsolationPropertyTests
{
    private const ulong Data = OwnershipFixture.DataBase;
    private static readonly uint[] s_pasids = [DmaRequest.NoPasid, 1, 2, 3];

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(42)]
    [InlineData(2024)]
    [InlineData(65537)]
    public void FixedSeedSequencesNeverReachUnmappedPages(int seed)
    {
        var random = new Random(seed);
        var ops = new uint[150];
        for (var i = 0; i < ops.Length; i++)
        {
            ops[i] = (uint)random.NextInt64(0, 1L << 32);
        }
        Run(ops);
    }

    [Fact]
    public void RandomSequencesNeverReachUnmappedPages() =>
        Gen.UInt.Array[1, 120].Sample(Run, iter: 40, threads: 1, time: 8);

    private static void Run(uint[] ops)
    {
        var f = new OwnershipFixture(units: 2);
        var devices = new[]
        {
            f.Units[0].ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { PasidWidth = 3, Ats = true }),
            f.Units[0].ProbeDevice(OwnershipFixture.Sid(2, 0), new DeviceOptions { PasidWidth = 8 }),
            f.Units[1].ProbeDevice(OwnershipFixture.Sid(3, 0), new DeviceOptions { PasidWidth = 8 }),
        };
        var domains = new List<PagingDomain>
        {
            f.Driver.CreatePagingDomain(f.Units[0]),
            f.Driver.CreatePagingDomain(f.Units[1], flags: PagingDomainFlags.NestParent),
        };
        var mappings = domains.ToDictionary(d => (Domain)d, _ => new Dictionary<ulong, ulong>());
        var attached = new Dictionary<(Device, uint), Domain>();

        foreach (var op in ops)
        {
            var device = devices[(op >> 4) % (uint)devices.Length];
            var domain = domains[(int)((op >> 6) % (uint)domains.Count)];
            var pasid = 1 + ((op >> 9) % 3);
            try
            {
                switch (op % 9)
                {
                    case 0 when domains.Count < 5:
                        var created = f.Driver.CreatePagingDomain(f.Units[(int)((op >> 8) & 1)],
                            flags: ((op >> 9) & 1) == 0 ? PagingDomainFlags.None : PagingDomainFlags.NestParent);
                        domains.Add(created);
                        mappings.Add(created, []);
                        break;
                    case 1:
                        Map(domain, op, mappings[domain]);
                        break;
                    case 2:
                        var start = ((op >> 11) % 40) << 12;
                        var length = (1 + ((op >> 17) % 8)) << 12;
                        domain.Unmap(start, length);
                        foreach (var page in mappings[domain].Keys.Where(p => p >= start && p < start + length).ToList())
                        {
                            mappings[domain].Remove(page);
                        }
                        break;
                    case 3:
                        Domain target = ((op >> 20) % 5) == 0 ? f.Driver.Blocked : domain;
                        f.Driver.ReplaceGroupDomain(device.Group!, target);
                        Set(attached, device, 0, target);
                        break;
                    case 4:
                        f.Driver.DetachDevice(device.Group!.Domain, device);
                        attached.Remove((device, 0));
                        break;
                    case 5:
                        f.Driver.AttachDevicePasid(domain, device, pasid);
                        Set(attached, device, pasid, domain);
                        break;
                    case 6:
                        f.Driver.ReplaceDevicePasid(domain, device, pasid);
                        Set(attached, device, pasid, domain);
                        break;
                    case 7:
                        f.Driver.DetachDevicePasid(domain, device, pasid);
                        attached.Remove((device, pasid));
                        break;
                }
            }
            catch (IommuException ex)
            {
                // Refusals are allowed (busy PASIDs, overlaps, widths); the check below proves they changed nothing.
                Assert.Contains(ex.Error, new[]
                {
                    IommuError.RangeAlreadyMapped, IommuError.PasidBusy, IommuError.PasidNotAttached, IommuError.PasidOutOfRange,
                    IommuError.DomainNotAttached, IommuError.InvalidRange,
                });
            }
            Check(f, devices, attached, mappings);
        }
    }

    private static void Map(PagingDomain domain, uint op, Dictionary<ulong, ulong> model)
    {
        ulong iova, physical, length;
        if ((op >> 28) % 8 == 0)
        {
            iova = 0x20_0000UL * (1 + ((op >> 11) % 2));
            physical = Data + (0x20_0000UL * (1 + ((op >> 13) % 3)));
            length = 0x20_0000;
        }
        else
        {
            iova = ((op >> 11) % 32) << 12;
            physical = Data + (((op >> 16) % 64) << 12);
            length = (1 + ((op >> 22) % 4)) << 12;
        }
        domain.Map(iova, physical, length, IommuPermissions.ReadWrite);
        for (var offset = 0UL; offset < length; offset += 0x1000)
        {
            model.Add(iova + offset, physical + offset);
        }
    }

    private static void Set(Dictionary<(Device, uint), Domain> attached, Device device, uint pasid, Domain domain)
    {
        if (domain is BlockedDomain)
        {
            attached.Remove((device, pasid));
        }
        else
        {
            attached[(device, pasid)] = domain;
        }
    }

    private static void Check(OwnershipFixture f, Device[] devices, Dictionary<(Device, uint), Domain> attached,
        Dictionary<Domain, Dictionary<ulong, ulong>> mappings)
    {
        foreach (var device in devices)
        {
            foreach (var requestPasid in s_pasids)
            {
                var pasid = requestPasid == DmaRequest.NoPasid ? 0 : requestPasid;
                var model = attached.TryGetValue((device, pasid), out var domain) ? mappings[domain] : null;
                for (var page = 0UL; page < 0x60_0000; page += page < 0x2_8000 ? 0x1000UL : 0x7_F000UL)
                {
                    var result = OwnershipFixture.Translate(device, page + 0x18, requestPasid);
                    if (model is not null && model.TryGetValue(page, out var expected))
                    {
                        Assert.True(result.IsSuccess, $"{device} pasid {pasid} page 0x{page:x}: {result}");
                        Assert.Equal(expected + 0x18, result.Address);
                    }
                    else
                    {
                        Assert.False(result.IsSuccess, $"{device} pasid {pasid} reached page 0x{page:x} -> 0x{result.Address:x}");
                    }
                }
            }
        }
        // DID bookkeeping: a unit's DIDs are exactly the domains attached on it.
        foreach (var unit in f.Units)
        {
            var users = attached.Where(pair => pair.Key.Item1.Iommu == unit).Select(pair => pair.Value).Distinct().Count();
            Assert.Equal(users, unit.DomainIdsInUse);
        }
    }
}
