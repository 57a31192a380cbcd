using VtdEngine.Tables;

namespace VtdEngine.Tests.Reference;

/// <summary>What the reference walker decided for one request; the comparable part of a <see cref="TranslationResult"/>.</summary>
public sealed record ReferenceResult(TranslationStatus Status, ulong Address, FaultReason Fault, bool FaultRecordingDisabled,
    PageSize PageSize, AccessRights Rights, ushort DomainId)
{
    /// <summary>The same fields taken from an engine result.</summary>
    public static ReferenceResult FromEngine(in TranslationResult result) =>
        new(result.Status, result.Address, result.Fault, result.FaultRecordingDisabled, result.PageSize, result.Rights,
            result.DomainId);

    /// <inheritdoc />
    public override string ToString() => Status switch
    {
        TranslationStatus.Success => $"0x{Address:x} ({PageSize}, {Rights}, did {DomainId})",
        TranslationStatus.Interrupt => $"interrupt 0x{Address:x}",
        _ => $"fault 0x{(byte)Fault:x2} {Fault}{(FaultRecordingDisabled ? " (FPD)" : "")}",
    };
}

/// <summary>
/// A deliberately naive second opinion on the VT-d walk: it decodes every entry from raw qwords with its own masks
/// (not the Tables structs' accessors), keeps no caches and performs the same A/EA/D writes as the engine.
/// </summary>
/// <remarks>
/// Written top to bottom from the spec facts (VT-d §3.4–3.9, §9.1–9.8) and the walk semantics agreed with the engine:
/// every check is spelled out in the order hardware performs it, and each fault returns at once. Not thread-safe.
/// </remarks>
public sealed class ReferenceWalker
{
    private const ulong InterruptWindowStart = 0xFEE0_0000;
    private const ulong InterruptWindowEnd = 0xFEEF_FFFF;

    private readonly IPhysicalMemory _memory;
    private readonly CapabilityProfile _profile;
    private readonly ulong _rootTable;
    private readonly RootTableMode _mode;
    private readonly bool _translationEnabled;

    // Per-request state: whether an FPD bit was seen on the path so far.
    private bool _fpdSeen;

    /// <summary>Creates a walker over <paramref name="memory"/> as SRTP + TE would leave the unit.</summary>
    public ReferenceWalker(IPhysicalMemory memory, CapabilityProfile profile, ulong rootTableAddress, RootTableMode mode,
        bool translationEnabled)
    {
        _memory = memory;
        _profile = profile;
        _rootTable = rootTableAddress & ~0xFFFUL;
        _mode = mode;
        _translationEnabled = translationEnabled;
    }

    private int Haw => _profile.HostAddressWidth;

