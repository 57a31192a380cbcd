namespace VtdEngine.Hardware;

public sealed partial class RemappingHardwareUnit
{
    private const uint InterruptMask = 1u << 31;   // FECTL/IECTL.IM
    private const uint InterruptPending = 1u << 30; // FECTL/IECTL.IP
    private const FaultStatus WriteOneToClear = FaultStatus.PrimaryFaultOverflow | FaultStatus.InvalidationQueueError
        | FaultStatus.InvalidationCompletionError | FaultStatus.InvalidationTimeoutError;
    private const FaultStatus EventConditions = WriteOneToClear | FaultStatus.PrimaryPendingFault;

    private FaultStatus _fsts;        // PFO, IQE, ICE, ITE; PPF is derived from the F bits
    private uint _fectl;
    private uint _fedata;
    private uint _feaddr;
    private uint _feuaddr;
    private int _pendingRecords;      // FRCDs with F set: PPF = _pendingRecords != 0
    private int _faultIndex;          // where the next primary fault is recorded
    private int _firstFaultIndex;     // FSTS.FRI

    /// <summary>FSTS as software reads it: status bits, PPF and FRI (15:8).</summary>
    private uint FaultStatusValue => (uint)CurrentFaultStatus | ((uint)(_firstFaultIndex & 0xFF) << 8);

    private FaultStatus CurrentFaultStatus => _fsts | (_pendingRecords != 0 ? FaultStatus.PrimaryPendingFault : 0);

    /// <summary>The FRCD register <paramref name="index"/> as software would read it.</summary>
    public FaultRecord ReadFaultRecord(int index)
    {
        if ((uint)index >= (uint)FaultRecordingRegisterCount)
        {
            return default;
        }
        lock (_lock)
        {
            return new FaultRecord(_faultRecords[2 * index], _faultRecords[(2 * index) + 1]);
        }
    }

    /// <summary>
    /// FaultObserver hook: primary fault logging (VT-d §7.2.1) for faults hardware records. Faults suppressed by FPD
    /// never reach the registers and raise no event.
    /// </summary>
    private void OnFault(DmaRequest request, TranslationResult result)
    {
        if (!result.IsRecordable)
        {
            return;
        }
        InterruptMessage[]? interrupts;
        lock (_lock)
        {
            RecordPrimaryFault(request, result.Fault);
            interrupts = TakeOutbox();
        }
        Deliver(interrupts);
    }

    /// <summary>
    /// VT-d §7.2.1: with PFO set the fault is dropped; if the FRCD at the fault index still holds a fault, PFO is set and
    /// the fault dropped; otherwise it is recorded, FRI set if PPF was clear, and the index advanced (wrapping at NFR+1).
    /// Faults from the same source are not compressed (that is optional).
    /// </summary>
    private void RecordPrimaryFault(in DmaRequest request, FaultReason reason)
    {
        if ((_fsts & FaultStatus.PrimaryFaultOverflow) != 0)
        {
            return;
        }
        var index = _faultIndex;
        if ((_faultRecords[(2 * index) + 1] & FaultRecord.FaultBit) != 0)
        {
            RaiseFaultCondition(FaultStatus.PrimaryFaultOverflow);
            return;
        }
        var wasPending = (CurrentFaultStatus & EventConditions) != 0;
        var record = FaultRecord.Create(request, reason);
        _faultRecords[2 * index] = record.Low;
        _faultRecords[(2 * index) + 1] = record.High;
        if (_pendingRecords++ == 0)
        {
            _firstFaultIndex = index;
        }
        _faultIndex = (index + 1) % FaultRecordingRegisterCount;
        if (!wasPending)
        {
            SignalEvent(ref _fectl, InterruptSource.FaultEvent);
        }
    }

    /// <summary>
    /// Sets a fault status condition. VT-d §7.3: a fault event is generated only when none of PFO, PPF, IQE, ICE and ITE
    /// was already set; otherwise the condition waits for software to service the earlier one.
    /// </summary>
    private void RaiseFaultCondition(FaultStatus condition)
    {
        var wasPending = (CurrentFaultStatus & EventConditions) != 0;
        _fsts |= condition;
        if (!wasPending)
        {
            SignalEvent(ref _fectl, InterruptSource.FaultEvent);
        }
    }

    /// <summary>Sets IP; sends the message at once unless IM is set, in which case it waits for IM to clear.</summary>
    private void SignalEvent(ref uint control, InterruptSource source)
    {
        control |= InterruptPending;
        if ((control & InterruptMask) == 0)
        {
            Send(source);
            control &= ~InterruptPending;
        }
    }

    private void Send(InterruptSource source) => _outbox.Add(source == InterruptSource.FaultEvent
        ? new InterruptMessage(source, ((ulong)_feuaddr << 32) | _feaddr, _fedata)
        : new InterruptMessage(source, ((ulong)_ieuaddr << 32) | _ieaddr, _iedata));

    /// <summary>FECTL/IECTL write: only IM is writable. Clearing IM with IP set sends the held message and clears IP.</summary>
    private void WriteEventControl(ref uint control, uint value, InterruptSource source)
    {
        control = (control & InterruptPending) | (value & InterruptMask);
        if ((control & (InterruptMask | InterruptPending)) == InterruptPending)
        {
            Send(source);
            control &= ~InterruptPending;
        }
    }

    /// <summary>FSTS write: PFO, IQE, ICE and ITE are RW1C; PPF and FRI are read-only.</summary>
    private void WriteFaultStatus(uint value)
    {
        var clear = (FaultStatus)value & WriteOneToClear;
        if (clear == 0)
        {
            return;
        }
        var hadQueueError = (_fsts & FaultStatus.InvalidationQueueError) != 0;
        _fsts &= ~clear;
        ClearPendingIfServiced();
        if (hadQueueError && (clear & FaultStatus.InvalidationQueueError) != 0)
        {
            // Hardware resumes fetching at IQH once IQE is clear; Linux's qi_check_fault relies on it after replacing
            // the bad descriptor.
            ProcessQueue(tailWritten: false);
        }
    }

    /// <summary>FRCD high dword (spec bits 127:96): only F is writable, and only to clear it (RW1C).</summary>
    private void WriteFaultRecordHigh(int index, uint value)
    {
        ref var high = ref _faultRecords[(2 * index) + 1];
        if ((value & (1u << 31)) != 0 && (high & FaultRecord.FaultBit) != 0)
        {
            high &= ~FaultRecord.FaultBit;
            _pendingRecords--;
            ClearPendingIfServiced();
        }
    }

    /// <summary>FECTL.IP clears when software has serviced every fault status condition.</summary>
    private void ClearPendingIfServiced()
    {
        if ((CurrentFaultStatus & EventConditions) == 0)
        {
            _fectl &= ~InterruptPending;
        }
    }
}
