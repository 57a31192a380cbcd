using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine;

internal sealed partial class Walker
{
    /// <summary>What one stage's walk produced: a fault, or an output with the rights ANDed over its levels.</summary>
    private struct StageWalk
    {
        public FaultReason Fault;
        public ulong Output;
        public PageSize Size;
        public AccessRights Rights;

        /// <summary>Physical address of the leaf entry, for a later D-flag update.</summary>
        public ulong LeafAddress;

        /// <summary>R/W ANDed over the levels above the leaf.</summary>
        public AccessRights UpperRights;
    }

    /// <summary>
    /// Second-stage walk (VT-d §3.7): AW+2 levels from <paramref name="root"/>, R/W ANDed over the levels, A set in
    /// each entry used when <paramref name="accessedDirty"/> (SSADE). Permission checks are the caller's, because
    /// nested translation judges the same rights with different fault codes.
    /// </summary>
    private StageWalk WalkSecondStage(ref WalkState state, ulong root, int aw, bool accessedDirty, bool snoop,
        ulong input, AccessKind access, bool scalable, ushort domainId)
    {
        var levels = PageTableGeometry.LevelsForAddressWidth(aw);
        var level = levels;
        var table = root;
        var readable = true;
        var writable = true;
        var structures = _caches?.PagingStructures;
        var identity = structures is null ? 0 : PagingStructureCache.Identity(root, 0, accessedDirty, false, snoop);
        if (structures is not null && structures.TryLookup(firstStage: false, domainId, identity, input, out var cached, out var upper))
        {
            // VT-d §6.2.4: start from the cached level-1 table with the rights of the levels above it.
            level = 1;
            table = cached;
            readable = (upper & AccessRights.Read) != 0;
            writable = (upper & AccessRights.Write) != 0;
        }
        for (; level >= 1; level--)
        {
            var entryAddress = table + ((ulong)PageTableGeometry.LevelIndex(input, level) * 8);
            var frame = _memory.GetFrame(entryAddress >> 12);
            state.Reads++;
            if (frame.IsEmpty)
            {
                // VT-d §7.1.3: an error fetching the top-level table is LCT.4.3 (legacy) or SSS.4 (scalable).
                var fault = level == levels
                    ? (scalable ? FaultReason.SssRootAccessError : FaultReason.LctInvalidProgramming)
                    : (scalable ? FaultReason.SssAccessError : FaultReason.LssAccessError);
                return new StageWalk { Fault = fault };
            }
            ref var slot = ref frame[(int)((entryAddress >> 3) & 511)];
            SecondStageEntry entry;
            while (true)
            {
                entry = new SecondStageEntry(Volatile.Read(ref slot));
                state.Trace?.Add($"SS level-{level} entry", entryAddress, [entry.Value],
                    $"R={B(entry.Readable)} W={B(entry.Writable)} PS={B(entry.IsLargePage)} A={B(entry.Accessed)} D={B(entry.Dirty)} ADDR=0x{entry.Address(level, _profile.HostAddressWidth):x}");
                if (!entry.Present)
                {
                    // Legacy mode reports a non-present entry as the permission the access lacked (LGN.2/LGN.3).
                    var fault = scalable ? FaultReason.SssNotPresent
                        : access == AccessKind.Write ? FaultReason.LgnNoWrite : FaultReason.LgnNoRead;
                    return new StageWalk { Fault = fault };
                }
                if (entry.HasReservedBits(level, _profile))
                {
                    return new StageWalk { Fault = scalable ? FaultReason.SssReserved : FaultReason.LssReserved };
                }
                if (!accessedDirty || entry.Accessed)
                {
                    break;
                }
                if (!snoop)
                {
                    return new StageWalk { Fault = FaultReason.SssFlagUpdateNoSnoop };
                }
                // A lost race re-evaluates the entry another agent wrote, exactly as a re-fetch would.
                if (Interlocked.CompareExchange(ref slot, entry.Value | SecondStageEntry.AccessedBit, entry.Value) == entry.Value)
                {
                    state.Writes++;
                    break;
                }
            }
            var upperRights = (readable ? AccessRights.Read : 0) | (writable ? AccessRights.Write : 0);
            readable &= entry.Readable;
            writable &= entry.Writable;
            if (entry.IsLeaf(level))
            {
                var size = (PageSize)level;
                return new StageWalk
                {
                    Output = entry.Address(level, _profile.HostAddressWidth) | (input & size.OffsetMask()),
                    Size = size,
                    Rights = (readable ? AccessRights.Read : 0) | (writable ? AccessRights.Write : 0) | AccessRights.User,
                    LeafAddress = entryAddress,
                    UpperRights = upperRights,
                };
            }
            table = entry.Address(level, _profile.HostAddressWidth);
            if (level == 2)
            {
                structures?.Fill(firstStage: false, domainId, identity, 0, input, table,
                    (readable ? AccessRights.Read : 0) | (writable ? AccessRights.Write : 0), state.Stamps.PagingStructures);
            }
        }
        throw new InvalidOperationException("Unreachable: level 1 is always a leaf.");
    }

