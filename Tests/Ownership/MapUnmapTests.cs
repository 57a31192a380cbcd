using VtdEngine.Ownership;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Ownership;

[Trait("Category", "Ownership")]
public class MapUnmapTests
{
    private const ulong Data = OwnershipFixture.DataBase;

    [Fact]
    public void TwoMegAlignedFourMegRangeUsesTwo2MLeaves()
    {
        var f = new OwnershipFixture();
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        var before = domain.Table.TableFrames;
        domain.Map(0x4000_0000, Data, 4UL << 20, IommuPermissions.ReadWrite);
        Assert.True(domain.Table.TryIovaToPhys(0x4000_0000, out var p0, out var s0));
        Assert.True(domain.Table.TryIovaToPhys(0x4020_0000 + 0x123, out var p1, out var s1));
        Assert.Equal((PageSize.Size2M, PageSize.Size2M), (s0, s1));
        Assert.Equal((Data, Data + (2UL << 20) + 0x123), (p0, p1));
        // Only a PDPT and a PD were needed: no level-1 tables for 2 MiB leaves.
        Assert.Equal(before + 2, domain.Table.TableFrames);
    }

    [Fact]
    public void UnalignedStartUses4KUntilA2MBoundaryThen2MThen4K()
    {
        var f = new OwnershipFixture();
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        const ulong iova = 0x1F_F000; // one page below 2 MiB
        domain.Map(iova, Data + 0x1F_F000, (2UL << 20) + 0x2000, IommuPermissions.Read);
        Assert.True(domain.Table.TryIovaToPhys(iova, out _, out var first));
        Assert.True(domain.Table.TryIovaToPhys(0x20_0000, out _, out var middle));
        Assert.True(domain.Table.TryIovaToPhys(0x40_0000, out _, out var last));
        Assert.Equal((PageSize.Size4K, PageSize.Size2M, PageSize.Size4K), (first, middle, last));
    }

    [Fact]
    public void OneGigAlignedRangeUsesA1GLeafOnBothFormats()
    {
        var f = new OwnershipFixture();
        foreach (var flags in new[] { PagingDomainFlags.None, PagingDomainFlags.NestParent })
        {
            var domain = f.Driver.CreatePagingDomain(f.Unit, flags: flags);
            domain.Map(0x4000_0000, 0x4000_0000, 1UL << 30, IommuPermissions.ReadWrite);
            Assert.True(domain.Table.TryIovaToPhys(0x4000_1234, out var physical, out var size));
            Assert.Equal((0x4000_1234UL, PageSize.Size1G), (physical, size));
        }
    }

    [Fact]
    public void UnmappingEverythingReturnsFrameAllocatorToBaseline()
    {
        var f = new OwnershipFixture();
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        var baseline = f.Frames.InUse;
        domain.Map(0x1000, Data, 0x3000, IommuPermissions.ReadWrite);
        domain.Map(0x80_0000_0000, Data, 2UL << 20, IommuPermissions.ReadWrite);
        domain.Map(0x7F00_0020_0000, Data, 0x5000, IommuPermissions.ReadWrite);
        Assert.True(f.Frames.InUse > baseline + 6);
        Assert.Equal(0x3000UL, domain.Unmap(0x1000, 0x3000));
        Assert.Equal((2UL << 20) + 0x5000, domain.Unmap(0x80_0000_0000, 0x7F00_0040_0000 - 0x80_0000_0000));
        Assert.Equal(baseline, f.Frames.InUse);
        Assert.Equal(1, domain.Table.TableFrames);
        Assert.Equal(0UL, domain.IovaToPhys(0x1000));
        // Freed frames are reused: mapping again costs nothing new from the bump region.
        domain.Map(0x1000, Data, 0x1000, IommuPermissions.Read);
        Assert.Equal(Data, domain.IovaToPhys(0x1000));
    }

