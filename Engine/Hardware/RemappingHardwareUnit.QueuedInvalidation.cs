using VtdEngine.Tables;

namespace VtdEngine.Hardware;

public sealed partial class RemappingHardwareUnit
{
    private const ulong QueueOffsetMask = 0x7FFF0;  // IQH/IQT bits 18:4
    private const ulong DescriptorWidthBit = 1UL << 11; // IQA.DW
    private const uint WaitCompletion = 1;          // ICS.IWC

    private ulong _iqh;
    private ulong _iqt;
    private ulong _iqa;
    private uint _ics;
    private uint _iectl;
    private uint _iedata;
    private uint _ieaddr;
    private uint _ieuaddr;
    private ulong _iqercd;
    private bool _processing;

    /// <summary>IQA.DW is defined only where 256-bit descriptors exist (ECAP.SMTS or ADMS); elsewhere it is RsvdZ.</summary>
    private ulong QueueAddressWritable => Bits.PageAddressMask | 7
        | (Profile.ScalableMode || Profile.AbortDmaMode ? DescriptorWidthBit : 0);

    private bool WideDescriptors => (_iqa & DescriptorWidthBit) != 0;

    /// <summary>Queue size in bytes: 2^QS pages (2^(QS+8) 128-bit or 2^(QS+7) 256-bit descriptors).</summary>
    private ulong QueueBytes => 4096UL << (int)(_iqa & 7);

    private bool TryReadQueueRegister(int offset, out uint value)
    {
        value = offset switch
        {
            RegisterOffsets.Iqh => (uint)_iqh,
            RegisterOffsets.Iqt => (uint)_iqt,
            RegisterOffsets.Iqa => (uint)_iqa,
            RegisterOffsets.Iqa + 4 => (uint)(_iqa >> 32),
            RegisterOffsets.Ics => _ics,
            RegisterOffsets.Iectl => _iectl,
            RegisterOffsets.Iedata => _iedata,
            RegisterOffsets.Ieaddr => _ieaddr,
            RegisterOffsets.Ieuaddr => _ieuaddr,
            RegisterOffsets.Iqercd => (uint)_iqercd,
            RegisterOffsets.Iqercd + 4 => (uint)(_iqercd >> 32),
            _ => 0,
        };
        // IQH/IQT bits 63:32 are reserved and read 0 through the default arm.
        return offset is >= RegisterOffsets.Iqh and < RegisterOffsets.Iqercd + 8;
    }

    private bool TryWriteQueueRegister(int offset, uint value)
    {
        switch (offset)
        {
            case RegisterOffsets.Iqt:
                _iqt = value & QueueOffsetMask;
                ProcessQueue(tailWritten: true);
                return true;
            case RegisterOffsets.Iqa:
                _iqa = ((_iqa & 0xFFFF_FFFF_0000_0000UL) | value) & QueueAddressWritable;
                KeepHeadInsideQueue();
                return true;
            case RegisterOffsets.Iqa + 4:
                _iqa = ((_iqa & 0xFFFF_FFFFUL) | ((ulong)value << 32)) & QueueAddressWritable;
                return true;
            case RegisterOffsets.Ics:
                if ((value & WaitCompletion) != 0)
                {
                    _ics &= ~WaitCompletion;
                    // IECTL.IP clears once software has serviced IWC.
                    _iectl &= ~InterruptPending;
                }
                return true;
            case RegisterOffsets.Iectl:
                WriteEventControl(ref _iectl, value, InterruptSource.InvalidationCompletion);
                return true;
            case RegisterOffsets.Iedata:
                _iedata = value & 0xFFFF;
                return true;
            case RegisterOffsets.Ieaddr:
                _ieaddr = value & ~3u;
                return true;
            case RegisterOffsets.Ieuaddr:
                _ieuaddr = value;
                return true;
            default:
                // IQH and IQERCD are read-only; the rest of 0x80..0xB7 is reserved.
                return offset is >= RegisterOffsets.Iqh and < RegisterOffsets.Iqercd + 8;
        }
    }

    /// <summary>
    /// Software must not reprogram IQA while QI is enabled; if it does, IQH is pulled back inside the new queue so the
    /// head never points outside it.
    /// </summary>
    private void KeepHeadInsideQueue()
    {
        if (_iqh >= QueueBytes || (WideDescriptors && (_iqh & 0x10) != 0))
        {
            _iqh = 0;
        }
    }

    /// <summary>QIE changes: enabling starts fetching at IQH=0 (Windows writes IQT first); disabling resets IQH to 0.</summary>
    private void SetQueuedInvalidation(bool enable)
    {
        _iqh = 0;
        if (enable)
        {
            _gsts |= GlobalStatus.QueuedInvalidationEnableStatus;
            ProcessQueue(tailWritten: true);
        }
        else
        {
            _gsts &= ~GlobalStatus.QueuedInvalidationEnableStatus;
        }
    }

