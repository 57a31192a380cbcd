using System.Runtime.CompilerServices;
using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>
/// The VT-d translation walk without caches (VT-d §3.4–3.10, §6.2.3): root, context, PASID directory and PASID table
/// entries, then first-stage, second-stage, nested or pass-through translation. Every outcome is a value; nothing a
/// device or a table image can do makes it throw, loop without bound or allocate (unless tracing).
/// </summary>
/// <remarks>
/// Walks are bounded by construction: each stage visits at most five levels and a nested walk at most 5 × 6 entries,
/// so page tables that point at themselves cost a bounded number of reads and end in a fault or a translation.
/// </remarks>
internal sealed partial class Walker
{
    internal const ulong InterruptRangeBase = 0xFEE0_0000;
    internal const ulong InterruptRangeEnd = 0xFEF0_0000;

    private readonly IPhysicalMemory _memory;
    private readonly CapabilityProfile _profile;

    private readonly TranslationCaches? _caches;

    /// <summary>The memory again when it can hand out a frame's array, for PDE-cache copies to keep their leaf table's.</summary>
    private readonly SparsePhysicalMemory? _sparseMemory;

    /// <summary>A walker over <paramref name="memory"/>; with <paramref name="caches"/> null it reads every structure.</summary>
    public Walker(IPhysicalMemory memory, CapabilityProfile profile, TranslationCaches? caches)
    {
        _memory = memory;
        _sparseMemory = memory as SparsePhysicalMemory;
        _profile = profile;
        _caches = caches;
    }

    /// <summary>Per-walk bookkeeping: what it cost and which FPD bits it has seen.</summary>
    private ref struct WalkState
    {
        public int Reads;
        public int Writes;
        public bool FaultProcessingDisabled;
        public WalkTrace? Trace;

        /// <summary>Cache stamps taken before the first table read of this walk.</summary>
        public FillStamps Stamps;

        /// <summary>The PASID an IOTLB fill is tagged with (RID_PASID for requests without PASID).</summary>
        public uint TagPasid;

        /// <summary>Rights flags every fill of this walk carries (SRE, RID_PRIV).</summary>
        public CachedRights FillFlags;

        /// <summary>What the walk learned above a 4 KiB leaf, when it reached one and may leave a PDE-cache copy.</summary>
        public PdeCacheCopy? Pde;

        /// <summary>The translating thread's counters, where the walk's IOTLB fill is counted.</summary>
        public ref EngineCounters.Block Counters;
    }

    /// <summary>How a successful translation is cached: its PGTT and the flags the hit path needs.</summary>
    private readonly record struct CacheFill(CachedTranslationType Type, CachedRights Flags);

    /// <summary>A walk of <paramref name="request"/>; its IOTLB fill, if it makes one, is counted in <paramref name="counters"/>.</summary>
    public TranslationResult Translate(in DmaRequest request, ulong rootTable, RootTableMode mode, bool enabled, WalkTrace? trace,
        ref EngineCounters.Block counters)
    {
        var state = new WalkState { Trace = trace, Stamps = _caches?.BeginFill() ?? default, Counters = ref counters };
        return Translate(ref state, request, rootTable, mode, enabled);
    }

    /// <summary>
    /// A walk that also hands back, when it translated untranslated DMA through a 4 KiB leaf of a walk that leaves
    /// PDE-cache copies, what it learned above the leaf, for a first-level TLB to walk from next time (see
    /// <see cref="TryTranslateBelowPde"/>).
    /// </summary>
    public TranslationResult Translate(in DmaRequest request, ulong rootTable, RootTableMode mode, bool enabled,
        ref EngineCounters.Block counters, out PdeCacheCopy? pde)
    {
        var state = new WalkState { Stamps = _caches?.BeginFill() ?? default, Counters = ref counters };
        var result = Translate(ref state, request, rootTable, mode, enabled);
        pde = result.IsSuccess ? state.Pde : null;
        return result;
    }

