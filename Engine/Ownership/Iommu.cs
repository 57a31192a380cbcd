using System.Numerics;
using VtdEngine.Tables;

namespace VtdEngine.Ownership;

/// <summary>
/// The OS-side view of one remapping unit (Linux <c>intel_iommu</c>): it runs a <see cref="TranslationUnit"/> in
/// scalable mode, owns the root table and the context tables it programs, and allocates the unit's domain ids.
/// </summary>
public sealed class Iommu
{
    private readonly Dictionary<int, ulong> _contextTables = [];
    private readonly Dictionary<ushort, Device> _devices = [];

    internal Iommu(IommuDriver driver, TranslationUnit unit, FrameAllocator frames)
    {
        if (!unit.Profile.ScalableMode)
        {
            throw new ArgumentException("The ownership model drives units in scalable mode (ECAP.SMTS).", nameof(unit));
        }
        Driver = driver;
        Unit = unit;
        Frames = frames;
        DomainIds = new DomainIdAllocator(unit.Profile.DomainIdBits);
        RootTable = frames.Allocate();
        unit.SetRootTable(RootTable, RootTableMode.Scalable);
        // SRTP: with ESRTPS the unit flushes itself; otherwise global cc, pc, IOTLB (VT-d Table 28, root entry).
        unit.FlushAllCaches();
        unit.TranslationEnabled = true;
    }

    /// <summary>The owning driver.</summary>
    public IommuDriver Driver { get; }

    /// <summary>The hardware unit.</summary>
    public TranslationUnit Unit { get; }

    /// <summary>The unit's capabilities.</summary>
    public CapabilityProfile Profile => Unit.Profile;

    /// <summary>The memory the unit translates and its tables live in.</summary>
    public IPhysicalMemory Memory => Unit.Memory;

    /// <summary>The scalable-mode root table.</summary>
    public ulong RootTable { get; }

