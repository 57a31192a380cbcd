using System.Numerics;
using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// An I/O address space that RIDs and PASIDs attach to. A domain holds only its translation table and the bookkeeping
/// of where it is attached: a DID per unit (reference counted per attachment), the cache tags of every user and, for
/// nested domains, the parent link. It never holds a PASID table: those belong to the devices.
/// </summary>
public abstract class Domain
{
    private readonly Dictionary<Iommu, DomainIdReference> _domainIds = [];
    private readonly List<TagSlot> _tags = [];
    private readonly List<(Device Device, uint Pasid)> _attachments = [];

    private protected Domain(IommuDriver driver, DomainType type)
    {
        Driver = driver;
        Type = type;
    }

    /// <summary>The driver instance that created the domain; other drivers' devices refuse it (EINVAL).</summary>
    public IommuDriver Driver { get; }

    /// <summary>Domain type.</summary>
    public DomainType Type { get; }

    /// <summary>The DID this domain uses on <paramref name="unit"/>, or null when it is not attached there.</summary>
    public ushort? GetDomainId(Iommu unit)
    {
        lock (Driver.SyncRoot)
        {
            if (UsesDomainId)
            {
                return _domainIds.TryGetValue(unit, out var reference) ? reference.Id : null;
            }
            return FixedDomainId == 0 ? null : FixedDomainId;
        }
    }

    /// <summary>Attachments (RID or PASID) holding this domain's DID on <paramref name="unit"/>.</summary>
    public int GetDomainIdReferences(Iommu unit)
    {
        lock (Driver.SyncRoot)
        {
            return _domainIds.TryGetValue(unit, out var reference) ? reference.References : 0;
        }
    }