    private TranslationResult Translate(ref WalkState state, in DmaRequest request, ulong rootTable, RootTableMode mode, bool enabled)
    {
        // VT-d §3.14: an untranslated request without PASID to 0xFEEx_xxxx is an interrupt message, not DMA.
        if (!request.HasPasid && request.AddressType == AddressType.Untranslated && InInterruptRange(request.Address))
        {
            return new TranslationResult(request.Address, TranslationStatus.Interrupt, FaultReason.None, PageSize.Size4K,
                AccessRights.None, false, 0, 0, 0);
        }
        if (!enabled)
        {
            return Success(ref state, request.Address, PageSize.Size4K, AccessRights.Read | AccessRights.Write | AccessRights.User, 0);
        }
        return mode switch
        {
            RootTableMode.Legacy when request.HasPasid => Fault(ref state, FaultReason.RtaPasidInLegacyMode),
            RootTableMode.Legacy => TranslateLegacy(ref state, request, rootTable),
            RootTableMode.Scalable when _profile.ScalableMode => TranslateScalable(ref state, request, rootTable),
            RootTableMode.AbortDma when _profile.AbortDmaMode => Fault(ref state, FaultReason.RtaAbortDma),
            _ => Fault(ref state, FaultReason.RtaInvalidRootTableAddress),
        };
    }

    /// <summary>
    /// Special case S.1 (VT-d §3.15, §4.2.3): an ATS translation request without PASID to the interrupt window is not
    /// walked; the completion returns the address untranslated with write (and user) permission and no read, so the
    /// device can send its interrupt messages as translated writes.
    /// </summary>
    private static bool IsInterruptWindowTranslationRequest(in DmaRequest request) =>
        request.AddressType == AddressType.TranslationRequest && !request.HasPasid && InInterruptRange(request.Address);

