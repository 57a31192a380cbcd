using VtdEngine.Ownership;

namespace VtdEngine.Tests.Ownership;

[Trait("Category", "Ownership")]
public class OwnershipAndSvaTests
{
    private const ulong Data = OwnershipFixture.DataBase;

    [Fact]
    public void EveryRefusalLeavesTablesCachesAndRefcountsUnchanged()
    {
        var f = new OwnershipFixture(units: 2);
        var d = f.Driver;
        var single = f.Units[0].ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { PasidWidth = 4, Ats = true });
        var first = f.Units[0].ProbeDevice(OwnershipFixture.Sid(2, 0), new DeviceOptions { PasidWidth = 8 });
        var second = f.Units[0].ProbeDevice(OwnershipFixture.Sid(2, 1), new DeviceOptions { PasidWidth = 8, Group = first.Group });
        var noPasid = f.Units[1].ProbeDevice(OwnershipFixture.Sid(3, 0));
        var rmrr = f.Units[1].ProbeDevice(OwnershipFixture.Sid(4, 0), new DeviceOptions { RequireDirect = true, DefaultDomain = d.Identity });
        var released = f.Units[1].ProbeDevice(OwnershipFixture.Sid(5, 0));
        f.Units[1].ReleaseDevice(released);
        var a = d.CreatePagingDomain(f.Units[0]);
        var b = d.CreatePagingDomain(f.Units[0]);
        a.Map(0x1000, Data, 0x1000, IommuPermissions.ReadWrite);
        d.AttachDevice(a, single);
        d.AttachDevicePasid(b, single, 3);
        var otherDriver = new IommuDriver();
        var foreign = otherDriver.CreatePagingDomain(otherDriver.AddUnit(new TranslationUnit(f.Memory), f.Frames));
        var mm = d.CreateAddressSpace(d.CreatePagingDomain(f.Units[0]).Table.Root);
        var otherMm = d.CreateAddressSpace(mm.PageTableRoot);
        var bond = d.BindSva(first, mm);
        var extra = f.Units[1].ProbeDevice(OwnershipFixture.Sid(7, 0), new DeviceOptions { PasidWidth = 8 });
        d.BindSva(extra, otherMm);
        d.AttachDevicePasid(b, first, otherMm.Pasid); // the group's slot for otherMm's PASID holds a paging domain
        var parent = d.CreatePagingDomain(f.Units[0], flags: PagingDomainFlags.NestParent);
        var claim = d.CreateUserPasidTableDomain(parent, f.Frames.Allocate(), 0);
        var claimed = f.Units[1].ProbeDevice(OwnershipFixture.Sid(6, 0), new DeviceOptions { PasidWidth = 8 });
        d.AttachDevice(claim, claimed);
        d.ClaimDmaOwner(noPasid, "vfio");
        var bigMm = d.CreateAddressSpace(mm.PageTableRoot);
        for (var i = 0; i < 16; i++)
        {
            // Push the next global PASID beyond 'single' (4-bit PASIDs).
            d.BindSva(first, d.CreateAddressSpace(mm.PageTableRoot));
        }

