using VtdEngine.Hardware;
using VtdEngine.Tables;

namespace VtdEngine.Tests.Hardware;

/// <summary>
/// A guest driver in miniature: programs a <see cref="RemappingHardwareUnit"/> only through its registers and memory,
/// in the order the Linux intel-iommu driver does (dmar.c / iommu.c), so tests read like a boot log.
/// </summary>
internal sealed class GuestDriver
{
    // GCMD software writes GSTS with the one-shot status bits masked off (Linux: readl(GSTS) & 0x96FFFFFF).
    private const uint OneShotMask = 0x96FF_FFFF;

    public GuestDriver(RemappingHardwareUnit hardware, FrameAllocator frames, bool splitWrites = false)
    {
        Hardware = hardware;
        Frames = frames;
        SplitWrites = splitWrites;
        Queue = frames.Allocate();
        StatusPage = frames.Allocate();
        hardware.Interrupt += Interrupts.Add;
    }

    public RemappingHardwareUnit Hardware { get; }

    public FrameAllocator Frames { get; }

    public IPhysicalMemory Memory => Hardware.Memory;

    /// <summary>Write 64-bit registers as two dwords, low then high (Linux <c>lo_hi_writeq</c> on 32-bit kernels).</summary>
    public bool SplitWrites { get; }

    public ulong Queue { get; }

    public ulong StatusPage { get; }

    public bool WideDescriptors { get; private set; } = true;

    public List<InterruptMessage> Interrupts { get; } = [];

    private uint _statusSequence;

    public void Write64(int offset, ulong value)
    {
        if (SplitWrites)
        {
            Hardware.WriteRegister32((ulong)offset, (uint)value);
            Hardware.WriteRegister32((ulong)offset + 4, (uint)(value >> 32));
        }
        else
        {
            Hardware.WriteRegister64((ulong)offset, value);
        }
    }

    public ulong Read64(int offset) => Hardware.ReadRegister64((ulong)offset);

    public uint Read32(int offset) => Hardware.ReadRegister32((ulong)offset);

    public void Write32(int offset, uint value) => Hardware.WriteRegister32((ulong)offset, value);

    public GlobalStatus Status => (GlobalStatus)Read32(RegisterOffsets.Gsts);

    /// <summary>Linux <c>iommu_set_root_entry</c>: RTADDR, then GCMD.SRTP, then poll GSTS.RTPS.</summary>
    public void SetRootEntry(ulong rootTable, RootTableMode mode)
    {
        Write64(RegisterOffsets.Rtaddr, rootTable | ((ulong)mode << 10));
        GlobalCommand(GlobalStatus.RootTablePointerStatus, set: true);
    }

    /// <summary>Linux <c>dmar_enable_qi</c>: IQH is 0, IQT = 0, IQA (DW, QS), then GCMD.QIE and poll QIES.</summary>
    public void EnableQueuedInvalidation(bool wide = true, int queueSizeOrder = 0)
    {
        WideDescriptors = wide;
        Write64(RegisterOffsets.Iqt, 0);
        Write64(RegisterOffsets.Iqa, Queue | (wide ? 1UL << 11 : 0) | (uint)queueSizeOrder);
        GlobalCommand(GlobalStatus.QueuedInvalidationEnableStatus, set: true);
    }

    public void EnableTranslation(bool on = true) => GlobalCommand(GlobalStatus.TranslationEnableStatus, on);

    /// <summary>One GCMD command: read GSTS, mask, change one bit, write, poll (status changes are immediate here).</summary>
    public void GlobalCommand(GlobalStatus statusBit, bool set)
    {
        var status = Read32(RegisterOffsets.Gsts) & OneShotMask;
        var command = set ? status | (uint)statusBit : status & ~(uint)statusBit;
        Write32(RegisterOffsets.Gcmd, command);
        var now = Status;
        Assert.Equal(set, (now & statusBit) != 0);
    }

    /// <summary>Puts descriptors at IQT without moving the tail; returns the tail after them.</summary>
    public ulong Place(ulong tail, params InvalidationDescriptor[] descriptors)
    {
        var size = WideDescriptors ? 32UL : 16UL;
        foreach (var descriptor in descriptors)
        {
            descriptor.Write(Memory, Queue + tail, WideDescriptors);
            tail = (tail + size) % 4096;
        }
        return tail;
    }

    /// <summary>
    /// Linux <c>qi_submit_sync</c>: the descriptors plus a wait descriptor with SW, one IQT write, then poll the status
    /// dword. Returns whether the wait completed (false when the queue stopped on an error).
    /// </summary>
    public bool Submit(params InvalidationDescriptor[] descriptors)
    {
        var status = ++_statusSequence;
        var tail = Read64(RegisterOffsets.Iqt);
        tail = Place(tail, [.. descriptors, InvalidationDescriptor.Wait(StatusPage, status, statusWrite: true)]);
        Write64(RegisterOffsets.Iqt, tail);
        return Memory.TryRead32(StatusPage, out var seen) && seen == status;
    }

    public bool Submit(params InvalidationRequest[] requests) =>
        Submit([.. requests.Select(r => InvalidationDescriptor.Encode(r))]);

    /// <summary>Linux <c>dmar_set_interrupt</c> for the fault event: data, address, upper address, then unmask.</summary>
    public void SetupFaultInterrupt(uint data = 0x41, ulong address = 0xFEE0_1000)
    {
        Write32(RegisterOffsets.Fedata, data);
        Write32(RegisterOffsets.Feaddr, (uint)address);
        Write32(RegisterOffsets.Feuaddr, (uint)(address >> 32));
        Write32(RegisterOffsets.Fectl, 0);
    }

    public FaultStatus FaultStatus => (FaultStatus)(Read32(RegisterOffsets.Fsts) & 0x73);

    public int FaultRecordIndex => (int)((Read32(RegisterOffsets.Fsts) >> 8) & 0xFF);

    /// <summary>Reads FRCD <paramref name="index"/> through the registers (two qword reads).</summary>
    public FaultRecord ReadFaultRecord(int index)
    {
        var offset = Hardware.FaultRecordingRegisterOffset(index);
        return new FaultRecord(Read64(offset), Read64(offset + 8));
    }

    /// <summary>Linux <c>dmar_fault</c>: clear F with a dword write to the FRCD's top dword.</summary>
    public void ClearFaultRecord(int index) => Write32(Hardware.FaultRecordingRegisterOffset(index) + 12, 1u << 31);

    public ulong QueueHead => Read64(RegisterOffsets.Iqh);

    public InvalidationQueueErrorInfo QueueErrorInfo => (InvalidationQueueErrorInfo)(Read64(RegisterOffsets.Iqercd) & 0xF);
}