    private static TranslationResult InterruptWindowCompletion(ref WalkState state, in DmaRequest request) =>
        Success(ref state, request.Address, PageSize.Size4K, AccessRights.Write | AccessRights.User, 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool InInterruptRange(ulong address) => address - InterruptRangeBase < InterruptRangeEnd - InterruptRangeBase;

    private static TranslationResult Fault(ref WalkState state, FaultReason reason) =>
        new(0, TranslationStatus.Fault, reason, PageSize.Size4K, AccessRights.None,
            state.FaultProcessingDisabled && reason.IsQualified(), 0, Saturate(state.Reads), Saturate(state.Writes));

    private static TranslationResult Success(ref WalkState state, ulong address, PageSize size, AccessRights rights, ushort domainId) =>
        new(address, TranslationStatus.Success, FaultReason.None, size, rights, false, domainId,
            Saturate(state.Reads), Saturate(state.Writes));

    /// <summary>
    /// A permission denial: a fault for DMA, but for an ATS translation request a successful completion that grants
    /// nothing (VT-d §4.2.3: the device learns R=W=0 instead of the unit recording a fault).
    /// </summary>
    private static TranslationResult Denied(ref WalkState state, in DmaRequest request, FaultReason reason) =>
        request.AddressType == AddressType.TranslationRequest
            ? Success(ref state, 0, PageSize.Size4K, AccessRights.None, 0)
            : Fault(ref state, reason);

    /// <summary>
    /// Output checks common to every successful translation — the interrupt window (VT-d §3.15) — then the IOTLB fill
    /// for untranslated DMA. Only successes are cached: with CM=0 hardware caches no faults (VT-d §6.1).
    /// </summary>
    private TranslationResult Output(ref WalkState state, in DmaRequest request, ulong address, PageSize size,
        AccessRights rights, ushort domainId, FaultReason interruptFault, CacheFill fill)
    {
        if (InInterruptRange(address))
        {
            return Fault(ref state, interruptFault);
        }
        if (_caches is not null && request.AddressType == AddressType.Untranslated)
        {
            var entry = new IotlbEntry(address, size, (CachedRights)rights | fill.Flags | state.FillFlags, domainId, fill.Type);
            FillIotlb(ref state.Counters, request, state.TagPasid, entry, state.Stamps.Iotlb);
        }
        return Success(ref state, address, size, rights, domainId);
    }

    /// <summary>Stores a translation of <paramref name="request"/>'s page in the IOTLB and counts the fill in the thread's block.</summary>
    private void FillIotlb(ref EngineCounters.Block counters, in DmaRequest request, uint tagPasid, in IotlbEntry entry, uint stamp) =>
        counters.IotlbFills.Count(_caches!.Iotlb.InsertUncounted(request.SourceId, request.Pasid, request.Address, tagPasid, entry, stamp));

    /// <summary>Whether the entry at <paramref name="address"/> now has <paramref name="dirtyBit"/> set.</summary>
    private bool IsDirty(ulong address, ulong dirtyBit) =>
        (Volatile.Read(ref _memory.GetFrame(address >> 12)[(int)((address >> 3) & 511)]) & dirtyBit) != 0;

    private static byte Saturate(int count) => (byte)Math.Min(count, byte.MaxValue);

    private static bool NeedsWrite(AccessKind access) => access != AccessKind.Read;

    /// <summary>Whether <paramref name="address"/> fits in <paramref name="bits"/> bits.</summary>
    private static bool Fits(ulong address, int bits) => bits >= 64 || address >> bits == 0;

    private TranslationResult TranslateLegacy(ref WalkState state, in DmaRequest request, ulong rootTable)
    {
        var contextFault = ResolveLegacyContext(ref state, request, rootTable, state.Stamps, out var context);
        if (contextFault != FaultReason.None)
        {
            return Fault(ref state, contextFault);
        }
        var type = context.TranslationType;
        if (request.AddressType != AddressType.Untranslated && type != TranslationType.UntranslatedWithDeviceTlb)
        {
            return Fault(ref state, FaultReason.LctTranslationBlocked);
        }
        if (request.AddressType == AddressType.Translated)
        {
            return Success(ref state, request.Address, PageSize.Size4K, AccessRights.Read | AccessRights.Write, 0);
        }
        if (IsInterruptWindowTranslationRequest(request))
        {
            return InterruptWindowCompletion(ref state, request);
        }
        if (type == TranslationType.PassThrough)
        {
            return Fits(request.Address, _profile.HostAddressWidth)
                ? Output(ref state, request, request.Address, PageSize.Size4K, AccessRights.Read | AccessRights.Write | AccessRights.User,
                    context.DomainId, FaultReason.LgnInterruptRange, new CacheFill(CachedTranslationType.PassThrough, LegacyFlags))
                : Fault(ref state, FaultReason.LgnAddressBeyondLimit);
        }

        var aw = context.AddressWidth;
        if (!Fits(request.Address, Math.Min(_profile.MaxGuestAddressWidth, PageTableGeometry.BitsForAddressWidth(aw))))
        {
            return Fault(ref state, FaultReason.LgnAddressBeyondLimit);
        }
        var walk = WalkSecondStage(ref state, context.SecondStagePointer, aw, accessedDirty: false, snoop: true,
            request.Address, request.Access, scalable: false, context.DomainId);
        if (walk.Fault != FaultReason.None)
        {
            return walk.Fault is FaultReason.LgnNoRead or FaultReason.LgnNoWrite
                ? Denied(ref state, request, walk.Fault)
                : Fault(ref state, walk.Fault);
        }
        var denial = SecondStagePermission(walk.Rights, request.Access, FaultReason.LgnNoRead, FaultReason.LgnNoWrite);
        if (denial != FaultReason.None)
        {
            return Denied(ref state, request, denial);
        }
        CopyPde(ref state, request, walk.Size, walk.LeafAddress, walk.UpperRights, accessedBits: 0, dirtyBit: 0, context.DomainId,
            CachedTranslationType.Legacy, LegacyFlags);
        return Output(ref state, request, walk.Output, walk.Size, walk.Rights, context.DomainId, FaultReason.LgnInterruptRange,
            new CacheFill(CachedTranslationType.Legacy, LegacyFlags));
    }

    /// <summary>Root and context entries for the requester, from the context cache or the tables (LRT.x, LCT.1–LCT.4).</summary>
    private FaultReason ResolveLegacyContext(ref WalkState state, in DmaRequest request, ulong rootTable, FillStamps stamp,
        out ContextEntry context)
    {
        if (_caches is not null && _caches.Contexts.TryLookup(request.SourceId, out var cached))
        {
            context = cached.Legacy;
            state.FaultProcessingDisabled |= context.FaultProcessingDisable;
            return FaultReason.None;
        }

        context = default;
        state.Reads++;
        if (!RootEntry.TryRead(_memory, rootTable, request.Bus, out var root))
        {
            return FaultReason.LrtAccessError;
        }
        state.Trace?.Add("root entry", rootTable + ((ulong)request.Bus * RootEntry.Size), [root.Low, root.High],
            $"P={B(root.Present)} CTP=0x{root.ContextTablePointer:x}");
        if (!root.Present)
        {
            return FaultReason.LrtRootNotPresent;
        }
        if (root.HasReservedBits(_profile))
        {
            return FaultReason.LrtReserved;
        }

        state.Reads++;
        if (!ContextEntry.TryRead(_memory, root.ContextTablePointer, request.DevFn, out context))
        {
            return FaultReason.LctAccessError;
        }
        state.FaultProcessingDisabled |= context.FaultProcessingDisable;
        state.Trace?.Add("context entry", root.ContextTablePointer + ((ulong)request.DevFn * ContextEntry.Size),
            [context.Low, context.High],
            $"P={B(context.Present)} FPD={B(context.FaultProcessingDisable)} TT={(int)context.TranslationType} AW={context.AddressWidth} DID={context.DomainId} SSPTPTR=0x{context.SecondStagePointer:x}");
        if (!context.Present)
        {
            return FaultReason.LctContextNotPresent;
        }
        if (context.HasReservedBits(_profile))
        {
            return FaultReason.LctReserved;
        }
        var type = context.TranslationType;
        var typeSupported = type switch
        {
            TranslationType.Untranslated => true,
            TranslationType.UntranslatedWithDeviceTlb => _profile.DeviceTlb,
            TranslationType.PassThrough => _profile.PassThrough,
            _ => false,
        };
        var widthValid = type == TranslationType.PassThrough
            ? context.AddressWidth == _profile.LargestAddressWidth
            : _profile.SupportsAddressWidth(context.AddressWidth);
        if (!typeSupported || !widthValid)
        {
            return FaultReason.LctInvalidProgramming;
        }
        _caches?.Contexts.Fill(request.SourceId, new ContextCacheEntry(stamp.Context, context));
        return FaultReason.None;
    }

    /// <summary>Legacy mode tracks no dirty state and has no privilege: cached writes and any request may hit.</summary>
    private const CachedRights LegacyFlags = CachedRights.Dirty | CachedRights.Supervisor;

    /// <summary>Second-stage access rule (VT-d §3.7.1): reads need R, writes W, atomics both (R checked first).</summary>
    private static FaultReason SecondStagePermission(AccessRights rights, AccessKind access, FaultReason noRead, FaultReason noWrite)
    {
        if (access != AccessKind.Write && (rights & AccessRights.Read) == 0)
        {
            return noRead;
        }
        if (access != AccessKind.Read && (rights & AccessRights.Write) == 0)
        {
            return noWrite;
        }
        return FaultReason.None;
    }

    private static string B(bool value) => value ? "1" : "0";
}
