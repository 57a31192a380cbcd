using VtdEngine.Tables;

namespace VtdEngine.Ownership;

public sealed partial class IommuDriver
{
    /// <summary>Per-device RID checks in the core's order: foreign, require_direct, no attach_dev, compatibility.</summary>
    internal void CheckDomainForRid(Domain domain, ushort sourceId, bool requireDirect, Iommu unit)
    {
        if (!ReferenceEquals(domain.Driver, this))
        {
            throw Refuse(IommuError.ForeignDomain, "The domain belongs to another IOMMU driver.");
        }
        if (requireDirect && domain is BlockedDomain)
        {
            throw Refuse(IommuError.BlockedRequiresDirect, $"Device {sourceId:x4} has direct mappings (RMRR) and cannot be blocked.");
        }
        if (!domain.CanAttachRid)
        {
            throw Refuse(IommuError.DomainCannotAttachToRid, $"A {domain.Type} domain cannot be attached to a RID.");
        }
        if (domain.CheckCompatible(unit) is { } why)
        {
            throw Refuse(IommuError.IncompatibleDomain, $"The {domain.Type} domain is incompatible with the unit: {why}.");
        }
    }

    /// <summary>Refuses (ENOSPC) when a unit that needs a new DID for <paramref name="domain"/> has none left.</summary>
    internal static void ReserveDomainIds(Domain domain, IEnumerable<Iommu> units)
    {
        foreach (var unit in units.Distinct())
        {
            if (domain.NeedsNewDomainId(unit) && unit.DomainIds.Available == 0)
            {
                throw Refuse(IommuError.DomainIdsExhausted, $"All {unit.DomainIdCapacity} domain ids of the unit are in use.");
            }
        }
    }

    /// <summary>
    /// Allocates the PASID tables <paramref name="pasid"/> needs on each device (Linux allocates leaf tables on demand).
    /// The last step before programming: on ENOMEM every frame taken here is returned, so nothing has changed.
    /// </summary>
    private static void ReservePasidTables(List<Device> devices, uint pasid)
    {
        Span<ulong> taken = stackalloc ulong[devices.Count];
        var count = 0;
        foreach (var device in devices)
        {
            if (!device.NeedsPasidTable(pasid))
            {
                continue;
            }
            if (!device.Iommu.Frames.TryAllocate(out taken[count]))
            {
                var undone = 0;
                foreach (var owner in devices)
                {
                    if (undone < count && owner.NeedsPasidTable(pasid))
                    {
                        owner.Iommu.Frames.Free(taken[undone++]);
                    }
                }
                throw Refuse(IommuError.OutOfMemory, "No frame left for a PASID table.");
            }
            count++;
        }
        count = 0;
        foreach (var device in devices)
        {
            if (device.NeedsPasidTable(pasid))
            {
                // The table is all zeroes (no PASID present), so publishing the directory entry first is safe.
                var table = taken[count++];
                PasidDirectoryEntry.Create(table).Write(device.Iommu.Memory, device.PasidDirectory, pasid);
                device.SetPasidTable(pasid, table);
            }
        }
    }

    /// <summary>Programs a device's RID (PASID-table entry 0, or the context entry for a user PASID table).</summary>
    internal void ProgramRid(Device device, Domain next, Domain? previous)
    {
        var nextClaims = next is UserPasidTableDomain;
        var previousClaims = previous is UserPasidTableDomain;
        if (!nextClaims && !previousClaims)
        {
            Program(device, 0, next, previous);
            return;
        }
        var unit = device.Iommu;
        AddUser(next, device, 0);
        if (!previousClaims)
        {
            TearDown(device, 0);
        }
        // The context entry changes: repoint it, then VT-d Table 28 for an SM context entry: device-selective cc,
        // domain-selective pc and IOTLB, global device TLB.
        var did = previousClaims ? previous!.DomainIdOn(unit) : next.DomainIdOn(unit);
        if (next is UserPasidTableDomain user)
        {
            unit.Memory.Write64(device.ContextEntryAddress, 0);
            unit.WriteContextEntry(device, user.PasidDirectory, user.PasidDirectorySize);
        }
        else
        {
            unit.Memory.Write64(device.ContextEntryAddress, 0);
            unit.WriteContextEntry(device, device.PasidDirectory, device.PasidDirectorySize);
        }
        unit.Unit.Invalidate(InvalidationRequest.ContextCacheDevice(did, device.SourceId));
        unit.Unit.Invalidate(InvalidationRequest.PasidCacheDomain(did));
        unit.Unit.Invalidate(InvalidationRequest.IotlbDomain(did));
        if (device.DeviceTlbEnabled)
        {
            unit.Unit.Invalidate(InvalidationRequest.DeviceTlb(device.SourceId, Domain.DeviceTlbAll, sizeBit: true));
        }
        if (!nextClaims)
        {
            SetUp(device, 0, next);
        }
        if (previous is not null)
        {
            RemoveUser(previous, device, 0);
        }
    }

