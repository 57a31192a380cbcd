using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine;

internal sealed partial class Walker
{
    /// <summary>Reads of one PASID-table entry, at most, before a walk takes the last as its snapshot.</summary>
    private const int SnapshotReads = 8;

    /// <summary>Scalable-mode walk (VT-d §3.4.3): SM root, SM context, PASID directory, PASID table, then the PGTT.</summary>
    private TranslationResult TranslateScalable(ref WalkState state, in DmaRequest request, ulong rootTable)
    {
        var contextFault = ResolveScalableContext(ref state, request, rootTable, state.Stamps, out var context);
        if (contextFault != FaultReason.None)
        {
            return Fault(ref state, contextFault);
        }
        if (request.AddressType == AddressType.Translated)
        {
            return Success(ref state, request.Address, PageSize.Size4K, AccessRights.Read | AccessRights.Write, 0);
        }
        if (IsInterruptWindowTranslationRequest(request))
        {
            return InterruptWindowCompletion(ref state, request);
        }

        uint pasid;
        bool privileged;
        if (request.HasPasid)
        {
            var requestFault = CheckRequestPasid(context, request.Pasid);
            if (requestFault != FaultReason.None)
            {
                return Fault(ref state, requestFault);
            }
            pasid = request.Pasid;
            privileged = request.Privileged;
        }
        else
        {
            pasid = _profile.RidPasid ? context.RidPasid : 0;
            privileged = _profile.RidPriv && context.RidPriv;
        }

        var pasidFault = ResolvePasidEntry(ref state, request.SourceId, pasid, privileged, context, state.Stamps, out var entry);
        if (pasidFault != FaultReason.None)
        {
            return Fault(ref state, pasidFault);
        }
        state.TagPasid = pasid;
        state.FillFlags = (entry.SupervisorRequestEnable ? CachedRights.Supervisor : 0)
            | (!request.HasPasid && privileged ? CachedRights.PrivilegedWithoutPasid : 0);
        return entry.TranslationType switch
        {
            PasidGranularTranslationType.PassThrough => TranslatePassThrough(ref state, request, entry),
            PasidGranularTranslationType.SecondStage => TranslateSecondStageOnly(ref state, request, entry),
            _ => TranslateFirstStage(ref state, request, entry, privileged),
        };
    }

    /// <summary>SM root and context entries for the requester, from the context cache or the tables (SRT.x, SCT.1–SCT.5).</summary>
    private FaultReason ResolveScalableContext(ref WalkState state, in DmaRequest request, ulong rootTable, FillStamps stamp,
        out ScalableModeContextEntry context)
    {
        if (_caches is not null && _caches.Contexts.TryLookup(request.SourceId, out var cached))
        {
            context = cached.Scalable;
            state.FaultProcessingDisabled |= context.FaultProcessingDisable;
            // Cached entries passed every structural check; only the request-dependent DTE rule remains.
            return request.AddressType != AddressType.Untranslated && !context.DeviceTlbEnable
                ? FaultReason.SctDeviceTlbDisabled
                : FaultReason.None;
        }

        context = default;
        state.Reads++;
        if (!ScalableModeRootEntry.TryRead(_memory, rootTable, request.Bus, out var root))
        {
            return FaultReason.SrtAccessError;
        }
        state.Trace?.Add("SM root entry", rootTable + ((ulong)request.Bus * ScalableModeRootEntry.Size), [root.Low, root.High],
            $"LP={B(root.LowerPresent)} LCTP=0x{root.LowerContextTablePointer:x} UP={B(root.UpperPresent)} UCTP=0x{root.UpperContextTablePointer:x}");
        if (!root.IsPresentFor(request.DevFn))
        {
            return FaultReason.SrtNotPresent;
        }
        if (root.HasReservedBits(_profile, request.DevFn))
        {
            return FaultReason.SrtReserved;
        }

        var contextTable = root.ContextTableFor(request.DevFn);
        state.Reads++;
        if (!ScalableModeContextEntry.TryRead(_memory, contextTable, request.DevFn, out context))
        {
            return FaultReason.SctAccessError;
        }
        state.FaultProcessingDisabled |= context.FaultProcessingDisable;
        state.Trace?.Add("SM context entry", contextTable + ((ulong)(request.DevFn & 0x7F) * ScalableModeContextEntry.Size),
            [context.Q0, context.Q1, context.Q2, context.Q3],
            $"P={B(context.Present)} FPD={B(context.FaultProcessingDisable)} DTE={B(context.DeviceTlbEnable)} PASIDE={B(context.PasidEnable)} PRE={B(context.PageRequestEnable)} PDTS={context.PasidDirectorySize} PASIDDIRPTR=0x{context.PasidDirectoryPointer:x} RID_PASID={context.RidPasid} RID_PRIV={B(context.RidPriv)}");
        var fault = CheckScalableContext(context, request);
        if (fault is FaultReason.None or FaultReason.SctDeviceTlbDisabled)
        {
            _caches?.Contexts.Fill(request.SourceId, new ContextCacheEntry(stamp.Context, context));
        }
        return fault;
    }