        var refusals = new (string Name, Action Act, IommuError Error)[]
        {
            ("released device", () => d.AttachDevice(a, released), IommuError.NoGroup),
            ("multi-device group", () => d.AttachDevice(a, first), IommuError.GroupHasMultipleDevices),
            ("second RID attach", () => d.AttachDevice(b, single), IommuError.GroupDomainBusy),
            ("foreign domain", () => d.AttachDevice(foreign, noPasid), IommuError.ForeignDomain),
            ("SVA on RID", () => d.AttachGroup(bond.Domain, noPasid.Group!), IommuError.DomainCannotAttachToRid),
            ("blocked with RMRR", () => d.AttachDevice(d.Blocked, rmrr), IommuError.BlockedRequiresDirect),
            ("detach other domain", () => d.DetachDevice(b, single), IommuError.DomainNotAttached),
            ("PASID on released", () => d.AttachDevicePasid(a, released, 1), IommuError.NoGroup),
            ("no set_dev_pasid", () => d.AttachDevicePasid(claim, single, 1), IommuError.DomainCannotAttachToPasid),
            ("no PASID device", () => d.AttachDevicePasid(a, noPasid, 1), IommuError.PasidNotSupported),
            ("foreign on PASID", () => d.AttachDevicePasid(foreign, single, 0), IommuError.ForeignDomain),
            ("PASID 0", () => d.AttachDevicePasid(a, single, 0), IommuError.ReservedPasid),
            ("PASID width", () => d.AttachDevicePasid(a, single, 16), IommuError.PasidOutOfRange),
            ("PASID attached", () => d.AttachDevicePasid(a, single, 3), IommuError.PasidBusy),
            ("claimed by user table", () => d.AttachDevicePasid(a, claimed, 2), IommuError.ClaimedByUserPasidTable),
            ("replace unattached", () => d.ReplaceDevicePasid(a, single, 4), IommuError.PasidNotAttached),
            ("replace SVA bond", () => d.ReplaceDevicePasid(a, first, bond.Pasid), IommuError.PasidBusy),
            ("detach wrong domain", () => d.DetachDevicePasid(a, single, 3), IommuError.PasidNotAttached),
            ("claim with PASIDs", () => d.ClaimDmaOwner(first, "vfio"), IommuError.PasidsAttached),
            ("claim off default", () => d.ClaimDmaOwner(single, "vfio"), IommuError.NotOnDefaultDomain),
            ("different owner", () => d.ClaimDmaOwner(noPasid, "iommufd"), IommuError.DifferentOwner),
            ("kernel use while owned", () => d.UseDefaultDomain(noPasid), IommuError.NotOnDefaultDomain),
            ("SVA other mm", () => d.BindSva(second, otherMm), IommuError.PasidBoundElsewhere),
            ("SVA PASID beyond device", () => d.BindSva(single, d.CreateAddressSpace(mm.PageTableRoot)), IommuError.PasidSpaceExhausted),
            ("SVA no PASID", () => d.BindSva(noPasid, mm), IommuError.PasidNotSupported),
            ("nested on non-parent", () => d.CreateNestedDomain(a, 0), IommuError.InvalidNestParent),
            ("user table with PASIDs", () => d.AttachDevice(claim, single), IommuError.GroupDomainBusy),
            ("unmap misaligned", () => a.Unmap(0x1800, 0x1000), IommuError.InvalidRange),
        };
        foreach (var (name, act, error) in refusals)
        {
            var before = f.State(a, b, bond.Domain, claim, parent);
            var ex = Record.Exception(act) as IommuException;
            Assert.True(ex is not null, $"{name}: not refused");
            Assert.True(error == ex.Error, $"{name}: expected {error}, got {ex.Error} ({ex.Message})");
            Assert.True(before == f.State(a, b, bond.Domain, claim, parent), $"{name} changed state");
        }
        Assert.Equal(Data, OwnershipFixture.Translate(single, 0x1000).Address);
        _ = bigMm;
    }

    [Fact]
    public void Item20_OwnershipIsRefusedWithPasidsAndByDifferentOwners()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { PasidWidth = 8 });
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        f.Driver.ClaimDmaOwner(device, "vfio");
        f.Driver.ClaimDmaOwner(device, "vfio");
        Assert.Equal(2, device.Group!.OwnerCount);
        Assert.Equal(Errno.EPERM, Assert.Throws<IommuException>(() => f.Driver.ClaimDmaOwner(device, "other")).Errno);
        f.Driver.AttachDevicePasid(domain, device, 2);
        Assert.Equal(Errno.EBUSY, Assert.Throws<IommuException>(() => f.Driver.ReleaseDmaOwner(device)).Errno);
        f.Driver.DetachDevicePasid(domain, device, 2);
        f.Driver.ReleaseDmaOwner(device);
        f.Driver.ReleaseDmaOwner(device);
        Assert.Null(device.Group.Owner);
        f.Driver.UseDefaultDomain(device);
        Assert.Equal(Errno.EPERM, Assert.Throws<IommuException>(() => f.Driver.ClaimDmaOwner(device, "vfio")).Errno);
        f.Driver.UnuseDefaultDomain(device);
        f.Driver.ClaimDmaOwner(device, "vfio");
    }

    [Fact]
    public void Item21_SvaBindsShareOnePasidPerAddressSpaceAndRefcount()
    {
        var f = new OwnershipFixture(units: 2);
        var d1 = f.Units[0].ProbeDevice(OwnershipFixture.Sid(1, 0), new DeviceOptions { PasidWidth = 8, Ats = true });
        var d2 = f.Units[1].ProbeDevice(OwnershipFixture.Sid(2, 0), new DeviceOptions { PasidWidth = 8 });
        var small = f.Units[1].ProbeDevice(OwnershipFixture.Sid(3, 0), new DeviceOptions { PasidWidth = 1 });
        var cpu = new IoPageTable(f.Memory, f.Frames, PageTableFormat.FirstStage, 4, 47, 52, true, true);
        cpu.Map(0x7000_0000, Data, 0x2000, IommuPermissions.ReadWrite);
        var earlier = f.Driver.CreateAddressSpace(cpu.Root);
        f.Driver.BindSva(d1, earlier); // takes global PASID 1
        var mm = f.Driver.CreateAddressSpace(cpu.Root);
        var bond = f.Driver.BindSva(d1, mm);
        Assert.Same(bond, f.Driver.BindSva(d1, mm));
        Assert.Equal(2, bond.References);
        Assert.Equal(2u, mm.Pasid);
        var bond2 = f.Driver.BindSva(d2, mm);
        Assert.Equal(bond.Pasid, bond2.Pasid);
        Assert.Same(bond.Domain, bond2.Domain); // one SVA domain shared across compatible units
        Assert.Single(mm.SvaDomains);
        Assert.Equal(Data + 0x1010, OwnershipFixture.Translate(d1, 0x7000_1010, 2).Address);
        Assert.Equal(Data + 0x10, OwnershipFixture.Translate(d2, 0x7000_0010, 2).Address);
        Assert.Equal(Errno.EOVERFLOW, Assert.Throws<IommuException>(() => f.Driver.BindSva(small, mm)).Errno);

        f.ClearLogs();
        mm.InvalidateRange(0x7000_0000, 0x1000);
        Assert.Equal([InvalidationRequest.PasidIotlbPage(1, 2, 0x7000_0000, 0), InvalidationRequest.PasidDeviceTlb(d1.SourceId, 2, 0x7000_0000)], f.Logs[0]);
        Assert.Equal([InvalidationRequest.PasidIotlbPage(1, 2, 0x7000_0000, 0)], f.Logs[1]);

        f.Driver.UnbindSva(bond);
        Assert.NotNull(d1.Group!.GetPasidDomain(2));
        f.Driver.UnbindSva(bond);
        Assert.Null(d1.Group.GetPasidDomain(2));
        Assert.False(OwnershipFixture.Translate(d1, 0x7000_0000, 2).IsSuccess);
        Assert.Single(mm.SvaDomains);
        f.Driver.UnbindSva(bond2);
        Assert.Empty(mm.SvaDomains);
        Assert.Equal(2u, mm.Pasid);
        mm.Release();
        Assert.Equal(1, f.Driver.GlobalPasidsInUse);
    }
}
