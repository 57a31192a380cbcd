using VtdEngine.Tables;

namespace VtdEngine.Hardware;

/// <summary>
/// The register face of one DMA-remapping hardware unit (VT-d §11.4): the MMIO register file a guest driver
/// programs, over a <see cref="TranslationUnit"/> it creates. It latches the root table on SRTP, enables translation on
/// TE, performs register-based and queued invalidations, records faults in the FRCD registers and sends fault and
/// invalidation-completion events as <see cref="InterruptMessage"/>s.
/// </summary>
/// <remarks>
/// <para>
/// Accesses are dword or qword, naturally aligned. A qword access is two dword accesses, low then high, as the Linux
/// driver performs 64-bit writes on 32-bit platforms; command bits that live in a high dword (CCMD.ICC, IOTLB.IVT) act
/// when the high dword is written. Unknown, reserved or misaligned offsets read 0 and ignore writes; no offset or value
/// makes an access throw.
/// </para>
/// <para>
/// Concurrency: register accesses and fault recording serialise on one lock (faults and register writes are the slow
/// path); translations themselves do not take it unless they fault. Interrupts are delivered after the lock is released,
/// on the thread whose access or fault raised them. Invalidations run synchronously inside the register write that
/// triggers them, so every ordering rule of §6.5.2.12 holds trivially.
/// </para>
/// </remarks>
public sealed partial class RemappingHardwareUnit
{
    private readonly Lock _lock = new();
    private readonly List<InterruptMessage> _outbox = [];
    private readonly ulong[] _faultRecords;
    private readonly int _iotlbOffset;
    private readonly int _faultRecordOffset;

    /// <summary>Creates a unit in its reset state (translation disabled, QI disabled, events masked).</summary>
    public RemappingHardwareUnit(IPhysicalMemory memory, CapabilityProfile? profile = null)
    {
        Unit = new TranslationUnit(memory, profile);
        _faultRecords = new ulong[2 * Profile.FaultRecordingRegisters];
        _iotlbOffset = 16 * (Profile.IotlbRegisterOffset & 0x3FF);
        _faultRecordOffset = 16 * (Profile.FaultRecordingOffset & 0x3FF);
        Unit.FaultObserver = OnFault;
        ResetRegisters();
    }

    /// <summary>The translation unit the registers drive (for observers such as <see cref="TranslationUnit.Invalidated"/>).</summary>
    public TranslationUnit Unit { get; }

    /// <summary>What the unit reports in CAP and ECAP.</summary>
    public CapabilityProfile Profile => Unit.Profile;

    /// <summary>The memory that holds the remapping structures, the invalidation queue and wait status words.</summary>
    public IPhysicalMemory Memory => Unit.Memory;

    /// <summary>
    /// Fault events and invalidation completion events, raised when hardware would send the MSI (not while masked; a
    /// masked event is sent when software clears IM). Handlers run after the register lock is released.
    /// </summary>
    public event Action<InterruptMessage>? Interrupt;

    /// <summary>Offset of IVA_REG (16 × ECAP.IRO); IOTLB_REG follows at +8.</summary>
    public int InvalidateAddressRegisterOffset => _iotlbOffset;

    /// <summary>Offset of IOTLB_REG (16 × ECAP.IRO + 8).</summary>
    public int IotlbRegisterOffset => _iotlbOffset + 8;

    /// <summary>Offset of FRCD register <paramref name="index"/> (16 × CAP.FRO + 16 × index).</summary>
    public int FaultRecordingRegisterOffset(int index) => _faultRecordOffset + (16 * index);

    /// <summary>Number of fault-recording registers (CAP.NFR + 1).</summary>
    public int FaultRecordingRegisterCount => _faultRecords.Length / 2;

    /// <summary>Size of the MMIO window an embedder maps: every register lies below it (a multiple of 4 KiB).</summary>
    public int RegisterWindowSize
    {
        get
        {
            var end = Math.Max(Math.Max(RegisterOffsets.Iqercd + 8, _iotlbOffset + 16), FaultRecordingRegisterOffset(FaultRecordingRegisterCount));
            return (end + 0xFFF) & ~0xFFF;
        }
    }

