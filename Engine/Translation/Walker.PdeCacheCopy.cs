using VtdEngine.Iotlb;
using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>The walker's side of a first-level TLB's PDE-cache copies: making one, and walking from one.</summary>
internal sealed partial class Walker
{
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
                flags, state.TagPasid, state.Stamps.Iotlb, _sparseMemory?.AllocatedFrame(leafAddress >> 12));
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
    internal bool TryTranslateBelowPde(in DmaRequest request, in PdeCacheCopy pde, ref EngineCounters.Block counters,
        out TranslationResult result)
    {
        result = default;
        var address = request.Address;
        if (!request.HasPasid && InInterruptRange(address))
        {
            return false;
        }
        var frame = pde.TableFrame is { } table ? table : _memory.GetFrame(pde.Table >> 12);
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
        FillIotlb(ref counters, request, pde.TagPasid, cached, pde.IotlbStamp);
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
        rights = FirstStageRights(writable, user);
        frame = leaf.Address(1, _profile.HostAddressWidth);
        var privileged = request.HasPasid ? request.Privileged : (pde.Flags & CachedRights.PrivilegedWithoutPasid) != 0;
        return leaf.Present && !leaf.HasReservedBits(1, _profile)
            && FirstStagePermission(user, writable, privileged, NeedsWrite(request.Access),
                (pde.Flags & CachedRights.WriteProtect) != 0) == FaultReason.None;
    }

    /// <summary>A second-stage leaf that is present, reserved-clean and grants the access (VT-d §3.7.1), with its rights and frame.</summary>
    private bool PlainSecondStageLeaf(SecondStageEntry leaf, in PdeCacheCopy pde, AccessKind access, out AccessRights rights,
        out ulong frame)
    {
        rights = (pde.UpperRights & SecondStageRights(leaf.Readable, leaf.Writable))
            | AccessRights.User;
        frame = leaf.Address(1, _profile.HostAddressWidth);
        return leaf.Present && !leaf.HasReservedBits(1, _profile)
            && SecondStagePermission(rights, access, FaultReason.SgnNoRead, FaultReason.SgnNoWrite) == FaultReason.None;
    }
}