    [Theory]
    [InlineData(0x1000UL, 0x1000UL, 0UL, IommuError.InvalidRange)]
    [InlineData(0x1800UL, 0x1000UL, 0x1000UL, IommuError.InvalidRange)]
    [InlineData(0x1000UL, 0x1800UL, 0x1000UL, IommuError.InvalidRange)]
    [InlineData(0x1000UL, 0x1000UL, 0x1800UL, IommuError.InvalidRange)]
    [InlineData(0x3000UL, 0x1000UL, 0x2000UL, IommuError.RangeAlreadyMapped)]
    [InlineData(0x0UL, 0x1000UL, 0x200_0000UL, IommuError.RangeAlreadyMapped)]
    [InlineData(0x7FFF_FFFF_F000UL, 0x1000UL, 0x2000UL, IommuError.OutsideAperture)]
    [InlineData(0xFFFF_8000_0000_0000UL, 0x1000UL, 0x1000UL, IommuError.OutsideAperture)]
    [InlineData(0x10_0000UL, 0xF_FFFF_FFFF_F000UL, 0x2000UL, IommuError.OutsideAperture)]
    public void RefusedMapLeavesTableUnchanged(ulong iova, ulong physical, ulong length, IommuError expected)
    {
        var f = new OwnershipFixture();
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        domain.Map(0x4000, Data, 0x1000, IommuPermissions.ReadWrite);
        var before = f.State(domain);
        var ex = Assert.Throws<IommuException>(() => domain.Map(iova, physical, length, IommuPermissions.ReadWrite));
        Assert.Equal(expected, ex.Error);
        Assert.Equal(before, f.State(domain));
    }

    [Fact]
    public void FirstStageApertureIsTheCanonicalLowerHalfAndSecondStageIs2PowAgaw()
    {
        var f = new OwnershipFixture();
        var first = f.Driver.CreatePagingDomain(f.Unit);
        var second = f.Driver.CreatePagingDomain(f.Unit, flags: PagingDomainFlags.NestParent);
        Assert.Equal((PageTableFormat.FirstStage, (1UL << 47) - 1), (first.Format, first.ApertureEnd));
        Assert.Equal((PageTableFormat.SecondStage, (1UL << 48) - 1), (second.Format, second.ApertureEnd));
        second.Map(1UL << 47, Data, 0x1000, IommuPermissions.Write);
        Assert.Equal(IommuError.OutsideAperture,
            Assert.Throws<IommuException>(() => first.Map(1UL << 47, Data, 0x1000, IommuPermissions.ReadWrite)).Error);
        Assert.Equal(IommuError.InvalidRange,
            Assert.Throws<IommuException>(() => first.Map(0, Data, 0x1000, IommuPermissions.Write)).Error);
    }

    [Fact]
    public void UnmapThatCutsALargePageIsRefusedAndChangesNothing()
    {
        var f = new OwnershipFixture();
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        domain.Map(0x20_0000, Data, 2UL << 20, IommuPermissions.ReadWrite);
        var before = f.State(domain);
        Assert.Equal(IommuError.InvalidRange, Assert.Throws<IommuException>(() => domain.Unmap(0x20_0000, 0x1000)).Error);
        Assert.Equal(IommuError.InvalidRange, Assert.Throws<IommuException>(() => domain.Unmap(0x20_0000, 0)).Error);
        Assert.Equal(before, f.State(domain));
        Assert.Equal(0UL, domain.Unmap(0x60_0000, 0x1000));
    }

    [Fact]
    public void MapOutOfFramesRollsBackExactly()
    {
        var f = new OwnershipFixture(tableBytes: 7 * 4096);
        var domain = f.Driver.CreatePagingDomain(f.Unit);
        domain.Map(0, Data, 0x1000, IommuPermissions.ReadWrite);
        var before = f.State(domain);
        // A second 512 GiB region needs three new tables, more than the two frames left.
        var ex = Assert.Throws<IommuException>(() => domain.Map(0x80_0000_0000, Data, 0x2000, IommuPermissions.ReadWrite));
        Assert.Equal(Errno.ENOMEM, ex.Errno);
        Assert.Equal(before, f.State(domain));
    }

    [Fact]
    public void MapThenTranslateThroughTheHardwareWalker()
    {
        var f = new OwnershipFixture();
        var device = f.Unit.ProbeDevice(OwnershipFixture.Sid(3, 1));
        foreach (var flags in new[] { PagingDomainFlags.None, PagingDomainFlags.NestParent })
        {
            var domain = f.Driver.CreatePagingDomain(f.Unit, flags: flags);
            domain.Map(0x20_0000, Data, 0x20_0000, IommuPermissions.Read);
            f.Driver.ReplaceGroupDomain(device.Group!, domain);
            var read = OwnershipFixture.Translate(device, 0x20_0456);
            Assert.True(read.IsSuccess, read.ToString());
            Assert.Equal(Data + 0x456, read.Address);
            Assert.Equal(PageSize.Size2M, read.PageSize);
            Assert.False(OwnershipFixture.Translate(device, 0x20_0000, access: AccessKind.Write).IsSuccess);
            Assert.False(OwnershipFixture.Translate(device, 0x40_0000).IsSuccess);
        }
    }
}