    /// <summary>The cache tags invalidations walk, in the order they were added.</summary>
    public IReadOnlyList<CacheTag> CacheTags
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return [.. _tags.Select(slot => slot.Tag)];
            }
        }
    }

    /// <summary>How many attachments share <paramref name="tag"/> (0 when absent).</summary>
    public int GetCacheTagUsers(CacheTag tag)
    {
        lock (Driver.SyncRoot)
        {
            return _tags.Find(slot => slot.Tag == tag)?.Users ?? 0;
        }
    }

    /// <summary>Where the domain is attached: (device, PASID), PASID 0 meaning the RID. Not tracked for blocked/identity.</summary>
    public IReadOnlyList<(Device Device, uint Pasid)> Attachments
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return [.. _attachments];
            }
        }
    }

    /// <summary>Whether each attachment takes a reference on a per-unit DID (paging and nested domains).</summary>
    internal virtual bool UsesDomainId => false;

    /// <summary>The DID of domains that use a fixed one (FLPT_DEFAULT_DID for identity and SVA), else 0.</summary>
    internal virtual ushort FixedDomainId => 0;

    /// <summary>Whether the domain has an <c>attach_dev</c> (SVA does not).</summary>
    internal virtual bool CanAttachRid => true;

    /// <summary>Whether the domain has a <c>set_dev_pasid</c>.</summary>
    internal virtual bool CanAttachPasid => true;

    /// <summary>Whether attachments add cache tags (the domain has translations that can change).</summary>
    internal virtual bool HasCacheTags => false;

    /// <summary>Whether the domain's IOTLB entries are first-stage or nested (flushed PASID-based) rather than second-stage.</summary>
    internal virtual bool FlushesPasidBased => true;

    /// <summary>The nest parent that must reach this domain's users, or null.</summary>
    internal virtual PagingDomain? NestParent => null;

    /// <summary>Why the domain cannot be used on <paramref name="unit"/> (<c>paging_domain_compatible</c>), or null.</summary>
    internal abstract string? CheckCompatible(Iommu unit);

    /// <summary>The PASID-table entry that attaches this domain on <paramref name="unit"/>, or null for blocked.</summary>
    internal abstract PasidTableEntry? BuildEntry(Iommu unit, ushort domainId);

    internal ushort DomainIdOn(Iommu unit) => UsesDomainId ? _domainIds[unit].Id : FixedDomainId;

    internal bool NeedsNewDomainId(Iommu unit) => UsesDomainId && !_domainIds.ContainsKey(unit);

    internal void AcquireDomainId(Iommu unit)
    {
        if (!UsesDomainId)
        {
            return;
        }
        if (!_domainIds.TryGetValue(unit, out var reference))
        {
            reference = new DomainIdReference(unit.DomainIds.Allocate());
            _domainIds.Add(unit, reference);
        }
        reference.References++;
    }

    internal void ReleaseDomainId(Iommu unit)
    {
        if (!UsesDomainId)
        {
            return;
        }
        var reference = _domainIds[unit];
        if (--reference.References == 0)
        {
            unit.DomainIds.Free(reference.Id);
            _domainIds.Remove(unit);
        }
    }

    internal void AddTag(in CacheTag tag)
    {
        foreach (var slot in _tags)
        {
            if (slot.Tag == tag)
            {
                slot.Users++;
                return;
            }
        }
        _tags.Add(new TagSlot(tag));
    }

    internal void RemoveTag(in CacheTag tag)
    {
        for (var i = 0; i < _tags.Count; i++)
        {
            if (_tags[i].Tag == tag)
            {
                if (--_tags[i].Users == 0)
                {
                    _tags.RemoveAt(i);
                }
                return;
            }
        }
        throw new InvalidOperationException($"Cache tag {tag} is not registered.");
    }

    internal void AddAttachment(Device device, uint pasid) => _attachments.Add((device, pasid));

    internal void RemoveAttachment(Device device, uint pasid) => _attachments.Remove((device, pasid));

    internal int AttachmentCount => _attachments.Count;

    /// <summary>
    /// Invalidates <c>[start, end)</c> for every tag (Linux <c>cache_tag_flush_range</c>), following VT-d Table 28:
    /// a first-stage PTE change needs page-selective P_IOTLB per (DID, PASID); a second-stage one page-selective
    /// IOTLB per DID (domain-selective when the range is not a naturally aligned power of two, exceeds CAP.MAMV or
    /// CAP.PSI is absent); ATS devices get a device-TLB invalidation; nested users of a parent are flushed
    /// domain-wide with the whole device TLB, since any second-stage change may affect any nested result.
    /// </summary>
    internal void FlushRange(ulong start, ulong end)
    {
        var pages = (end - start) >> 12;
        var naturallyAligned = pages != 0 && ulong.IsPow2(pages) && (start & ((pages << 12) - 1)) == 0;
        var mask = naturallyAligned ? BitOperations.Log2(pages) : int.MaxValue;
        for (var i = 0; i < _tags.Count; i++)
        {
            var tag = _tags[i].Tag;
            var unit = tag.Unit.Unit;
            if (SameDomainWideTagBefore(i, FlushesPasidBased))
            {
                continue;
            }
            var pageSelective = naturallyAligned && mask <= unit.Profile.MaxAddressMaskValue;
            switch (tag.Kind)
            {
                case CacheTagKind.Iotlb when FlushesPasidBased:
                    unit.Invalidate(pageSelective
                        ? InvalidationRequest.PasidIotlbPage(tag.DomainId, tag.Pasid, start, mask)
                        : InvalidationRequest.PasidIotlb(tag.DomainId, tag.Pasid));
                    break;
                case CacheTagKind.Iotlb:
                    unit.Invalidate(pageSelective && unit.Profile.PageSelectiveInvalidation
                        ? InvalidationRequest.IotlbPage(tag.DomainId, start, mask)
                        : InvalidationRequest.IotlbDomain(tag.DomainId));
                    break;
                case CacheTagKind.DeviceTlb:
                    InvalidateDeviceTlb(unit, tag, naturallyAligned, start, mask);
                    break;
                case CacheTagKind.NestingIotlb:
                    unit.Invalidate(InvalidationRequest.IotlbDomain(tag.DomainId));
                    break;
                case CacheTagKind.NestingDeviceTlb:
                    InvalidateDeviceTlb(unit, tag, naturallyAligned: false, 0, 0);
                    break;
            }
        }
    }

    /// <summary>Invalidates everything of every tag (Linux <c>cache_tag_flush_all</c>, flush-queue timeouts).</summary>
    internal void FlushAll()
    {
        for (var i = 0; i < _tags.Count; i++)
        {
            var tag = _tags[i].Tag;
            var unit = tag.Unit.Unit;
            if (SameDomainWideTagBefore(i, FlushesPasidBased))
            {
                continue;
            }
            switch (tag.Kind)
            {
                case CacheTagKind.Iotlb when FlushesPasidBased:
                    unit.Invalidate(InvalidationRequest.PasidIotlb(tag.DomainId, tag.Pasid));
                    break;
                case CacheTagKind.Iotlb or CacheTagKind.NestingIotlb:
                    unit.Invalidate(InvalidationRequest.IotlbDomain(tag.DomainId));
                    break;
                default:
                    InvalidateDeviceTlb(unit, tag, naturallyAligned: false, 0, 0);
                    break;
            }
        }
    }

    /// <summary>
    /// A device-TLB invalidation for a tag: without PASID for PASID 0, PASID-based otherwise. The range uses the
    /// S-bit encoding (VT-d §6.5.2.5): 2^(k+1) pages where k is the first 0 bit of ADDR above bit 12; "all" is S=1
    /// with ADDR = 0x7FFF_FFFF_FFFF_F000.
    /// </summary>
    internal static void InvalidateDeviceTlb(TranslationUnit unit, in CacheTag tag, bool naturallyAligned, ulong start, int mask)
    {
        var address = DeviceTlbAll;
        var sizeBit = true;
        if (naturallyAligned && mask < 52)
        {
            sizeBit = mask > 0;
            address = mask > 0 ? start | (((1UL << (mask - 1)) - 1) << 12) : start;
        }
        var sourceId = tag.Device!.SourceId;
        unit.Invalidate(tag.Pasid == 0
            ? InvalidationRequest.DeviceTlb(sourceId, address, sizeBit)
            : InvalidationRequest.PasidDeviceTlb(sourceId, tag.Pasid, address, sizeBit));
    }

    /// <summary>
    /// Whether tag <paramref name="index"/> is DID-wide (a second-stage IOTLB or NESTING_IOTLB tag, flushed per DID
    /// regardless of PASID) and an earlier tag already produced the same invalidation on the same unit.
    /// </summary>
    private bool SameDomainWideTagBefore(int index, bool pasidBased)
    {
        var tag = _tags[index].Tag;
        if (!(tag.Kind == CacheTagKind.NestingIotlb || (tag.Kind == CacheTagKind.Iotlb && !pasidBased)))
        {
            return false;
        }
        for (var j = 0; j < index; j++)
        {
            var earlier = _tags[j].Tag;
            if (earlier.Kind == tag.Kind && earlier.Unit == tag.Unit && earlier.DomainId == tag.DomainId)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>ADDR of a device-TLB invalidation covering every address (with S=1).</summary>
    internal const ulong DeviceTlbAll = 0x7FFF_FFFF_FFFF_F000;

    private sealed class DomainIdReference(ushort id)
    {
        public ushort Id { get; } = id;

        public int References { get; set; }
    }

    private sealed class TagSlot(CacheTag tag)
    {
        public CacheTag Tag { get; } = tag;

        public int Users { get; set; } = 1;
    }
}