    /// <summary>Translates one request.</summary>
    public ReferenceResult Translate(in DmaRequest request)
    {
        _fpdSeen = false;

        // §3.14: an untranslated request without PASID to 0xFEEx_xxxx is an interrupt message, even with TE off.
        if (!request.HasPasid && request.AddressType == AddressType.Untranslated && InInterruptWindow(request.Address))
        {
            return new ReferenceResult(TranslationStatus.Interrupt, request.Address, FaultReason.None, false,
                PageSize.Size4K, AccessRights.None, 0);
        }
        if (!_translationEnabled)
        {
            return Success(request.Address, PageSize.Size4K, AccessRights.Read | AccessRights.Write | AccessRights.User, 0);
        }
        var result = _mode switch
        {
            RootTableMode.Legacy => TranslateLegacy(request),
            RootTableMode.Scalable when _profile.ScalableMode => TranslateScalable(request),
            RootTableMode.AbortDma when _profile.AbortDmaMode => Fault(FaultReason.RtaAbortDma),
            _ => Fault(FaultReason.RtaInvalidRootTableAddress),
        };
        return ConvertForTranslationRequest(request, result);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Legacy mode (TTM 00)
    // ---------------------------------------------------------------------------------------------------------------

    private ReferenceResult TranslateLegacy(in DmaRequest request)
    {
        if (request.HasPasid)
        {
            return Fault(FaultReason.RtaPasidInLegacyMode);
        }

        // Root entry: lo = [63:12 CTP][11:1 rsvd][0 P], hi = reserved.
        var rootAddress = _rootTable + ((ulong)request.Bus * 16);
        if (!Read(rootAddress, out var rootLo) || !Read(rootAddress + 8, out var rootHi))
        {
            return Fault(FaultReason.LrtAccessError);
        }
        if (!Bit(rootLo, 0))
        {
            return Fault(FaultReason.LrtRootNotPresent);
        }
        if ((rootLo & (Mask(11, 1) | Mask(63, Haw))) != 0 || rootHi != 0)
        {
            return Fault(FaultReason.LrtReserved);
        }
        var contextTable = rootLo & ~0xFFFUL;

        // Context entry: lo = [63:12 SSPTPTR][11:4 rsvd][3:2 TT][1 FPD][0 P], hi = [87:72 DID][71 rsvd][66:64 AW].
        var contextAddress = contextTable + ((ulong)request.DevFn * 16);
        if (!Read(contextAddress, out var ctxLo) || !Read(contextAddress + 8, out var ctxHi))
        {
            return Fault(FaultReason.LctAccessError);
        }
        _fpdSeen |= Bit(ctxLo, 1);
        if (!Bit(ctxLo, 0))
        {
            return Fault(FaultReason.LctContextNotPresent);
        }
        var tt = (int)((ctxLo >> 2) & 3);
        var aw = (int)(ctxHi & 7);
        var did = (ushort)((ctxHi >> 8) & 0xFFFF);
        var lowReserved = Mask(11, 4) | (tt == 2 ? 0 : Mask(63, Haw));
        var highReserved = (1UL << 7) | Mask(63, 24) | (Mask(23, 8) & ~Mask(7 + _profile.DomainIdBits, 8));
        if ((ctxLo & lowReserved) != 0 || (ctxHi & highReserved) != 0)
        {
            return Fault(FaultReason.LctReserved);
        }
        if (tt == 3 || (tt == 1 && !_profile.DeviceTlb) || (tt == 2 && !_profile.PassThrough))
        {
            return Fault(FaultReason.LctInvalidProgramming);
        }
        if (tt != 2 && !_profile.SupportsAddressWidth(aw))
        {
            return Fault(FaultReason.LctInvalidProgramming);
        }
        if (tt == 2 && aw != _profile.LargestAddressWidth)
        {
            return Fault(FaultReason.LctInvalidProgramming);
        }

        // ATS: only TT=01 lets translation and translated requests through.
        if (request.AddressType != AddressType.Untranslated && tt != 1)
        {
            return Fault(FaultReason.LctTranslationBlocked);
        }
        if (request.AddressType == AddressType.Translated)
        {
            return Success(request.Address, PageSize.Size4K, AccessRights.Read | AccessRights.Write, 0);
        }
        if (IsInterruptWindowTranslationRequest(request))
        {
            return Success(request.Address, PageSize.Size4K, AccessRights.Write | AccessRights.User, 0);
        }

        if (tt == 2)
        {
            if (request.Address >= Pow2(Haw))
            {
                return Fault(FaultReason.LgnAddressBeyondLimit);
            }
            return CheckInterruptRange(Success(request.Address, PageSize.Size4K,
                AccessRights.Read | AccessRights.Write | AccessRights.User, did), legacy: true);
        }

        if (request.Address >= Pow2(SecondStageInputBits(aw)))
        {
            return Fault(FaultReason.LgnAddressBeyondLimit);
        }
        var walk = WalkSecondStage(ctxLo & ~0xFFFUL, aw, request.Address, ssade: false, pwsnp: false, legacy: true,
            request.Access);
        if (walk.Fault != FaultReason.None)
        {
            return Fault(walk.Fault);
        }
        var permission = SecondStagePermission(request.Access, walk.Read, walk.Write, legacy: true);
        if (permission != FaultReason.None)
        {
            return Fault(permission);
        }
        return CheckInterruptRange(Success(walk.Output, walk.Size, Rights(walk.Read, walk.Write, user: true), did), legacy: true);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Scalable mode (TTM 01)
    // ---------------------------------------------------------------------------------------------------------------

    private ReferenceResult TranslateScalable(in DmaRequest request)
    {
        // Root entry: lo = [63:12 LCTP][11:1 rsvd][0 LP], hi = [127:76 UCTP][75:65 rsvd][64 UP].
        var rootAddress = _rootTable + ((ulong)request.Bus * 16);
        if (!Read(rootAddress, out var rootLo) || !Read(rootAddress + 8, out var rootHi))
        {
            return Fault(FaultReason.SrtAccessError);
        }
        var half = request.DevFn < 128 ? rootLo : rootHi;
        if (!Bit(half, 0))
        {
            return Fault(FaultReason.SrtNotPresent);
        }
        if ((half & (Mask(11, 1) | Mask(63, Haw))) != 0)
        {
            return Fault(FaultReason.SrtReserved);
        }

        // Context entry (256 bits): q0 = [63:12 PASIDDIRPTR][11:9 PDTS][8:5 rsvd][4 PRE][3 PASIDE][2 DTE][1 FPD][0 P],
        // q1 = [20 RID_PRIV][19:0 RID_PASID], q2 and q3 reserved.
        var contextAddress = (half & ~0xFFFUL) + ((ulong)(request.DevFn & 0x7F) * 32);
        if (!Read(contextAddress, out var c0) || !Read(contextAddress + 8, out var c1)
            || !Read(contextAddress + 16, out var c2) || !Read(contextAddress + 24, out var c3))
        {
            return Fault(FaultReason.SctAccessError);
        }
        _fpdSeen |= Bit(c0, 1);
        if (!Bit(c0, 0))
        {
            return Fault(FaultReason.SctNotPresent);
        }
        var c1Reserved = Mask(63, 21) | (_profile.RidPasid ? 0 : Mask(19, 0)) | (_profile.RidPriv ? 0 : 1UL << 20);
        if ((c0 & (Mask(8, 5) | Mask(63, Haw))) != 0 || (c1 & c1Reserved) != 0 || c2 != 0 || c3 != 0)
        {
            return Fault(FaultReason.SctReserved);
        }
        var dte = Bit(c0, 2);
        var pasidEnable = Bit(c0, 3);
        var pre = Bit(c0, 4);
        var pasidLimit = 1UL << ((int)((c0 >> 9) & 7) + 13);
        var ridPasid = (uint)(c1 & 0xFFFFF);
        var ridPriv = Bit(c1, 20);
        if ((pre && !dte) || (_profile.RidPasid && ridPasid >= pasidLimit))
        {
            return Fault(FaultReason.SctInvalidProgramming);
        }
        if (request.AddressType != AddressType.Untranslated && !dte)
        {
            return Fault(FaultReason.SctDeviceTlbDisabled);
        }
        if (request.AddressType == AddressType.Translated)
        {
            return Success(request.Address, PageSize.Size4K, AccessRights.Read | AccessRights.Write, 0);
        }
        if (IsInterruptWindowTranslationRequest(request))
        {
            return Success(request.Address, PageSize.Size4K, AccessRights.Write | AccessRights.User, 0);
        }

        uint pasid;
        bool privileged;
        if (!request.HasPasid)
        {
            pasid = _profile.RidPasid ? ridPasid : 0;
            privileged = _profile.RidPriv && ridPriv;
        }
        else
        {
            if (!pasidEnable)
            {
                return Fault(FaultReason.SctPasidDisabled);
            }
            if (!_profile.Pasid || request.Pasid >= Pow2(_profile.PasidWidth))
            {
                return Fault(FaultReason.SgnPasidBeyondPss);
            }
            if (request.Pasid >= pasidLimit)
            {
                return Fault(FaultReason.SctPasidBeyondDirectory);
            }
            if (_profile.RidPasid && request.Pasid == ridPasid)
            {
                return Fault(FaultReason.SctPasidEqualsRidPasid);
            }
            pasid = request.Pasid;
            privileged = request.Privileged;
        }

        // PASID directory entry: [63:12 SMPTBLPTR][11:2 rsvd][1 FPD][0 P].
        if (!Read((c0 & ~0xFFFUL) + ((ulong)(pasid >> 6) * 8), out var pde))
        {
            return Fault(FaultReason.SpdAccessError);
        }
        _fpdSeen |= Bit(pde, 1);
        if (!Bit(pde, 0))
        {
            return Fault(FaultReason.SpdNotPresent);
        }
        if ((pde & (Mask(11, 2) | Mask(63, Haw))) != 0)
        {
            return Fault(FaultReason.SpdReserved);
        }

        // PASID table entry (512 bits).
        var pteAddress = (pde & ~0xFFFUL) + ((ulong)(pasid & 63) * 64);
        var q = new ulong[8];
        for (var i = 0; i < 8; i++)
        {
            if (!Read(pteAddress + (ulong)(i * 8), out q[i]))
            {
                return Fault(FaultReason.SptAccessError);
            }
        }
        _fpdSeen |= Bit(q[0], 1);
        if (!Bit(q[0], 0))
        {
            return Fault(FaultReason.SptNotPresent);
        }
        var entry = new PasidEntryFields(q);
        if (PasidEntryHasReservedBits(q, entry.Pgtt))
        {
            return Fault(FaultReason.SptReserved);
        }
        if (PasidEntryIsBadlyProgrammed(entry))
        {
            return Fault(FaultReason.SptInvalidProgramming);
        }
        if (privileged && !entry.Sre)
        {
            return Fault(FaultReason.SptSupervisorRequestDisabled);
        }

        return entry.Pgtt switch
        {
            4 => TranslatePassThrough(request, entry),
            2 => TranslateSecondStageOnly(request, entry),
            _ => TranslateFirstStage(request, entry, privileged, nested: entry.Pgtt == 3),
        };
    }

    private bool PasidEntryHasReservedBits(ulong[] q, int pgtt)
    {
        var usesSecondStage = pgtt is 2 or 3;
        var usesFirstStage = pgtt is 1 or 3;

        // q0 = [63:12 SSPTPTR][11:10 rsvd][9 SSADE][8:6 PGTT][5 rsvd][4:2 AW][1 FPD][0 P]
        var q0Reserved = Mask(11, 10) | (1UL << 5);
        if (usesSecondStage)
        {
            q0Reserved |= Mask(63, Haw) | (_profile.SecondStageAccessedDirty ? 0 : 1UL << 9);
        }

        // q1 = [63:32 PAT][31:27 rsvd][26 EMTE][25 CD][24 PGSNP][23 PWSNP][22:16 rsvd][15:0 DID]; no MTS, so CD/EMTE reserved.
        var q1Reserved = Mask(22, 16) | Mask(31, 25) | (Mask(15, 0) & ~Mask(_profile.DomainIdBits - 1, 0))
            | (_profile.ScalableModePageWalkCoherency ? 0 : 1UL << 23) | (_profile.SnoopControl ? 0 : 1UL << 24);

        // q2 = [63:12 FSPTPTR][11:8 rsvd][7 EAFE][6:5 ignored][4 WPE][3:2 FSPM][1 rsvd][0 SRE]
        var q2Reserved = Mask(11, 8) | (1UL << 1);
        if (usesFirstStage)
        {
            q2Reserved |= (_profile.SupervisorRequests ? 0 : 1UL) | (_profile.ExtendedAccessedFlag ? 0 : 1UL << 7);
            if (pgtt == 1)
            {
                q2Reserved |= Mask(63, Haw);
            }
        }
        return (q[0] & q0Reserved) != 0 || (q[1] & q1Reserved) != 0 || (q[2] & q2Reserved) != 0
            || (q[3] | q[4] | q[5] | q[6] | q[7]) != 0;
    }

    private bool PasidEntryIsBadlyProgrammed(PasidEntryFields entry)
    {
        var supported = entry.Pgtt switch
        {
            1 => _profile.FirstStageTranslation,
            2 => _profile.SecondStageTranslation,
            3 => _profile.Nested,
            4 => _profile.PassThrough,
            _ => false,
        };
        if (!supported)
        {
            return true;
        }
        if (entry.Pgtt is 2 or 3 && !_profile.SupportsAddressWidth(entry.Aw))
        {
            return true;
        }
        if (entry.Pgtt is 1 or 3 && (entry.Fspm >= 2 || (entry.Fspm == 1 && !_profile.FirstStage5Level)))
        {
            return true;
        }
        return entry.Pgtt == 3 && entry.Fsptptr >= Pow2(SecondStageInputBits(entry.Aw));
    }

    private ReferenceResult TranslatePassThrough(in DmaRequest request, PasidEntryFields entry)
    {
        if (request.Address >= Pow2(Haw))
        {
            return Fault(FaultReason.SgnAddressBeyondHaw);
        }
        return CheckInterruptRange(Success(request.Address, PageSize.Size4K,
            AccessRights.Read | AccessRights.Write | AccessRights.User, entry.Did), legacy: false);
    }

    private ReferenceResult TranslateSecondStageOnly(in DmaRequest request, PasidEntryFields entry)
    {
        if (request.Address >= Pow2(SecondStageInputBits(entry.Aw)))
        {
            return Fault(FaultReason.SgnAddressBeyondAgaw);
        }
        var walk = WalkSecondStage(entry.Ssptptr, entry.Aw, request.Address, entry.Ssade, entry.Pwsnp, legacy: false,
            request.Access);
        if (walk.Fault != FaultReason.None)
        {
            return Fault(walk.Fault);
        }
        var permission = SecondStagePermission(request.Access, walk.Read, walk.Write, legacy: false);
        if (permission != FaultReason.None)
        {
            return Fault(permission);
        }
        if (IsWrite(request.Access) && entry.Ssade && request.AddressType == AddressType.Untranslated)
        {
            var dirty = SetSecondStageDirty(walk.LeafAddress, entry.Pwsnp);
            if (dirty != FaultReason.None)
            {
                return Fault(dirty);
            }
        }
        return CheckInterruptRange(Success(walk.Output, walk.Size, Rights(walk.Read, walk.Write, user: true), entry.Did),
            legacy: false);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // First stage (PGTT 001), and nested (PGTT 011) where every first-stage address is a GPA.
    // ---------------------------------------------------------------------------------------------------------------

    private ReferenceResult TranslateFirstStage(in DmaRequest request, PasidEntryFields entry, bool privileged, bool nested)
    {
        var levels = entry.Fspm == 1 ? 5 : 4;
        var canonicalBits = entry.Fspm == 1 ? 57 : 48;
        var upper = request.Address >> (canonicalBits - 1);
        if (upper != 0 && upper != (ulong.MaxValue >> (canonicalBits - 1)))
        {
            return Fault(FaultReason.SgnNonCanonical);
        }
        var ssLimit = Pow2(SecondStageInputBits(entry.Aw));

        var table = entry.Fsptptr;
        var writable = true;
        var user = true;
        for (var level = levels; level >= 1; level--)
        {
            // Where the table lives in host memory: itself, or (nested) its second-stage translation.
            var tableHpa = table;
            var tableSsWritable = true;
            if (nested)
            {
                if (table >= ssLimit)
                {
                    return Fault(FaultReason.SfsAddressBeyondLimit);
                }
                var ss = WalkSecondStage(entry.Ssptptr, entry.Aw, table, entry.Ssade, entry.Pwsnp, legacy: false,
                    AccessKind.Read);
                if (ss.Fault != FaultReason.None)
                {
                    return Fault(ss.Fault);
                }
                if (!ss.Read || (entry.Ssade && !ss.Write))
                {
                    return Fault(level == levels ? FaultReason.SfsRootReadDenied : FaultReason.SfsEntryReadDenied);
                }
                tableHpa = ss.Output;
                tableSsWritable = ss.Write;
            }

            var entryAddress = tableHpa + ((ulong)LevelIndex(request.Address, level) * 8);
            ulong e;
            bool leaf;
            while (true)
            {
                if (!Read(entryAddress, out e))
                {
                    return Fault(level == levels ? FaultReason.SfsRootAccessError : FaultReason.SfsAccessError);
                }
                if (!Bit(e, 0))
                {
                    return Fault(FaultReason.SfsNotPresent);
                }
                leaf = level == 1 || (level is 2 or 3 && Bit(e, 7));
                if (FirstStageHasReservedBits(e, level))
                {
                    return Fault(FaultReason.SfsReserved);
                }
                var needed = (Bit(e, 5) ? 0 : 1UL << 5) | (entry.Eafe && !Bit(e, 10) ? 1UL << 10 : 0);
                if (needed == 0)
                {
                    break;
                }
                var update = UpdateFirstStageFlags(entry, nested, table, tableSsWritable, entryAddress, e, needed,
                    out var swapped);
                if (update != FaultReason.None)
                {
                    return Fault(update);
                }
                if (swapped)
                {
                    e |= needed;
                    break;
                }

                // The entry changed under us: evaluate the new value from the P check again.
            }

            writable &= Bit(e, 1);
            user &= Bit(e, 2);
            if (!leaf)
            {
                table = e & Mask(Haw - 1, 12);
                continue;
            }

            // The leaf: a nested leaf address beyond the second-stage limit is a malformed entry, judged before the
            // walk's permissions (SFS.5); then permissions (VT-d §3.6.1), then the second stage (nested), then D.
            var size = (PageSize)level;
            var outputGpa = (e & Mask(Haw - 1, LevelShift(level))) | (request.Address & OffsetMask(size));
            var isWrite = IsWrite(request.Access);
            if (nested && outputGpa >= ssLimit)
            {
                return Fault(FaultReason.SfsAddressBeyondLimit);
            }
            if (!privileged)
            {
                if (!user)
                {
                    return Fault(FaultReason.SgnUserSupervisor);
                }
                if (isWrite && !writable)
                {
                    return Fault(FaultReason.SgnNoWrite);
                }
            }
            else if (isWrite && entry.Wpe && !writable)
            {
                return Fault(FaultReason.SgnNoWrite);
            }

            var output = outputGpa;
            var rights = AccessRights.Read | (writable ? AccessRights.Write : 0) | (user ? AccessRights.User : 0);
            var setsDirty = isWrite && request.AddressType == AddressType.Untranslated;
            if (nested)
            {
                var ss = WalkSecondStage(entry.Ssptptr, entry.Aw, outputGpa, entry.Ssade, entry.Pwsnp, legacy: false,
                    request.Access);
                if (ss.Fault != FaultReason.None)
                {
                    return Fault(ss.Fault);
                }
                var permission = SecondStagePermission(request.Access, ss.Read, ss.Write, legacy: false);
                if (permission != FaultReason.None)
                {
                    return Fault(permission);
                }
                if (setsDirty && entry.Ssade)
                {
                    var ssDirty = SetSecondStageDirty(ss.LeafAddress, entry.Pwsnp);
                    if (ssDirty != FaultReason.None)
                    {
                        return Fault(ssDirty);
                    }
                }
                output = ss.Output;
                size = (PageSize)Math.Min((int)size, (int)ss.Size);
                if (!ss.Read)
                {
                    rights &= ~AccessRights.Read;
                }
                if (!ss.Write)
                {
                    rights &= ~AccessRights.Write;
                }
            }

            if (setsDirty)
            {
                // D in the leaf, together with A/EA should they have been cleared meanwhile.
                Read(entryAddress, out var current);
                var needed = (Bit(current, 6) ? 0 : 1UL << 6) | (Bit(current, 5) ? 0 : 1UL << 5)
                    | (entry.Eafe && !Bit(current, 10) ? 1UL << 10 : 0);
                if (needed != 0)
                {
                    var dirty = UpdateFirstStageFlags(entry, nested, table, tableSsWritable, entryAddress, current, needed,
                        out _);
                    if (dirty != FaultReason.None)
                    {
                        return Fault(dirty);
                    }
                }
            }
            return CheckInterruptRange(Success(output, size, rights, entry.Did), legacy: false);
        }
        throw new InvalidOperationException("A first-stage walk always ends at level 1.");
    }

    /// <summary>Sets A/EA/D bits in a first-stage entry as hardware does, with the nested and snoop prerequisites.</summary>
    private FaultReason UpdateFirstStageFlags(PasidEntryFields entry, bool nested, ulong tableGpa, bool tableSsWritable,
        ulong entryAddress, ulong expected, ulong bits, out bool swapped)
    {
        swapped = false;

        // Order between SFS.9 and SFS.8 is not fixed by the spec facts; the engine checks the snoop rule first.
        if (!_profile.ScalableModePageWalkCoherency || !entry.Pwsnp)
        {
            return FaultReason.SfsFlagUpdateNoSnoop;
        }
        if (nested)
        {
            if (!tableSsWritable)
            {
                return FaultReason.SfsFlagWriteDenied;
            }
            if (entry.Ssade)
            {
                // The flag write is a write to the table page: the second stage records it (D on its leaf).
                var ss = WalkSecondStage(entry.Ssptptr, entry.Aw, tableGpa, entry.Ssade, entry.Pwsnp, legacy: false,
                    AccessKind.Write);
                if (ss.Fault != FaultReason.None)
                {
                    return ss.Fault;
                }
                var dirty = SetSecondStageDirty(ss.LeafAddress, entry.Pwsnp);
                if (dirty != FaultReason.None)
                {
                    return dirty;
                }
            }
        }
        swapped = CompareExchange(entryAddress, expected | bits, expected);
        return FaultReason.None;
    }

    private bool FirstStageHasReservedBits(ulong e, int level)
    {
        var reserved = Mask(51, Haw);
        if (level >= 4)
        {
            reserved |= 1UL << 7;
        }
        else if (level == 3 && Bit(e, 7))
        {
            reserved |= _profile.FirstStage1GPages ? Mask(29, 13) : 1UL << 7;
        }
        else if (level == 2 && Bit(e, 7))
        {
            reserved |= Mask(20, 13);
        }
        return (e & reserved) != 0;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Second stage (legacy, PGTT 010, and the GPA side of nested)
    // ---------------------------------------------------------------------------------------------------------------

    private readonly record struct SecondStageWalk(FaultReason Fault, ulong Output, PageSize Size, bool Read, bool Write,
        ulong LeafAddress);

    /// <summary>
    /// Walks AW+2 levels from <paramref name="root"/>, setting A on the way when SSADE=1. Permissions are the callers'
    /// job, except that legacy mode turns a not-present entry (R=W=0) into an immediate permission fault.
    /// </summary>
    private SecondStageWalk WalkSecondStage(ulong root, int aw, ulong input, bool ssade, bool pwsnp, bool legacy,
        AccessKind access)
    {
        var levels = aw + 2;
        var table = root;
        var read = true;
        var write = true;
        for (var level = levels; level >= 1; level--)
        {
            var entryAddress = table + ((ulong)LevelIndex(input, level) * 8);
            ulong e;
            bool leaf;
            while (true)
            {
                if (!Read(entryAddress, out e))
                {
                    return SecondStageFault(level == levels
                        ? legacy ? FaultReason.LctInvalidProgramming : FaultReason.SssRootAccessError
                        : legacy ? FaultReason.LssAccessError : FaultReason.SssAccessError);
                }
                if ((e & 3) == 0)
                {
                    return SecondStageFault(!legacy ? FaultReason.SssNotPresent
                        : access == AccessKind.Write ? FaultReason.LgnNoWrite : FaultReason.LgnNoRead);
                }
                leaf = level == 1 || (level is 2 or 3 && Bit(e, 7));
                if (SecondStageHasReservedBits(e, level, leaf))
                {
                    return SecondStageFault(legacy ? FaultReason.LssReserved : FaultReason.SssReserved);
                }
                if (!ssade || Bit(e, 8))
                {
                    break;
                }
                if (!_profile.ScalableModePageWalkCoherency || !pwsnp)
                {
                    return SecondStageFault(FaultReason.SssFlagUpdateNoSnoop);
                }
                if (CompareExchange(entryAddress, e | (1UL << 8), e))
                {
                    e |= 1UL << 8;
                    break;
                }
            }
            read &= Bit(e, 0);
            write &= Bit(e, 1);
            if (leaf)
            {
                var size = (PageSize)level;
                var output = (e & Mask(Haw - 1, LevelShift(level))) | (input & OffsetMask(size));
                return new SecondStageWalk(FaultReason.None, output, size, read, write, entryAddress);
            }
            table = e & Mask(Haw - 1, 12);
        }
        throw new InvalidOperationException("A second-stage walk always ends at level 1.");
    }

    private static SecondStageWalk SecondStageFault(FaultReason fault) => new(fault, 0, PageSize.Size4K, false, false, 0);

    private bool SecondStageHasReservedBits(ulong e, int level, bool leaf)
    {
        var reserved = Mask(51, Haw) | (1UL << 62);
        if (!leaf)
        {
            reserved |= 1UL << 11;
            if (level >= 4)
            {
                reserved |= 1UL << 7;
            }
        }
        else
        {
            if (!_profile.SnoopControl)
            {
                reserved |= 1UL << 11;
            }
            if (level == 3)
            {
                reserved |= _profile.SecondStage1GPages ? Mask(29, 12) : 1UL << 7;
            }
            else if (level == 2)
            {
                reserved |= _profile.SecondStage2MPages ? Mask(20, 12) : 1UL << 7;
            }
        }
        return (e & reserved) != 0;
    }

    private static FaultReason SecondStagePermission(AccessKind access, bool read, bool write, bool legacy)
    {
        var needsRead = access is AccessKind.Read or AccessKind.Atomic;
        var needsWrite = access is AccessKind.Write or AccessKind.Atomic;
        if (needsRead && !read)
        {
            return legacy ? FaultReason.LgnNoRead : FaultReason.SgnNoRead;
        }
        if (needsWrite && !write)
        {
            return legacy ? FaultReason.LgnNoWrite : FaultReason.SgnNoWrite;
        }
        return FaultReason.None;
    }

    private FaultReason SetSecondStageDirty(ulong leafAddress, bool pwsnp)
    {
        while (true)
        {
            Read(leafAddress, out var e);
            if (Bit(e, 9))
            {
                return FaultReason.None;
            }
            if (!_profile.ScalableModePageWalkCoherency || !pwsnp)
            {
                return FaultReason.SssFlagUpdateNoSnoop;
            }
            if (CompareExchange(leafAddress, e | (1UL << 9), e))
            {
                return FaultReason.None;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Results
    // ---------------------------------------------------------------------------------------------------------------

    private ReferenceResult Fault(FaultReason reason) =>
        new(TranslationStatus.Fault, 0, reason, reason.IsQualified() && _fpdSeen, PageSize.Size4K, AccessRights.None, 0);

    private static ReferenceResult Success(ulong address, PageSize size, AccessRights rights, ushort domainId) =>
        new(TranslationStatus.Success, address, FaultReason.None, false, size, rights, domainId);

    private ReferenceResult CheckInterruptRange(ReferenceResult result, bool legacy) =>
        InInterruptWindow(result.Address)
            ? Fault(legacy ? FaultReason.LgnInterruptRange : FaultReason.SgnInterruptRange)
            : result;

    /// <summary>ATS translation requests report permission denials as an R=W=0 completion, not as faults.</summary>
    /// <summary>Special case S.1 (VT-d §3.15, §4.2.3): an ATS translation request without PASID to 0xFEEx_xxxx.</summary>
    private static bool IsInterruptWindowTranslationRequest(in DmaRequest request) =>
        request.AddressType == AddressType.TranslationRequest && !request.HasPasid
        && request.Address >= 0xFEE0_0000 && request.Address <= 0xFEEF_FFFF;

    private static ReferenceResult ConvertForTranslationRequest(in DmaRequest request, ReferenceResult result)
    {
        if (request.AddressType != AddressType.TranslationRequest || result.Status != TranslationStatus.Fault)
        {
            return result;
        }
        return result.Fault is FaultReason.LgnNoWrite or FaultReason.LgnNoRead or FaultReason.SgnUserSupervisor
            or FaultReason.SgnNoWrite or FaultReason.SgnNoRead
            ? Success(0, PageSize.Size4K, AccessRights.None, 0)
            : result;
    }

    private static AccessRights Rights(bool read, bool write, bool user) =>
        (read ? AccessRights.Read : 0) | (write ? AccessRights.Write : 0) | (user ? AccessRights.User : 0);

    // ---------------------------------------------------------------------------------------------------------------
    // Raw bits and memory
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>The PASID-table-entry fields the walk uses, decoded here from the raw qwords.</summary>
    private sealed class PasidEntryFields(ulong[] q)
    {
        public int Aw { get; } = (int)((q[0] >> 2) & 7);

        public int Pgtt { get; } = (int)((q[0] >> 6) & 7);

        public bool Ssade { get; } = Bit(q[0], 9);

        public ulong Ssptptr { get; } = q[0] & ~0xFFFUL;

        public ushort Did { get; } = (ushort)(q[1] & 0xFFFF);

        public bool Pwsnp { get; } = Bit(q[1], 23);

        public bool Sre { get; } = Bit(q[2], 0);

        public int Fspm { get; } = (int)((q[2] >> 2) & 3);

        public bool Wpe { get; } = Bit(q[2], 4);

        public bool Eafe { get; } = Bit(q[2], 7);

        public ulong Fsptptr { get; } = q[2] & ~0xFFFUL;
    }

    private bool Read(ulong address, out ulong value) => _memory.TryRead64(address, out value);

    private bool CompareExchange(ulong address, ulong value, ulong expected)
    {
        var frame = _memory.GetFrame(address >> 12);
        return Interlocked.CompareExchange(ref frame[(int)((address >> 3) & 511)], value, expected) == expected;
    }

    private static bool InInterruptWindow(ulong address) => address is >= InterruptWindowStart and <= InterruptWindowEnd;

    private static bool IsWrite(AccessKind access) => access is AccessKind.Write or AccessKind.Atomic;

    /// <summary>Second-stage input width: min(MGAW, AGAW of <paramref name="aw"/>).</summary>
    private int SecondStageInputBits(int aw) => Math.Min(_profile.MaxGuestAddressWidth, 30 + (9 * aw));

    private static int LevelIndex(ulong address, int level) => (int)((address >> LevelShift(level)) & 0x1FF);

    private static int LevelShift(int level) => 12 + (9 * (level - 1));

    private static ulong OffsetMask(PageSize size) => (1UL << LevelShift((int)size)) - 1;

    /// <summary>2^bits, saturating at 2^64 (so every address compares below it).</summary>
    private static ulong Pow2(int bits) => bits >= 64 ? ulong.MaxValue : 1UL << bits;

    /// <summary>Bits hi..lo set (empty when hi &lt; lo).</summary>
    private static ulong Mask(int hi, int lo)
    {
        if (hi < lo)
        {
            return 0;
        }
        var width = hi - lo + 1;
        return (width >= 64 ? ulong.MaxValue : (1UL << width) - 1) << lo;
    }

    private static bool Bit(ulong value, int bit) => ((value >> bit) & 1) != 0;
}