    /// <summary>Domain ids in use, the reserved 0 and 1 excluded.</summary>
    public int DomainIdsInUse
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return DomainIds.Capacity - 2 - DomainIds.Available;
            }
        }
    }

    /// <summary>Domain ids the unit can hand out (2^ND-bits minus the two reserved).</summary>
    public int DomainIdCapacity => DomainIds.Capacity - 2;

    /// <summary>Devices probed on this unit.</summary>
    public IReadOnlyCollection<Device> Devices
    {
        get
        {
            lock (Driver.SyncRoot)
            {
                return [.. _devices.Values];
            }
        }
    }

    internal FrameAllocator Frames { get; }

    internal DomainIdAllocator DomainIds { get; }

    /// <summary>
    /// Probes a device: allocates its PASID directory and the first PASID table, programs its scalable-mode context
    /// entry (RID_PASID = 0) and attaches its group's current RID domain at PASID-table entry 0
    /// (<c>intel_pasid_alloc_table</c>, <c>intel_pasid_setup_sm_context</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The source id is already probed, or the group belongs to another driver.</exception>
    /// <exception cref="IommuException">The joined group is not idle (EBUSY), the default domain does not fit, or no frames (ENOMEM).</exception>
    public Device ProbeDevice(ushort sourceId, DeviceOptions? options = null)
    {
        options ??= new DeviceOptions();
        lock (Driver.SyncRoot)
        {
            if (_devices.ContainsKey(sourceId))
            {
                throw new ArgumentException($"Source id 0x{sourceId:x4} is already probed on this unit.", nameof(sourceId));
            }
            var group = options.Group;
            if (group is not null && (!ReferenceEquals(group.Driver, Driver) || group.PasidArray.Count != 0 || group.Domain != group.DefaultDomain))
            {
                throw new IommuException(IommuError.NotOnDefaultDomain, "A device can join only an idle group of this driver.");
            }
            var domain = group?.Domain ?? options.DefaultDomain ?? Driver.Blocked;
            Driver.CheckDomainForRid(domain, sourceId, options.RequireDirect, this);
            var maxPasids = options.PasidWidth <= 0 || !Profile.Pasid
                ? 0u
                : (uint)Math.Min(Math.Min(1L << Math.Min(options.PasidWidth, 20), 1L << Profile.PasidWidth), Device.MaxSupportedPasids);
            // Directory entries cover 64 PASIDs each; PDTS encodes 2^(PDTS+7) entries (at least 128).
            var directoryEntries = Math.Max(1u, (maxPasids + 63) / 64);
            var pasidDirectorySize = Math.Max(0, BitOperations.Log2(BitOperations.RoundUpToPowerOf2(directoryEntries)) - 7);
            IommuDriver.ReserveDomainIds(domain, [this]);
            var contextTable = ContextTableFor(sourceId);
            if (!Frames.TryAllocate(out var directory) || !Frames.TryAllocate(out var pasidTable))
            {
                throw new IommuException(IommuError.OutOfMemory, "No frame left for the PASID directory.");
            }
            var device = new Device(this, sourceId, options, maxPasids, contextTable, directory, pasidDirectorySize);
            PasidDirectoryEntry.Create(pasidTable).Write(Memory, directory, 0);
            device.SetPasidTable(0, pasidTable);
            WriteContextEntry(device, directory, pasidDirectorySize);

            group ??= new Group(Driver, domain);
            group.DeviceList.Add(device);
            device.Group = group;
            _devices.Add(sourceId, device);
            Driver.ProgramRid(device, domain, previous: null);
            return device;
        }
    }

    /// <summary>
    /// Releases a device: its RID goes to blocked, the context entry is cleared and its PASID directory and tables are
    /// freed. Afterwards every call on it reports <see cref="IommuError.NoGroup"/> (ENODEV).
    /// </summary>
    /// <exception cref="IommuException">PasidsAttached (EBUSY) while its group still has PASIDs attached.</exception>
    public void ReleaseDevice(Device device)
    {
        lock (Driver.SyncRoot)
        {
            var group = device.Group;
            if (group is null)
            {
                return;
            }
            if (group.PasidArray.Count != 0)
            {
                throw new IommuException(IommuError.PasidsAttached, "Detach the group's PASIDs before releasing a device.");
            }
            Driver.ProgramRid(device, Driver.Blocked, group.Domain);
            // Clear P first, then the rest; then the context-entry invalidations of VT-d Table 28.
            Memory.Write64(device.ContextEntryAddress, 0);
            new ScalableModeContextEntry(0, 0, 0, 0).Write(Memory, device.ContextTable, unchecked((byte)device.SourceId));
            Unit.Invalidate(InvalidationRequest.ContextCacheDevice(0, device.SourceId));
            if (device.DeviceTlbEnabled)
            {
                Unit.Invalidate(InvalidationRequest.DeviceTlb(device.SourceId, Domain.DeviceTlbAll, sizeBit: true));
            }
            foreach (var table in device.AllocatedPasidTables())
            {
                Frames.Free(table);
            }
            Frames.Free(device.PasidDirectory);
            group.DeviceList.Remove(device);
            device.Group = null;
            _devices.Remove(device.SourceId);
        }
    }

    /// <summary>Writes the device's own context entry (probe, or leaving a user PASID table).</summary>
    internal void WriteContextEntry(Device device, ulong pasidDirectory, int pasidDirectorySize) =>
        ScalableModeContextEntry.Create(pasidDirectory, pasidDirectorySize, pasidEnable: device.MaxPasids > 0 || pasidDirectory != device.PasidDirectory,
            deviceTlbEnable: device.DeviceTlbEnabled, ridPasid: 0).Write(Memory, device.ContextTable, unchecked((byte)device.SourceId));

    private ulong ContextTableFor(ushort sourceId)
    {
        var bus = sourceId >> 8;
        var upper = (sourceId & 0x80) != 0;
        var key = (bus << 1) | (upper ? 1 : 0);
        if (_contextTables.TryGetValue(key, out var table))
        {
            return table;
        }
        table = Frames.Allocate();
        _contextTables.Add(key, table);
        _contextTables.TryGetValue(bus << 1, out var lower);
        _contextTables.TryGetValue((bus << 1) | 1, out var upperTable);
        ScalableModeRootEntry.Create(lower, upperTable).Write(Memory, RootTable, (byte)bus);
        return table;
    }
}
