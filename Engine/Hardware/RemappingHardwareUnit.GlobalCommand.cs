using VtdEngine.Tables;

namespace VtdEngine.Hardware;

public sealed partial class RemappingHardwareUnit
{
    // RTADDR: [63:12 RTA][11:10 TTM][7 SSIRWE]; everything else reads 0.
    private const ulong RootTableAddressWritable = Bits.PageAddressMask | (3UL << 10) | (1UL << 7);

    private GlobalStatus _gsts;
    private ulong _rtaddr;

    /// <summary>GSTS as software reads it.</summary>
    public GlobalStatus Status
    {
        get
        {
            lock (_lock)
            {
                return _gsts;
            }
        }
    }

    /// <summary>
    /// GCMD write (VT-d §11.4, GCMD_REG). Software writes GSTS with one bit changed; hardware acts on the bits that differ
    /// from GSTS (TE, QIE, CFI) and on the one-shot bits that are set (SRTP, WBF), and updates GSTS at once (the status
    /// transitions software polls for have already happened when the write returns).
    /// </summary>
    /// <remarks>
    /// Writing several changes at once is outside the spec; this model then applies them in the order SRTP, WBF, QIE,
    /// CFI, TE, so a combined "latch and enable" write translates with the new table.
    /// </remarks>
    private void WriteGlobalCommand(GlobalCommand command)
    {
        var status = (GlobalCommand)_gsts;
        if ((command & GlobalCommand.SetRootTablePointer) != 0)
        {
            SetRootTablePointer();
        }
        // WBF: no write buffer is modelled, so the flush completes at once and WBFS stays clear.
        var changed = command ^ status;
        if ((changed & GlobalCommand.QueuedInvalidationEnable) != 0 && Profile.QueuedInvalidation)
        {
            SetQueuedInvalidation((command & GlobalCommand.QueuedInvalidationEnable) != 0);
        }
        if ((changed & GlobalCommand.CompatibilityFormatInterrupt) != 0)
        {
            _gsts ^= GlobalStatus.CompatibilityFormatInterruptStatus;
        }
        if ((changed & GlobalCommand.TranslationEnable) != 0)
        {
            SetTranslationEnable((command & GlobalCommand.TranslationEnable) != 0);
        }
    }

    /// <summary>SRTP: latch RTADDR into the translation unit; with CAP.ESRTPS hardware flushes every cache itself.</summary>
    private void SetRootTablePointer()
    {
        var ttm = (RootTableMode)Bits.Field(_rtaddr, 11, 10);
        // SSIRWE needs ECAP.SSIRWS, which this model lacks: a latched reserved bit makes every request fault RTA.1, the
        // same as the reserved TTM encodings (TTM=01 without SMTS and TTM=11 without ADMS fault RTA.1 in the walker).
        if (Bits.Bit(_rtaddr, 7))
        {
            ttm = RootTableMode.Reserved;
        }
        Unit.SetRootTable(_rtaddr & Bits.PageAddressMask, ttm);
        _gsts |= GlobalStatus.RootTablePointerStatus;
        if (Profile.EnhancedSetRootTablePointer)
        {
            Unit.FlushAllCaches();
        }
    }

    /// <summary>TE: translation on or off. In scalable mode a TE change also flushes the caches (VT-d §6.5).</summary>
    private void SetTranslationEnable(bool enable)
    {
        Unit.TranslationEnabled = enable;
        if (enable)
        {
            _gsts |= GlobalStatus.TranslationEnableStatus;
        }
        else
        {
            _gsts &= ~GlobalStatus.TranslationEnableStatus;
            // The fault-recording index resets when DMA and interrupt remapping are both off (IRES is never set here).
            _faultIndex = 0;
        }
        if (Unit.Mode == RootTableMode.Scalable)
        {
            Unit.FlushAllCaches();
        }
    }
}
