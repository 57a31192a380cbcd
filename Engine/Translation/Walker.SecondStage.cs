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
            var upperRights = SecondStageRights(readable, writable);
            readable &= entry.Readable;
            writable &= entry.Writable;
            if (entry.IsLeaf(level))
            {
                var size = (PageSize)level;
                return new StageWalk
                {
                    Output = entry.Address(level, _profile.HostAddressWidth) | (input & size.OffsetMask()),
                    Size = size,
                    Rights = SecondStageRights(readable, writable) | AccessRights.User,
                    LeafAddress = entryAddress,
                    UpperRights = upperRights,
                };
            }
            table = entry.Address(level, _profile.HostAddressWidth);
            if (level == 2)
            {
                structures?.Fill(firstStage: false, domainId, identity, 0, input, table,
                    SecondStageRights(readable, writable), state.Stamps.PagingStructures);
            }
        }
        throw new InvalidOperationException("Unreachable: level 1 is always a leaf.");
    }

    /// <summary>What second-stage R and W flags (ANDed over levels) grant.</summary>
    private static AccessRights SecondStageRights(bool readable, bool writable) =>
        (readable ? AccessRights.Read : 0) | (writable ? AccessRights.Write : 0);
}