    /// <summary>
    /// The PASID-table entry for (source-id, PASID), from the PASID cache or the tables, and its checks (SPD.x,
    /// SPT.1–SPT.6). A cached entry carries the outcome of its request-independent checks, so a hit re-checks only SRE.
    /// </summary>
    private FaultReason ResolvePasidEntry(ref WalkState state, ushort sourceId, uint pasid, bool privileged,
        in ScalableModeContextEntry context, FillStamps stamp, out PasidTableEntry entry)
    {
        if (_caches is not null && _caches.Pasids.TryLookup(sourceId, pasid, out var cached))
        {
            entry = cached.Value;
            state.FaultProcessingDisabled |= cached.FaultProcessingDisabled;
            return CheckSupervisorRequest(cached.ProgrammingFault, entry, privileged);
        }

        entry = default;
        state.Reads++;
        if (!PasidDirectoryEntry.TryRead(_memory, context.PasidDirectoryPointer, pasid, out var directory))
        {
            return FaultReason.SpdAccessError;
        }
        state.FaultProcessingDisabled |= directory.FaultProcessingDisable;
        state.Trace?.Add("PASID directory entry", PasidDirectoryEntry.AddressOf(context.PasidDirectoryPointer, pasid),
            [directory.Value], $"P={B(directory.Present)} FPD={B(directory.FaultProcessingDisable)} SMPTBLPTR=0x{directory.PasidTablePointer:x}");
        if (!directory.Present)
        {
            return FaultReason.SpdNotPresent;
        }
        if (directory.HasReservedBits(_profile))
        {
            return FaultReason.SpdReserved;
        }

        state.Reads++;
        if (!TryReadPasidEntrySnapshot(directory.PasidTablePointer, pasid, out entry))
        {
            return FaultReason.SptAccessError;
        }
        state.FaultProcessingDisabled |= entry.FaultProcessingDisable;
        state.Trace?.Add("PASID table entry", PasidTableEntry.AddressOf(directory.PasidTablePointer, pasid),
            [entry.Q0, entry.Q1, entry.Q2, entry.Q3, entry.Q4, entry.Q5, entry.Q6, entry.Q7],
            $"P={B(entry.Present)} FPD={B(entry.FaultProcessingDisable)} PGTT={(int)entry.TranslationType} DID={entry.DomainId} AW={entry.AddressWidth} SSPTPTR=0x{entry.SecondStagePointer:x} FSPTPTR=0x{entry.FirstStagePointer:x} FSPM={(int)entry.FirstStagePagingMode} SRE={B(entry.SupervisorRequestEnable)} WPE={B(entry.WriteProtectEnable)} SSADE={B(entry.SecondStageAccessedDirtyEnable)} EAFE={B(entry.ExtendedAccessedFlagEnable)} PWSNP={B(entry.PageWalkSnoop)}");
        var programmingFault = CheckPasidEntry(entry);
        if (programmingFault is not (FaultReason.SptNotPresent or FaultReason.SptReserved))
        {
            _caches?.Pasids.Fill(new PasidCacheEntry(stamp.Pasid, sourceId, pasid, entry,
                directory.FaultProcessingDisable || entry.FaultProcessingDisable, programmingFault));
        }
        return CheckSupervisorRequest(programmingFault, entry, privileged);
    }