    /// <summary>
    /// Fetches and executes descriptors from IQH up to IQT (VT-d §6.5.2). Each one runs to completion before the next is
    /// fetched, so the ordering rules of §6.5.2.12 and the FN fence hold trivially. An invalid descriptor stops the queue
    /// on itself: IQH keeps pointing at it, FSTS.IQE and IQERCD.IQEI are set, and nothing more is fetched until software
    /// clears IQE.
    /// </summary>
    /// <param name="tailWritten">Software wrote IQT (or enabled QI): an invalid tail is reported as an error. When
    /// resuming after IQE is cleared, an invalid tail simply waits for the next IQT write.</param>
    private void ProcessQueue(bool tailWritten)
    {
        if (_processing || (_gsts & GlobalStatus.QueuedInvalidationEnableStatus) == 0
            || (_fsts & FaultStatus.InvalidationQueueError) != 0)
        {
            // Reentrant writes (from invalidation observers) are picked up by the loop already running.
            return;
        }
        var tailError = TailError();
        if (tailError != InvalidationQueueErrorInfo.NotAvailable)
        {
            if (tailWritten)
            {
                RaiseQueueError(tailError);
            }
            return;
        }
        _processing = true;
        try
        {
            var width = WideDescriptors ? 32UL : 16UL;
            // Bounded by the queue length, so an IQT rewritten from inside an observer cannot make it spin.
            for (var fetched = 0UL; fetched < QueueBytes / width && _iqh != _iqt; fetched++)
            {
                if ((_fsts & FaultStatus.InvalidationQueueError) != 0 || TailError() != InvalidationQueueErrorInfo.NotAvailable)
                {
                    return;
                }
                var error = ProcessDescriptor(_iqa & Bits.PageAddressMask, _iqh);
                if (error != InvalidationQueueErrorInfo.NotAvailable)
                {
                    RaiseQueueError(error);
                    return;
                }
                _iqh = (_iqh + (WideDescriptors ? 32UL : 16UL)) & (QueueBytes - 1);
            }
        }
        finally
        {
            _processing = false;
        }
    }

    /// <summary>IQT validity: bit 4 must be clear with 256-bit descriptors, and the offset must lie inside the queue.</summary>
    private InvalidationQueueErrorInfo TailError() =>
        WideDescriptors && (_iqt & 0x10) != 0 ? InvalidationQueueErrorInfo.TailPointerNotAligned
        : _iqt >= QueueBytes ? InvalidationQueueErrorInfo.InvalidTailPointer
        : InvalidationQueueErrorInfo.NotAvailable;

    /// <summary>Fetches, checks and performs the descriptor at <paramref name="offset"/>; returns the IQEI of an error.</summary>
    private InvalidationQueueErrorInfo ProcessDescriptor(ulong queueBase, ulong offset)
    {
        var mode = Unit.Mode;
        if (mode == RootTableMode.Reserved || (mode == RootTableMode.AbortDma && !Profile.AbortDmaMode)
            || (mode == RootTableMode.Scalable && !Profile.ScalableMode))
        {
            return InvalidationQueueErrorInfo.InvalidTranslationTableMode;
        }
        var scalable = mode != RootTableMode.Legacy;
        var wide = WideDescriptors;
        if (scalable && !wide)
        {
            // Scalable mode needs 256-bit descriptors; 128-bit ones are invalid (VT-d §6.5.2).
            return InvalidationQueueErrorInfo.InvalidDescriptorWidth;
        }
        var address = queueBase + offset;
        ulong q2 = 0, q3 = 0;
        var fetched = Memory.TryRead64(address, out var q0) & Memory.TryRead64(address + 8, out var q1)
            & (!wide || (Memory.TryRead64(address + 16, out q2) & Memory.TryRead64(address + 24, out q3)));
        if (!fetched)
        {
            return InvalidationQueueErrorInfo.DescriptorFetchError;
        }
        var descriptor = new InvalidationDescriptor(q0, q1, q2, q3);
        var error = descriptor.Decode(Profile, scalable, wide, out var action, out var request);
        if (error != InvalidationQueueErrorInfo.NotAvailable)
        {
            return error;
        }
        switch (action)
        {
            case DescriptorAction.Invalidate:
                // The same executor as register-based invalidation and the C# API.
                Unit.Execute(request);
                break;
            case DescriptorAction.Wait:
                CompleteWait(descriptor);
                break;
        }
        return InvalidationQueueErrorInfo.NotAvailable;
    }

    /// <summary>
    /// inv_wait (VT-d §6.5.2): everything before it has completed (execution is synchronous). SW writes the status
    /// dword first, then IF sets ICS.IWC and raises a completion event unless IWC was already set. SW and IF together
    /// are valid (QEMU once aborted on it). A status write to unbacked memory is dropped, as a DMA write that nobody
    /// claims would be; it is not a queue error.
    /// </summary>
    private void CompleteWait(in InvalidationDescriptor wait)
    {
        if (wait.StatusWrite)
        {
            Memory.TryWrite32(wait.StatusAddress, wait.StatusData);
        }
        if (wait.InterruptFlag && (_ics & WaitCompletion) == 0)
        {
            _ics |= WaitCompletion;
            SignalEvent(ref _iectl, InterruptSource.InvalidationCompletion);
        }
    }

    /// <summary>Sets IQERCD.IQEI and FSTS.IQE (which may raise a fault event, VT-d §7.3).</summary>
    private void RaiseQueueError(InvalidationQueueErrorInfo info)
    {
        _iqercd = (_iqercd & ~0xFUL) | (byte)info;
        RaiseFaultCondition(FaultStatus.InvalidationQueueError);
    }
}
