using VtdEngine.Ownership;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Ownership;

/// <summary>linux-iommu-model.md §7: RID path, PASID path, sharing and invalidation.</summary>
[Trait("Category", "Ownership")]
public class AttachInvariantTests
{
    private const ulong Data = OwnershipFixture.DataBase;

    private static readonly DeviceOptions s_pasidAts = new() { PasidWidth = 8, Ats = true };

    private static string Bookkeeping(Domain domain, Iommu unit) =>
        $"{domain.GetDomainId(unit)}x{domain.GetDomainIdReferences(unit)} " +
        string.Join(",", domain.CacheTags.Select(t => $"{t.Kind}/{t.DomainId}/{t.Pasid}/{t.Device}x{domain.GetCacheTagUsers(t)}"));

    [Fact]
    public void Item4_PasidZeroIsTheRidAndTheRidUsesPasidEntryZero()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), s_pasidAts);
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        f.Driver.AttachDevice(domain, device);
        Assert.True(PasidTableEntry.TryRead(f.Memory, device.GetPasidTable(0), 0, out var entry));
        Assert.Equal((true, PasidGranularTranslationType.FirstStage, domain.GetDomainId(f.Unit)), (entry.Present, entry.TranslationType, (ushort?)entry.DomainId));
        Assert.True(ScalableModeContextEntry.TryRead(f.Memory, device.ContextTable, (byte)device.SourceId, out var context));
        Assert.Equal((0u, device.PasidDirectory), (context.RidPasid, context.PasidDirectoryPointer));
        Assert.Equal(IommuError.ReservedPasid, Assert.Throws<IommuException>(() => f.Driver.AttachDevicePasid(domain, device, 0)).Error);
    }

    [Fact]
    public void Item9_RidReplaceAndDetachLeaveEveryPasidEntryTagAndDidUntouched()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), s_pasidAts);
        var a = f.Driver.CreatePagingDomain(f.Unit);
        var b = f.Driver.CreatePagingDomain(f.Unit, flags: PagingDomainFlags.NestParent);
        var p = f.Driver.CreatePagingDomain(f.Unit);
        a.Map(0x1000, Data, 0x1000, IommuPermissions.ReadWrite);
        b.Map(0x1000, Data + 0x10000, 0x1000, IommuPermissions.ReadWrite);
        p.Map(0x1000, Data + 0x20000, 0x1000, IommuPermissions.ReadWrite);
        f.Driver.AttachDevice(a, device);
        f.Driver.AttachDevicePasid(p, device, 5);
        var pasidBytes = OwnershipFixture.ReadPasidEntry(device, 5);
        var pBookkeeping = Bookkeeping(p, f.Unit);
        var pDid = p.GetDomainId(f.Unit)!.Value;

        void AssertPasidUntouched(ulong ridExpected)
        {
            Assert.Equal(pasidBytes, OwnershipFixture.ReadPasidEntry(device, 5));
            Assert.Equal(pBookkeeping, Bookkeeping(p, f.Unit));
            Assert.DoesNotContain(f.Logs[0], r => r.DomainId == pDid || r.Pasid == 5);
            Assert.Equal(Data + 0x20000, OwnershipFixture.Translate(device, 0x1000, 5).Address);
            var rid = OwnershipFixture.Translate(device, 0x1000);
            Assert.Equal(ridExpected != 0, rid.IsSuccess);
            if (ridExpected != 0)
            {
                Assert.Equal(ridExpected, rid.Address);
            }
        }

        f.ClearLogs();
        f.Driver.ReplaceGroupDomain(device.Group!, b);
        AssertPasidUntouched(Data + 0x10000);
        f.Driver.DetachDevice(b, device);
        Assert.Same(f.Driver.Blocked, device.Group!.Domain);
        AssertPasidUntouched(0);
        Assert.Equal(0, a.GetDomainIdReferences(f.Unit));
        Assert.Null(b.GetDomainId(f.Unit));
    }

    [Fact]
    public void Item16_OneUnmapOnADomainSharedBy2Rids2PasidsOn2UnitsIssuesExactlyTheTagSet()
    {
        var f = new OwnershipFixture(units: 2);
        var d1 = f.Units[0].ProbeDevice(OwnershipFixture.Sid(1, 0), s_pasidAts);
        var d2 = f.Units[1].ProbeDevice(OwnershipFixture.Sid(2, 0), new DeviceOptions { PasidWidth = 8 });
        var domain = f.Driver.CreatePagingDomain(f.Units[0]);
        domain.Map(0x10000, Data, 0x2000, IommuPermissions.ReadWrite);
        f.Driver.AttachDevice(domain, d1);
        f.Driver.AttachDevice(domain, d2);
        f.Driver.AttachDevicePasid(domain, d1, 5);
        f.Driver.AttachDevicePasid(domain, d2, 7);
        var did0 = domain.GetDomainId(f.Units[0])!.Value;
        var did1 = domain.GetDomainId(f.Units[1])!.Value;
        Assert.Equal(2, domain.GetDomainIdReferences(f.Units[0]));
        f.ClearLogs();

        Assert.Equal(0x2000UL, domain.Unmap(0x10000, 0x2000));

        // First stage: page-selective P_IOTLB per (DID, PASID) tag; ATS device: device TLB (PASID 0 without PASID).
        Assert.Equal(
            new HashSet<InvalidationRequest>
            {
                InvalidationRequest.PasidIotlbPage(did0, 0, 0x10000, 1),
                InvalidationRequest.DeviceTlb(d1.SourceId, 0x10000, sizeBit: true),
                InvalidationRequest.PasidIotlbPage(did0, 5, 0x10000, 1),
                InvalidationRequest.PasidDeviceTlb(d1.SourceId, 5, 0x10000, sizeBit: true),
            },
            f.Logs[0].ToHashSet());
        Assert.Equal(4, f.Logs[0].Count);
        Assert.Equal([InvalidationRequest.PasidIotlbPage(did1, 0, 0x10000, 1), InvalidationRequest.PasidIotlbPage(did1, 7, 0x10000, 1)], f.Logs[1]);

        // After unmap + invalidation, nothing of the range translates anywhere it was attached.
        foreach (var (device, pasid) in new[] { (d1, DmaRequest.NoPasid), (d1, 5u), (d2, DmaRequest.NoPasid), (d2, 7u) })
        {
            Assert.False(OwnershipFixture.Translate(device, 0x10000, pasid).IsSuccess);
            Assert.False(OwnershipFixture.Translate(device, 0x11000, pasid).IsSuccess);
        }
    }

    [Fact]
    public void Item17_SecondStageUsesPageSelectiveIotlbPerDidAndFallsBackToDomainSelective()
    {
        var f = new OwnershipFixture(units: 2);
        var d1 = f.Units[0].ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { PasidWidth = 8 });
        var d2 = f.Units[1].ProbeDevice(OwnershipFixture.Sid(2, 0), new DeviceOptions { PasidWidth = 8 });
        var domain = f.Driver.CreatePagingDomain(f.Units[0], flags: PagingDomainFlags.NestParent);
        domain.Map(0x10000, Data, 0x3000, IommuPermissions.ReadWrite);
        f.Driver.AttachDevice(domain, d1);
        f.Driver.AttachDevicePasid(domain, d1, 5);
        f.Driver.AttachDevice(domain, d2);
        var did0 = domain.GetDomainId(f.Units[0])!.Value;
        var did1 = domain.GetDomainId(f.Units[1])!.Value;
        f.ClearLogs();
        domain.Unmap(0x10000, 0x2000);
        Assert.Equal([InvalidationRequest.IotlbPage(did0, 0x10000, 1)], f.Logs[0]);
        Assert.Equal([InvalidationRequest.IotlbPage(did1, 0x10000, 1)], f.Logs[1]);
        f.ClearLogs();
        domain.Map(0x10000, Data, 0x2000, IommuPermissions.ReadWrite);
        domain.Unmap(0x11000, 0x2000); // 0x11000..0x13000 is not naturally aligned
        Assert.Equal([InvalidationRequest.IotlbDomain(did0)], f.Logs[0]);
        Assert.Equal([InvalidationRequest.IotlbDomain(did1)], f.Logs[1]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Item12_DetachPasidTearsDownWithTable28Sequence(bool secondStage)
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), s_pasidAts);
        var domain = f.Driver.CreatePagingDomain(f.Unit, flags: secondStage ? PagingDomainFlags.NestParent : PagingDomainFlags.None);
        f.Driver.AttachDevicePasid(domain, device, 9);
        var did = domain.GetDomainId(f.Unit)!.Value;
        f.ClearLogs();
        f.Driver.DetachDevicePasid(domain, device, 9);
        Assert.Equal(
            [
                InvalidationRequest.PasidCachePasid(did, 9),
                secondStage ? InvalidationRequest.IotlbDomain(did) : InvalidationRequest.PasidIotlb(did, 9),
                InvalidationRequest.PasidDeviceTlb(device.SourceId, 9, 0x7FFF_FFFF_FFFF_F000, sizeBit: true),
            ],
            f.Logs[0]);
        Assert.Equal(new byte[64], OwnershipFixture.ReadPasidEntry(device, 9));
        Assert.Null(domain.GetDomainId(f.Unit));
        Assert.Empty(domain.CacheTags);
        Assert.Null(device.Group!.GetPasidDomain(9));
    }

    [Fact]
    public void Item11_ReplacePasidIsTeardownThenSetupAndNeedsAnAttachedPasid()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { PasidWidth = 8 });
        var a = f.Driver.CreatePagingDomain(f.Unit);
        var b = f.Driver.CreatePagingDomain(f.Unit);
        b.Map(0x1000, Data, 0x1000, IommuPermissions.Read);
        Assert.Equal(IommuError.PasidNotAttached, Assert.Throws<IommuException>(() => f.Driver.ReplaceDevicePasid(b, device, 3)).Error);
        f.Driver.AttachDevicePasid(a, device, 3);
        var didA = a.GetDomainId(f.Unit)!.Value;
        f.ClearLogs();
        f.Driver.ReplaceDevicePasid(a, device, 3);
        Assert.Empty(f.Logs[0]);
        f.Driver.ReplaceDevicePasid(b, device, 3);
        Assert.Equal([InvalidationRequest.PasidCachePasid(didA, 3), InvalidationRequest.PasidIotlb(didA, 3)], f.Logs[0]);
        Assert.Equal(Data, OwnershipFixture.Translate(device, 0x1000, 3).Address);
        Assert.Null(a.GetDomainId(f.Unit));
    }

    [Fact]
    public void Item6_DetachReturnsToBlockingWhenOwnedElseDefault()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { DefaultDomain = f.Driver.Identity });
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        Assert.Equal(0x1234_5000UL, OwnershipFixture.Translate(device, 0x1234_5000).Address);
        f.Driver.AttachDevice(domain, device);
        f.Driver.DetachDevice(domain, device);
        Assert.Same(f.Driver.Identity, device.Group!.Domain);
        f.Driver.ClaimDmaOwner(device, "vfio");
        Assert.Same(f.Driver.Blocked, device.Group.Domain);
        Assert.False(OwnershipFixture.Translate(device, 0x1234_5000).IsSuccess);
        f.Driver.AttachDevice(domain, device);
        f.Driver.DetachDevice(domain, device);
        Assert.Same(f.Driver.Blocked, device.Group.Domain);
        f.Driver.ReleaseDmaOwner(device);
        Assert.Same(f.Driver.Identity, device.Group.Domain);
    }

    [Fact]
    public void Item15_DomainIdsArePerUnitRefcountedAndExhaustionIsEnospc()
    {
        var f = new OwnershipFixture(profile: CapabilityProfile.Default with { NumberOfDomainsEncoding = 0 });
        Assert.Equal(14, f.Unit.DomainIdCapacity);
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { PasidWidth = 8 });
        var shared = f.Driver.CreatePagingDomain(f.Unit);
        f.Driver.AttachDevice(shared, device);
        f.Driver.AttachDevicePasid(shared, device, 1);
        Assert.Equal((2, (ushort)2), (shared.GetDomainIdReferences(f.Unit), shared.GetDomainId(f.Unit)!.Value));
        var domains = new List<PagingDomain>();
        for (uint pasid = 2; pasid < 15; pasid++)
        {
            var domain = f.Driver.CreatePagingDomain(f.Unit);
            f.Driver.AttachDevicePasid(domain, device, pasid);
            domains.Add(domain);
        }
        Assert.Equal(14, f.Unit.DomainIdsInUse);
        var extra = f.Driver.CreatePagingDomain(f.Unit);
        var before = f.State(extra, shared);
        var ex = Assert.Throws<IommuException>(() => f.Driver.AttachDevicePasid(extra, device, 20));
        Assert.Equal((IommuError.DomainIdsExhausted, Errno.ENOSPC), (ex.Error, ex.Errno));
        Assert.Equal(before, f.State(extra, shared));
        f.Driver.DetachDevicePasid(domains[0], device, 2);
        f.Driver.AttachDevicePasid(extra, device, 20);
        f.Driver.DetachDevicePasid(shared, device, 1);
        Assert.Equal(1, shared.GetDomainIdReferences(f.Unit));
        f.Driver.DetachDevice(shared, device);
        Assert.Null(shared.GetDomainId(f.Unit));
        Assert.Equal(13, f.Unit.DomainIdsInUse);
    }

    [Fact]
    public void Item15_IncompatibleUnitIsASoftEinval()
    {
        var memory = new SparsePhysicalMemory(256UL << 20);
        var frames = new FrameAllocator(memory, OwnershipFixture.TableBase, OwnershipFixture.TableBytes);
        var driver = new IommuDriver();
        var full = driver.AddUnit(new TranslationUnit(memory), frames);
        var noFirstStage = driver.AddUnit(new TranslationUnit(memory, CapabilityProfile.Default with { FirstStageTranslation = false }), frames);
        var device = noFirstStage.ProbeDevice(OwnershipFixture.Sid(1, 0));
        var firstStage = driver.CreatePagingDomain(full);
        var ex = Assert.Throws<IommuException>(() => driver.AttachDevice(firstStage, device));
        Assert.Equal((IommuError.IncompatibleDomain, Errno.EINVAL), (ex.Error, ex.Errno));
        driver.AttachDevice(driver.CreatePagingDomain(noFirstStage), device);
    }

    [Fact]
    public void Item19_ParentUnmapFlushesNestedDidsDomainWideAndTheWholeDeviceTlb()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), s_pasidAts);
        var plain = f.Driver.CreatePagingDomain(f.Unit);
        Assert.Equal(IommuError.InvalidNestParent, Assert.Throws<IommuException>(() => f.Driver.CreateNestedDomain(plain, 0)).Error);
        var parent = f.Driver.CreatePagingDomain(f.Unit, flags: PagingDomainFlags.NestParent);
        // Guest memory: GPA 0..4 MiB → Data; the guest's first-stage table lives at GPA 0x1000 and maps GVA 0x5000 → GPA 0x3000.
        parent.Map(0, Data, 4UL << 20, IommuPermissions.ReadWrite);
        f.Memory.Write64(Data + 0x1000, FirstStageEntry.Table(0x2000).Value);
        f.Memory.Write64(Data + 0x2000, FirstStageEntry.Table(0x4000).Value);
        f.Memory.Write64(Data + 0x4000, FirstStageEntry.Table(0x6000).Value);
        f.Memory.Write64(Data + 0x6000 + (5 * 8), FirstStageEntry.Leaf(0x3000, PageSize.Size4K).Value);
        var nested = f.Driver.CreateNestedDomain(parent, 0x1000);
        f.Driver.AttachDevice(nested, device);
        f.Driver.AttachDevicePasid(nested, device, 4);
        Assert.Equal(Data + 0x3000, OwnershipFixture.Translate(device, 0x5000).Address);
        Assert.Equal(Data + 0x3000, OwnershipFixture.Translate(device, 0x5000, 4).Address);
        var did = nested.GetDomainId(f.Unit)!.Value;
        f.ClearLogs();
        parent.Unmap(0x20_0000, 2UL << 20);
        Assert.Equal(
            [
                InvalidationRequest.IotlbDomain(did),
                InvalidationRequest.DeviceTlb(device.SourceId, 0x7FFF_FFFF_FFFF_F000, sizeBit: true),
                InvalidationRequest.PasidDeviceTlb(device.SourceId, 4, 0x7FFF_FFFF_FFFF_F000, sizeBit: true),
            ],
            f.Logs[0]);
        f.ClearLogs();
        nested.InvalidateUser(0x5000, 1);
        Assert.Contains(InvalidationRequest.PasidIotlbPage(did, 4, 0x5000, 0), f.Logs[0]);
        Assert.Contains(InvalidationRequest.PasidIotlbPage(did, 0, 0x5000, 0), f.Logs[0]);
    }

    [Fact]
    public void UserPasidTableClaimsTheRidAndEveryPasid()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { PasidWidth = 8 });
        var parent = f.Driver.CreatePagingDomain(f.Unit, flags: PagingDomainFlags.NestParent);
        var other = f.Driver.CreatePagingDomain(f.Unit);
        var userDirectory = f.Frames.Allocate();
        var user = f.Driver.CreatePagingDomain(f.Unit);
        var claim = f.Driver.CreateUserPasidTableDomain(parent, userDirectory, 0);
        f.Driver.AttachDevicePasid(other, device, 3);
        Assert.Equal(IommuError.PasidsAttached, Assert.Throws<IommuException>(() => f.Driver.AttachDevice(claim, device)).Error);
        f.Driver.DetachDevicePasid(other, device, 3);
        f.Driver.AttachDevice(claim, device);
        Assert.True(ScalableModeContextEntry.TryRead(f.Memory, device.ContextTable, (byte)device.SourceId, out var context));
        Assert.Equal(userDirectory, context.PasidDirectoryPointer);
        Assert.Equal(IommuError.ClaimedByUserPasidTable, Assert.Throws<IommuException>(() => f.Driver.AttachDevicePasid(other, device, 3)).Error);
        Assert.Equal(IommuError.DomainCannotAttachToPasid, Assert.Throws<IommuException>(() => f.Driver.AttachDevicePasid(claim, device, 3)).Error);
        f.Driver.ReplaceGroupDomain(device.Group!, user);
        Assert.True(ScalableModeContextEntry.TryRead(f.Memory, device.ContextTable, (byte)device.SourceId, out context));
        Assert.Equal(device.PasidDirectory, context.PasidDirectoryPointer);
        f.Driver.AttachDevicePasid(other, device, 3);
    }
}