    /// <summary>
    /// Reads a 512-bit PASID-table entry as one snapshot: read again until two reads agree (at most
    /// <see cref="SnapshotReads"/> times, so a writer that never stops costs bounded work and yields the last read).
    /// </summary>
    /// <remarks>
    /// Software rewrites a present entry only by tearing it down (Q0 cleared, invalidate, rest cleared) and setting it up
    /// (Q7 down to Q0). Hardware makes that safe because its invalidation completes only after the walks in flight;
    /// ours does not drain walks, so a walk that read the old Q0 could read Q1–Q7 after the teardown cleared them, use a
    /// mixed entry, and cache it under a DID no invalidation names. Taking a snapshot closes that: a walk sees the old
    /// entry, a cleared one or the new one.
    /// </remarks>
    private bool TryReadPasidEntrySnapshot(ulong table, uint pasid, out PasidTableEntry entry)
    {
        var ok = PasidTableEntry.TryRead(_memory, table, pasid, out entry);
        for (var read = 1; ok && read < SnapshotReads; read++)
        {
            ok = PasidTableEntry.TryRead(_memory, table, pasid, out var again);
            if (again == entry)
            {
                break;
            }
            entry = again;
        }
        return ok;
    }

    /// <summary>SM context-entry checks in the spec's order (VT-d §9.4, fault conditions SCT.2–SCT.5).</summary>
    internal FaultReason CheckScalableContext(in ScalableModeContextEntry context, in DmaRequest request)
    {
        if (!context.Present)
        {
            return FaultReason.SctNotPresent;
        }
        if (context.HasReservedBits(_profile))
        {
            return FaultReason.SctReserved;
        }
        if ((context.PageRequestEnable && !context.DeviceTlbEnable) || (_profile.RidPasid && context.RidPasid >= context.PasidLimit))
        {
            return FaultReason.SctInvalidProgramming;
        }
        if (request.AddressType != AddressType.Untranslated && !context.DeviceTlbEnable)
        {
            return FaultReason.SctDeviceTlbDisabled;
        }
        return FaultReason.None;
    }

    /// <summary>Checks on a request's PASID against the context and the unit (SCT.6, SGN.10, SCT.7, SCT.9 in order).</summary>
    internal FaultReason CheckRequestPasid(in ScalableModeContextEntry context, uint pasid)
    {
        if (!context.PasidEnable)
        {
            return FaultReason.SctPasidDisabled;
        }
        if (!_profile.Pasid || !Fits(pasid, _profile.PasidWidth))
        {
            return FaultReason.SgnPasidBeyondPss;
        }
        if (pasid >= context.PasidLimit)
        {
            return FaultReason.SctPasidBeyondDirectory;
        }
        if (_profile.RidPasid && pasid == context.RidPasid)
        {
            return FaultReason.SctPasidEqualsRidPasid;
        }
        return FaultReason.None;
    }

    /// <summary>The request-independent PASID-table-entry checks (VT-d §9.6, SPT.2–SPT.5), in the spec's order.</summary>
    private FaultReason CheckPasidEntry(in PasidTableEntry entry)
    {
        if (!entry.Present)
        {
            return FaultReason.SptNotPresent;
        }
        if (entry.HasReservedBits(_profile))
        {
            return FaultReason.SptReserved;
        }
        var type = entry.TranslationType;
        var typeSupported = type switch
        {
            PasidGranularTranslationType.FirstStage => _profile.FirstStageTranslation,
            PasidGranularTranslationType.SecondStage => _profile.SecondStageTranslation,
            PasidGranularTranslationType.Nested => _profile.Nested,
            PasidGranularTranslationType.PassThrough => _profile.PassThrough,
            _ => false,
        };
        if (!typeSupported
            || (entry.UsesSecondStage && !_profile.SupportsAddressWidth(entry.AddressWidth))
            || (entry.UsesFirstStage && !FirstStageModeSupported(entry.FirstStagePagingMode))
            || (type == PasidGranularTranslationType.Nested && !Fits(entry.FirstStagePointer, SecondStageInputBits(entry.AddressWidth))))
        {
            return FaultReason.SptInvalidProgramming;
        }
        return FaultReason.None;
    }

    /// <summary>
    /// After <see cref="CheckPasidEntry"/>'s outcome <paramref name="programmingFault"/>, the one request-dependent
    /// check (SPT.6): a supervisor request needs SRE.
    /// </summary>
    private static FaultReason CheckSupervisorRequest(FaultReason programmingFault, in PasidTableEntry entry, bool privileged) =>
        programmingFault != FaultReason.None ? programmingFault
        : privileged && !entry.SupervisorRequestEnable ? FaultReason.SptSupervisorRequestDisabled
        : FaultReason.None;