    /// <summary>
    /// Records, for a cached walk of untranslated DMA that reached a 4 KiB leaf at <paramref name="leafAddress"/>, what a
    /// first-level TLB needs to walk from the leaf's table next time; kept only if the walk succeeds.
    /// </summary>
    private void CopyPde(ref WalkState state, in DmaRequest request, PageSize size, ulong leafAddress, AccessRights upperRights,
        ulong accessedBits, ulong dirtyBit, ushort domainId, CachedTranslationType type, CachedRights flags)
    {
        if (_caches is not null && size == PageSize.Size4K && request.AddressType == AddressType.Untranslated)
        {
            state.Pde = new PdeCacheCopy(leafAddress & ~0xFFFUL, upperRights, (ushort)accessedBits, (ushort)dirtyBit, domainId, type,
                flags, state.TagPasid, state.Stamps.Iotlb);
        }
    }

    /// <summary>
    /// A warm miss from a first-level TLB's PDE-cache copy: reads the one leaf entry the copied table holds for the
    /// address and fills the IOTLB, as a walk whose every upper structure hit the caches would (VT-d §6.2.4). Only the
    /// plain case is taken: a present leaf without reserved bits whose A flag (and for a write, D flag) needs no update,
    /// that grants the access, with an output outside the interrupt window. Anything else returns false having changed
    /// nothing, and the full walk decides the outcome and its fault.
    /// </summary>
    /// <remarks>
    /// The copy holds only request-independent decisions of its requester (the key it is found by includes source id,
    /// PASID and PR, not the access kind); the address checks of the walk (width, canonical form) are the same for every
    /// address of a 2 MiB region, so only the per-address rules are checked again here: the interrupt window for
    /// requests without PASID, and the leaf.
    /// </remarks>
    internal bool TryTranslateBelowPde(in DmaRequest request, in PdeCacheCopy pde, out TranslationResult result)
    {
        result = default;
        var address = request.Address;
        if (!request.HasPasid && InInterruptRange(address))
        {
            return false;
        }
        var frame = _memory.GetFrame(pde.Table >> 12);
        if (frame.IsEmpty)
        {
            return false;
        }
        var leaf = Volatile.Read(ref frame[PageTableGeometry.LevelIndex(address, 1)]);
        var dirty = (leaf & pde.DirtyBit) == pde.DirtyBit;
        if ((leaf & pde.AccessedBits) != pde.AccessedBits || (!dirty && NeedsWrite(request.Access)))
        {
            return false;
        }
        var plain = pde.Type == CachedTranslationType.FirstStage
            ? PlainFirstStageLeaf(new FirstStageEntry(leaf), pde, request, out var rights, out var frameAddress)
            : PlainSecondStageLeaf(new SecondStageEntry(leaf), pde, request.Access, out rights, out frameAddress);
        var output = frameAddress | (address & PageSize.Size4K.OffsetMask());
        if (!plain || InInterruptRange(output))
        {
            return false;
        }
        var cached = new IotlbEntry(output, PageSize.Size4K, (CachedRights)rights | pde.Flags | (dirty ? CachedRights.Dirty : 0),
            pde.DomainId, pde.Type);
        _caches!.Iotlb.Insert(request.SourceId, request.Pasid, address, pde.TagPasid, cached, pde.IotlbStamp);
        result = new TranslationResult(output, TranslationStatus.Success, FaultReason.None, PageSize.Size4K, rights, false,
            pde.DomainId, 1, 0);
        return true;
    }

    /// <summary>A first-stage leaf that is present, reserved-clean and grants the access (VT-d §3.6.1), with its rights and frame.</summary>
    private bool PlainFirstStageLeaf(FirstStageEntry leaf, in PdeCacheCopy pde, in DmaRequest request, out AccessRights rights,
        out ulong frame)
    {
        var writable = (pde.UpperRights & AccessRights.Write) != 0 && leaf.Writable;
        var user = (pde.UpperRights & AccessRights.User) != 0 && leaf.User;
        rights = AccessRights.Read | (writable ? AccessRights.Write : 0) | (user ? AccessRights.User : 0);
        frame = leaf.Address(1, _profile.HostAddressWidth);
        var privileged = request.HasPasid ? request.Privileged : (pde.Flags & CachedRights.PrivilegedWithoutPasid) != 0;
        return leaf.Present && !leaf.HasReservedBits(1, _profile)
            && (privileged || user)
            && (writable || !NeedsWrite(request.Access) || (privileged && (pde.Flags & CachedRights.WriteProtect) == 0));
    }

    /// <summary>A second-stage leaf that is present, reserved-clean and grants the access (VT-d §3.7.1), with its rights and frame.</summary>
    private bool PlainSecondStageLeaf(SecondStageEntry leaf, in PdeCacheCopy pde, AccessKind access, out AccessRights rights,
        out ulong frame)
    {
        rights = (pde.UpperRights & ((leaf.Readable ? AccessRights.Read : 0) | (leaf.Writable ? AccessRights.Write : 0)))
            | AccessRights.User;
        frame = leaf.Address(1, _profile.HostAddressWidth);
        return leaf.Present && !leaf.HasReservedBits(1, _profile)
            && SecondStagePermission(rights, access, FaultReason.SgnNoRead, FaultReason.SgnNoWrite) == FaultReason.None;
    }
}