    /// <summary>
    /// Translates a DMA request through the unit. Faults are recorded in the FRCD registers (and raise fault events)
    /// before this returns, exactly as for <see cref="TranslationUnit.Translate(in DmaRequest)"/> on <see cref="Unit"/>.
    /// </summary>
    public TranslationResult Translate(in DmaRequest request) => Unit.Translate(request);

    /// <summary>Reads the dword register at <paramref name="offset"/>; reserved or misaligned offsets read 0.</summary>
    public uint ReadRegister32(ulong offset)
    {
        if ((offset & 3) != 0 || offset >= int.MaxValue)
        {
            return 0;
        }
        lock (_lock)
        {
            return Read32((int)offset);
        }
    }

    /// <summary>Reads the qword register at <paramref name="offset"/> (low dword, then high); misaligned reads 0.</summary>
    public ulong ReadRegister64(ulong offset)
    {
        if ((offset & 7) != 0 || offset >= int.MaxValue - 8)
        {
            return 0;
        }
        lock (_lock)
        {
            return Read32((int)offset) | ((ulong)Read32((int)offset + 4) << 32);
        }
    }

    /// <summary>Writes the dword register at <paramref name="offset"/>; reserved or misaligned offsets ignore it.</summary>
    public void WriteRegister32(ulong offset, uint value)
    {
        if ((offset & 3) != 0 || offset >= int.MaxValue)
        {
            return;
        }
        InterruptMessage[]? interrupts;
        lock (_lock)
        {
            Write32((int)offset, value);
            interrupts = TakeOutbox();
        }
        Deliver(interrupts);
    }

    /// <summary>Writes the qword register at <paramref name="offset"/> as two dwords, low then high.</summary>
    public void WriteRegister64(ulong offset, ulong value)
    {
        if ((offset & 7) != 0 || offset >= int.MaxValue - 8)
        {
            return;
        }
        InterruptMessage[]? interrupts;
        lock (_lock)
        {
            Write32((int)offset, (uint)value);
            Write32((int)offset + 4, (uint)(value >> 32));
            interrupts = TakeOutbox();
        }
        Deliver(interrupts);
    }

    /// <summary>
    /// Returns every register to its reset value and the translation unit to "no root table, translation disabled",
    /// as a platform reset does. Memory is untouched.
    /// </summary>
    public void Reset()
    {
        lock (_lock)
        {
            ResetRegisters();
            Unit.TranslationEnabled = false;
            Unit.SetRootTable(0, RootTableMode.Legacy);
            Unit.FlushAllCaches();
            _outbox.Clear();
        }
    }

    private void ResetRegisters()
    {
        _gsts = 0;
        _rtaddr = 0;
        _ccmd = 0;
        _fsts = 0;
        _fectl = InterruptMask;
        _fedata = _feaddr = _feuaddr = 0;
        Array.Clear(_faultRecords);
        _pendingRecords = 0;
        _faultIndex = 0;
        _firstFaultIndex = 0;
        _iqh = _iqt = _iqa = 0;
        _ics = 0;
        _iectl = InterruptMask;
        _iedata = _ieaddr = _ieuaddr = 0;
        _iqercd = 0;
        _iva = _iotlb = 0;
    }