    private bool FirstStageModeSupported(FirstStagePagingMode mode) =>
        mode == FirstStagePagingMode.FourLevel || (mode == FirstStagePagingMode.FiveLevel && _profile.FirstStage5Level);

    /// <summary>Input width of second-stage translation: min(MGAW, AGAW of the AW encoding).</summary>
    private int SecondStageInputBits(int aw) => Math.Min(_profile.MaxGuestAddressWidth, PageTableGeometry.BitsForAddressWidth(aw));

    private TranslationResult TranslatePassThrough(ref WalkState state, in DmaRequest request, in PasidTableEntry entry) =>
        Fits(request.Address, _profile.HostAddressWidth)
            ? Output(ref state, request, request.Address, PageSize.Size4K, AccessRights.Read | AccessRights.Write | AccessRights.User,
                entry.DomainId, FaultReason.SgnInterruptRange, new CacheFill(CachedTranslationType.PassThrough, CachedRights.Dirty))
            : Fault(ref state, FaultReason.SgnAddressBeyondHaw);

    private TranslationResult TranslateSecondStageOnly(ref WalkState state, in DmaRequest request, in PasidTableEntry entry)
    {
        if (!Fits(request.Address, SecondStageInputBits(entry.AddressWidth)))
        {
            return Fault(ref state, FaultReason.SgnAddressBeyondAgaw);
        }
        var snoop = WalkSnoops(entry);
        var accessedDirty = entry.SecondStageAccessedDirtyEnable;
        var walk = WalkSecondStage(ref state, entry.SecondStagePointer, entry.AddressWidth, accessedDirty, snoop,
            request.Address, request.Access, scalable: true, entry.DomainId);
        if (walk.Fault != FaultReason.None)
        {
            return Fault(ref state, walk.Fault);
        }
        var denial = SecondStagePermission(walk.Rights, request.Access, FaultReason.SgnNoRead, FaultReason.SgnNoWrite);
        if (denial != FaultReason.None)
        {
            return Denied(ref state, request, denial);
        }
        if (accessedDirty && NeedsWrite(request.Access) && request.AddressType == AddressType.Untranslated)
        {
            var dirtyFault = SetFlags(ref state, walk.LeafAddress, SecondStageEntry.DirtyBit, snoop, FaultReason.SssFlagUpdateNoSnoop);
            if (dirtyFault != FaultReason.None)
            {
                return Fault(ref state, dirtyFault);
            }
        }
        var dirty = !accessedDirty || IsDirty(walk.LeafAddress, SecondStageEntry.DirtyBit);
        CopyPde(ref state, request, walk.Size, walk.LeafAddress, walk.UpperRights,
            accessedDirty ? SecondStageEntry.AccessedBit : 0, accessedDirty ? SecondStageEntry.DirtyBit : 0, entry.DomainId,
            CachedTranslationType.SecondStage, state.FillFlags);
        return Output(ref state, request, walk.Output, walk.Size, walk.Rights, entry.DomainId, FaultReason.SgnInterruptRange,
            new CacheFill(CachedTranslationType.SecondStage, dirty ? CachedRights.Dirty : 0));
    }

    /// <summary>Whether page-walk accesses snoop, which A/D updates require (ECAP.SMPWCS and PWSNP, VT-d §3.6.2).</summary>
    private bool WalkSnoops(in PasidTableEntry entry) => _profile.ScalableModePageWalkCoherency && entry.PageWalkSnoop;

    /// <summary>
    /// Atomically sets <paramref name="bits"/> in the entry at <paramref name="address"/> if any is clear, as the
    /// hardware's locked update does. Without a snooped walk an update that is needed faults with <paramref name="noSnoop"/>.
    /// </summary>
    private FaultReason SetFlags(ref WalkState state, ulong address, ulong bits, bool snoop, FaultReason noSnoop)
    {
        var frame = _memory.GetFrame(address >> 12);
        ref var slot = ref frame[(int)((address >> 3) & 511)];
        if ((Volatile.Read(ref slot) & bits) == bits)
        {
            return FaultReason.None;
        }
        if (!snoop)
        {
            return noSnoop;
        }
        Interlocked.Or(ref slot, bits);
        state.Writes++;
        return FaultReason.None;
    }
}
