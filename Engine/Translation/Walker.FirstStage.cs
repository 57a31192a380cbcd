using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine;

internal sealed partial class Walker
{
    /// <summary>
    /// First-stage (PGTT=001) and nested (PGTT=011) translation (VT-d §3.6, §3.8). When nested, every address the
    /// first stage produces — FSPTPTR, each table address and the final page — is a GPA translated by the second stage.
    /// </summary>
    private TranslationResult TranslateFirstStage(ref WalkState state, in DmaRequest request, in PasidTableEntry entry, bool privileged)
    {
        var nested = entry.TranslationType == PasidGranularTranslationType.Nested;
        var levels = entry.FirstStagePagingMode == FirstStagePagingMode.FiveLevel ? 5 : 4;
        // VT-d §3.6: bits 63:N-1 of the input must all equal bit N-1 (N = 48 or 57).
        var upper = (long)request.Address >> ((levels == 5 ? 57 : 48) - 1);
        if (upper is not 0 and not -1)
        {
            return Fault(ref state, FaultReason.SgnNonCanonical);
        }

        var snoop = WalkSnoops(entry);
        var accessedDirty = entry.SecondStageAccessedDirtyEnable;
        var accessedBits = FirstStageEntry.AccessedBit | (entry.ExtendedAccessedFlagEnable ? FirstStageEntry.ExtendedAccessedBit : 0);
        var gpaBits = SecondStageInputBits(entry.AddressWidth);
        var table = entry.FirstStagePointer;
        var writable = true;
        var user = true;
        var aboveLeaf = AccessRights.None;
        var leafAddress = 0UL;
        var leafTable = default(StageWalk);
        var output = 0UL;
        var size = PageSize.Size4K;
        var level = levels;
        // Nested first-stage tables are GPAs whose second-stage checks a cached table would skip, so only
        // first-stage-only walks use the first-stage paging-structure cache (tagged DID and PASID).
        var structures = nested ? null : _caches?.PagingStructures;
        var identity = structures is null ? 0
            : PagingStructureCache.Identity(table, state.TagPasid, false, entry.ExtendedAccessedFlagEnable, snoop);
        if (structures is not null
            && structures.TryLookup(firstStage: true, entry.DomainId, identity, request.Address, out var cached, out var upperRights))
        {
            level = 1;
            table = cached;
            writable = (upperRights & AccessRights.Write) != 0;
            user = (upperRights & AccessRights.User) != 0;
        }
        for (; level >= 1; level--)
        {
            var tableWalk = default(StageWalk);
            var tableAddress = table;
            if (nested)
            {
                if (!Fits(table, gpaBits))
                {
                    return Fault(ref state, FaultReason.SfsAddressBeyondLimit);
                }
                tableWalk = WalkSecondStage(ref state, entry.SecondStagePointer, entry.AddressWidth, accessedDirty, snoop,
                    table, AccessKind.Read, scalable: true, entry.DomainId);
                if (tableWalk.Fault != FaultReason.None)
                {
                    return Fault(ref state, tableWalk.Fault);
                }
                // Reading a first-stage table needs SS read, and SS write too when SSADE may update it (VT-d §3.8).
                var needed = AccessRights.Read | (accessedDirty ? AccessRights.Write : 0);
                if ((tableWalk.Rights & needed) != needed)
                {
                    return Fault(ref state, level == levels ? FaultReason.SfsRootReadDenied : FaultReason.SfsEntryReadDenied);
                }
                tableAddress = tableWalk.Output;
            }

            var entryAddress = tableAddress + ((ulong)PageTableGeometry.LevelIndex(request.Address, level) * 8);
            var frame = _memory.GetFrame(entryAddress >> 12);
            state.Reads++;
            if (frame.IsEmpty)
            {
                return Fault(ref state, level == levels ? FaultReason.SfsRootAccessError : FaultReason.SfsAccessError);
            }
            ref var slot = ref frame[(int)((entryAddress >> 3) & 511)];
            FirstStageEntry pte;
            while (true)
            {
                pte = new FirstStageEntry(Volatile.Read(ref slot));
                state.Trace?.Add($"FS level-{level} entry", entryAddress, [pte.Value],
                    $"P={B(pte.Present)} R/W={B(pte.Writable)} U/S={B(pte.User)} PS={B(pte.IsLargePage)} A={B(pte.Accessed)} D={B(pte.Dirty)} EA={B(pte.ExtendedAccessed)} ADDR=0x{pte.Address(level, _profile.HostAddressWidth):x}");
                if (!pte.Present)
                {
                    return Fault(ref state, FaultReason.SfsNotPresent);
                }
                if (pte.HasReservedBits(level, _profile))
                {
                    return Fault(ref state, FaultReason.SfsReserved);
                }
                if ((pte.Value & accessedBits) == accessedBits)
                {
                    break;
                }
                var flagFault = PrepareFirstStageFlagWrite(ref state, nested, snoop, accessedDirty, tableWalk);
                if (flagFault != FaultReason.None)
                {
                    return Fault(ref state, flagFault);
                }
                if (Interlocked.CompareExchange(ref slot, pte.Value | accessedBits, pte.Value) == pte.Value)
                {
                    state.Writes++;
                    break;
                }
            }
            aboveLeaf = FirstStageRights(writable, user);
            writable &= pte.Writable;
            user &= pte.User;
            if (pte.IsLeaf(level))
            {
                size = (PageSize)level;
                output = pte.Address(level, _profile.HostAddressWidth) | (request.Address & size.OffsetMask());
                leafAddress = entryAddress;
                leafTable = tableWalk;
                if (nested && !Fits(output, gpaBits))
                {
                    return Fault(ref state, FaultReason.SfsAddressBeyondLimit);
                }
                break;
            }
            table = pte.Address(level, _profile.HostAddressWidth);
            if (level == 2)
            {
                structures?.Fill(firstStage: true, entry.DomainId, identity, state.TagPasid, request.Address, table,
                    FirstStageRights(writable, user),
                    state.Stamps.PagingStructures);
            }
        }

        var write = NeedsWrite(request.Access);
        var permission = FirstStagePermission(user, writable, privileged, write, entry.WriteProtectEnable);
        if (permission != FaultReason.None)
        {
            return Denied(ref state, request, permission);
        }
        var rights = FirstStageRights(writable, user);
        var finalLeafAddress = 0UL;

        if (nested)
        {
            var final = WalkSecondStage(ref state, entry.SecondStagePointer, entry.AddressWidth, accessedDirty, snoop,
                output, request.Access, scalable: true, entry.DomainId);
            if (final.Fault != FaultReason.None)
            {
                return Fault(ref state, final.Fault);
            }
            var denial = SecondStagePermission(final.Rights, request.Access, FaultReason.SgnNoRead, FaultReason.SgnNoWrite);
            if (denial != FaultReason.None)
            {
                return Denied(ref state, request, denial);
            }
            if (accessedDirty && write && request.AddressType == AddressType.Untranslated)
            {
                var dirtyFault = SetFlags(ref state, final.LeafAddress, SecondStageEntry.DirtyBit, snoop, FaultReason.SssFlagUpdateNoSnoop);
                if (dirtyFault != FaultReason.None)
                {
                    return Fault(ref state, dirtyFault);
                }
            }
            output = final.Output;
            finalLeafAddress = final.LeafAddress;
            size = (PageSize)Math.Min((int)size, (int)final.Size);
            rights &= final.Rights | AccessRights.User;
        }

        if (write && request.AddressType == AddressType.Untranslated
            && !IsDirty(leafAddress, FirstStageEntry.DirtyBit))
        {
            var flagFault = PrepareFirstStageFlagWrite(ref state, nested, snoop, accessedDirty, leafTable);
            if (flagFault != FaultReason.None)
            {
                return Fault(ref state, flagFault);
            }
            // VT-d §3.6.2: D is set by the same atomic update that sets A (and EA).
            SetFlags(ref state, leafAddress, FirstStageEntry.DirtyBit | accessedBits, snoop: true, FaultReason.SfsFlagUpdateNoSnoop);
        }
        // A write hit needs no walk only if every D flag it would set is already set.
        var dirty = IsDirty(leafAddress, FirstStageEntry.DirtyBit)
            && (!nested || !accessedDirty || IsDirty(finalLeafAddress, SecondStageEntry.DirtyBit));
        var flags = (dirty ? CachedRights.Dirty : 0) | (entry.WriteProtectEnable ? CachedRights.WriteProtect : 0);
        if (!nested)
        {
            CopyPde(ref state, request, size, leafAddress, aboveLeaf, accessedBits, FirstStageEntry.DirtyBit, entry.DomainId,
                CachedTranslationType.FirstStage, state.FillFlags | (flags & CachedRights.WriteProtect));
        }
        return Output(ref state, request, output, size, rights, entry.DomainId, FaultReason.SgnInterruptRange,
            new CacheFill(nested ? CachedTranslationType.Nested : CachedTranslationType.FirstStage, flags));
    }