    /// <summary>
    /// Switches one device's PASID (0 = RID) from <paramref name="previous"/> to <paramref name="next"/>: new metadata
    /// first, then teardown of the old entry, then setup of the new one, then the old metadata is dropped
    /// (<c>domain_add_dev_pasid</c> / <c>intel_pasid_tear_down_entry</c> / setup / <c>domain_remove_dev_pasid</c>).
    /// </summary>
    internal void Program(Device device, uint pasid, Domain next, Domain? previous)
    {
        AddUser(next, device, pasid);
        TearDown(device, pasid);
        SetUp(device, pasid, next);
        if (previous is not null)
        {
            RemoveUser(previous, device, pasid);
        }
    }

    /// <summary>
    /// Clears a present PASID entry: P first, then VT-d Table 28 for a PASID-table entry (PASID-selective PASID cache;
    /// domain-selective IOTLB for second-stage/nested entries, else PASID-selective P_IOTLB; then the device TLB),
    /// then the remaining qwords.
    /// </summary>
    private static void TearDown(Device device, uint pasid)
    {
        var table = device.GetPasidTable(pasid);
        var memory = device.Iommu.Memory;
        if (table == 0 || !PasidTableEntry.TryRead(memory, table, pasid, out var entry) || !entry.Present)
        {
            return;
        }
        var unit = device.Iommu.Unit;
        memory.Write64(PasidTableEntry.AddressOf(table, pasid), 0);
        unit.Invalidate(InvalidationRequest.PasidCachePasid(entry.DomainId, pasid));
        unit.Invalidate(entry.UsesSecondStage
            ? InvalidationRequest.IotlbDomain(entry.DomainId)
            : InvalidationRequest.PasidIotlb(entry.DomainId, pasid));
        if (device.DeviceTlbEnabled)
        {
            unit.Invalidate(pasid == 0
                ? InvalidationRequest.DeviceTlb(device.SourceId, Domain.DeviceTlbAll, sizeBit: true)
                : InvalidationRequest.PasidDeviceTlb(device.SourceId, pasid, Domain.DeviceTlbAll, sizeBit: true));
        }
        PasidTableEntry.Clear(memory, table, pasid);
    }

    /// <summary>Writes the new entry (q7 down to q0, so P lands last); caching mode also needs the entry's caches flushed.</summary>
    private static void SetUp(Device device, uint pasid, Domain next)
    {
        var unit = device.Iommu;
        if (next.BuildEntry(unit, next.DomainIdOn(unit)) is not { } entry)
        {
            return;
        }
        entry.Write(unit.Memory, device.GetPasidTable(pasid), pasid);
        if (unit.Profile.CachingMode)
        {
            // Caching mode may have cached the not-present entry (VT-d §6.1; Linux pasid_flush_caches).
            unit.Unit.Invalidate(InvalidationRequest.PasidCachePasid(entry.DomainId, pasid));
            unit.Unit.Invalidate(entry.UsesSecondStage
                ? InvalidationRequest.IotlbDomain(entry.DomainId)
                : InvalidationRequest.PasidIotlb(entry.DomainId, pasid));
        }
    }

    /// <summary>Takes the DID reference and cache tags of one attachment (and the NESTING tags on a parent).</summary>
    private static void AddUser(Domain domain, Device device, uint pasid)
    {
        var unit = device.Iommu;
        domain.AcquireDomainId(unit);
        if (domain.HasCacheTags)
        {
            var did = domain.DomainIdOn(unit);
            domain.AddTag(new CacheTag(CacheTagKind.Iotlb, unit, did, pasid, null));
            if (device.DeviceTlbEnabled)
            {
                domain.AddTag(new CacheTag(CacheTagKind.DeviceTlb, unit, did, pasid, device));
            }
            if (domain.NestParent is { } parent)
            {
                parent.AddTag(new CacheTag(CacheTagKind.NestingIotlb, unit, did, pasid, null));
                if (device.DeviceTlbEnabled)
                {
                    parent.AddTag(new CacheTag(CacheTagKind.NestingDeviceTlb, unit, did, pasid, device));
                }
            }
        }
        if (domain.UsesDomainId || domain.HasCacheTags)
        {
            domain.AddAttachment(device, pasid);
        }
    }

    private static void RemoveUser(Domain domain, Device device, uint pasid)
    {
        var unit = device.Iommu;
        if (domain.HasCacheTags)
        {
            var did = domain.DomainIdOn(unit);
            domain.RemoveTag(new CacheTag(CacheTagKind.Iotlb, unit, did, pasid, null));
            if (device.DeviceTlbEnabled)
            {
                domain.RemoveTag(new CacheTag(CacheTagKind.DeviceTlb, unit, did, pasid, device));
            }
            if (domain.NestParent is { } parent)
            {
                parent.RemoveTag(new CacheTag(CacheTagKind.NestingIotlb, unit, did, pasid, null));
                if (device.DeviceTlbEnabled)
                {
                    parent.RemoveTag(new CacheTag(CacheTagKind.NestingDeviceTlb, unit, did, pasid, device));
                }
            }
        }
        if (domain.UsesDomainId || domain.HasCacheTags)
        {
            domain.RemoveAttachment(device, pasid);
        }
        domain.ReleaseDomainId(unit);
    }
}