    private uint Read32(int offset)
    {
        switch (offset)
        {
            case RegisterOffsets.Ver:
                return Profile.Version;
            case RegisterOffsets.Cap:
                return (uint)Profile.Capability;
            case RegisterOffsets.Cap + 4:
                return (uint)(Profile.Capability >> 32);
            case RegisterOffsets.Ecap:
                return (uint)Profile.ExtendedCapability;
            case RegisterOffsets.Ecap + 4:
                return (uint)(Profile.ExtendedCapability >> 32);
            case RegisterOffsets.Gsts:
                return (uint)_gsts;
            case RegisterOffsets.Rtaddr:
                return (uint)_rtaddr;
            case RegisterOffsets.Rtaddr + 4:
                return (uint)(_rtaddr >> 32);
            case RegisterOffsets.Ccmd:
                return (uint)_ccmd;
            case RegisterOffsets.Ccmd + 4:
                return (uint)(_ccmd >> 32);
            case RegisterOffsets.Fsts:
                return FaultStatusValue;
            case RegisterOffsets.Fectl:
                return _fectl;
            case RegisterOffsets.Fedata:
                return _fedata;
            case RegisterOffsets.Feaddr:
                return _feaddr;
            case RegisterOffsets.Feuaddr:
                return _feuaddr;
        }
        if (Profile.QueuedInvalidation && TryReadQueueRegister(offset, out var queueValue))
        {
            return queueValue;
        }
        if (offset == _iotlbOffset || offset == _iotlbOffset + 4)
        {
            return (uint)(_iva >> ((offset - _iotlbOffset) * 8));
        }
        if (offset == _iotlbOffset + 8 || offset == _iotlbOffset + 12)
        {
            return (uint)(_iotlb >> ((offset - _iotlbOffset - 8) * 8));
        }
        if (TryFaultRecordDword(offset, out var index))
        {
            return (uint)(_faultRecords[index >> 1] >> ((index & 1) * 32));
        }
        return 0;
    }

    private void Write32(int offset, uint value)
    {
        switch (offset)
        {
            case RegisterOffsets.Gcmd:
                WriteGlobalCommand((GlobalCommand)value);
                return;
            case RegisterOffsets.Rtaddr:
                _rtaddr = ((_rtaddr & 0xFFFF_FFFF_0000_0000UL) | value) & RootTableAddressWritable;
                return;
            case RegisterOffsets.Rtaddr + 4:
                _rtaddr = ((_rtaddr & 0xFFFF_FFFFUL) | ((ulong)value << 32)) & RootTableAddressWritable;
                return;
            case RegisterOffsets.Ccmd:
                _ccmd = (_ccmd & 0xFFFF_FFFF_0000_0000UL) | value;
                return;
            case RegisterOffsets.Ccmd + 4:
                WriteContextCommandHigh(value);
                return;
            case RegisterOffsets.Fsts:
                WriteFaultStatus(value);
                return;
            case RegisterOffsets.Fectl:
                WriteEventControl(ref _fectl, value, InterruptSource.FaultEvent);
                return;
            case RegisterOffsets.Fedata:
                _fedata = value & 0xFFFF;
                return;
            case RegisterOffsets.Feaddr:
                _feaddr = value & ~3u;
                return;
            case RegisterOffsets.Feuaddr:
                _feuaddr = value;
                return;
        }
        if (Profile.QueuedInvalidation && TryWriteQueueRegister(offset, value))
        {
            return;
        }
        if (offset == _iotlbOffset)
        {
            _iva = ((_iva & 0xFFFF_FFFF_0000_0000UL) | value) & InvalidateAddressWritable;
        }
        else if (offset == _iotlbOffset + 4)
        {
            _iva = ((_iva & 0xFFFF_FFFFUL) | ((ulong)value << 32)) & InvalidateAddressWritable;
        }
        else if (offset == _iotlbOffset + 12)
        {
            // IOTLB_REG bits 31:0 are reserved; the command (IVT) is in the high dword.
            WriteIotlbHigh(value);
        }
        else if (TryFaultRecordDword(offset, out var index) && (index & 3) == 3)
        {
            WriteFaultRecordHigh(index >> 2, value);
        }
    }

    /// <summary>Whether <paramref name="offset"/> is a dword of an FRCD; <paramref name="dword"/> counts dwords from FRCD 0.</summary>
    private bool TryFaultRecordDword(int offset, out int dword)
    {
        dword = (offset - _faultRecordOffset) >> 2;
        return offset >= _faultRecordOffset && dword < 2 * _faultRecords.Length;
    }

    private InterruptMessage[]? TakeOutbox()
    {
        if (_outbox.Count == 0)
        {
            return null;
        }
        var messages = _outbox.ToArray();
        _outbox.Clear();
        return messages;
    }

    private void Deliver(InterruptMessage[]? messages)
    {
        if (messages is null)
        {
            return;
        }
        foreach (var message in messages)
        {
            Interrupt?.Invoke(message);
        }
    }
}