    /// <summary>What first-stage R/W and U/S flags (ANDed over levels) grant: reads always, writes and user access as flagged.</summary>
    private static AccessRights FirstStageRights(bool writable, bool user) =>
        AccessRights.Read | (writable ? AccessRights.Write : 0) | (user ? AccessRights.User : 0);

    /// <summary>
    /// First-stage access rule (VT-d §3.6.1): user requests need U/S at every level, and R/W for writes; supervisor
    /// writes need R/W only with WPE. <paramref name="user"/> and <paramref name="writable"/> are ANDed over the levels.
    /// </summary>
    private static FaultReason FirstStagePermission(bool user, bool writable, bool privileged, bool write, bool writeProtect)
    {
        if (!privileged && !user)
        {
            return FaultReason.SgnUserSupervisor;
        }
        if (write && !writable && (!privileged || writeProtect))
        {
            return FaultReason.SgnNoWrite;
        }
        return FaultReason.None;
    }

    /// <summary>
    /// Preconditions of writing a first-stage flag: a snooped walk (SFS.9), and when nested, SS write permission on the
    /// table page (SFS.8) whose SS leaf then gets its D flag when SSADE=1.
    /// </summary>
    private FaultReason PrepareFirstStageFlagWrite(ref WalkState state, bool nested, bool snoop, bool accessedDirty, in StageWalk tableWalk)
    {
        if (!snoop)
        {
            return FaultReason.SfsFlagUpdateNoSnoop;
        }
        if (!nested)
        {
            return FaultReason.None;
        }
        if ((tableWalk.Rights & AccessRights.Write) == 0)
        {
            return FaultReason.SfsFlagWriteDenied;
        }
        return accessedDirty
            ? SetFlags(ref state, tableWalk.LeafAddress, SecondStageEntry.DirtyBit, snoop, FaultReason.SssFlagUpdateNoSnoop)
            : FaultReason.None;
    }
}
