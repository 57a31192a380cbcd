namespace VtdEngine.Ownership;

public sealed partial class IommuDriver
{
    /// <summary>
    /// <c>iommu_device_claim_dma_owner</c>: a user (VFIO/iommufd) takes the group. The same owner may claim again
    /// (counted); a different one gets EPERM. A first claim needs the group on its default domain with no PASIDs
    /// attached (EBUSY) and moves the RID to the blocking domain.
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void ClaimDmaOwner(Device device, object owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        lock (SyncRoot)
        {
            var group = GroupOf(device);
            if (group.OwnerCount > 0)
            {
                if (!ReferenceEquals(group.Owner, owner))
                {
                    throw Refuse(IommuError.DifferentOwner, "The group is held by a different owner or a kernel driver.");
                }
                group.OwnerCount++;
                return;
            }
            if (group.Domain != group.DefaultDomain)
            {
                throw Refuse(IommuError.NotOnDefaultDomain, "The group is not on its default domain.");
            }
            if (group.PasidArray.Count != 0)
            {
                throw Refuse(IommuError.PasidsAttached, "Ownership cannot change while PASIDs are attached.");
            }
            SetGroupDomain(group, Blocked);
            group.Owner = owner;
            group.OwnerCount = 1;
        }
    }

    /// <summary>
    /// <c>iommu_device_release_dma_owner</c>: drops one claim; the last one returns the group to its default domain.
    /// Refused (EBUSY) while PASIDs are attached: Linux WARNs and keeps ownership, this model says so.
    /// </summary>
    /// <exception cref="IommuException">The refusal; ownership is kept.</exception>
    /// <exception cref="InvalidOperationException">The group has no owner.</exception>
    public void ReleaseDmaOwner(Device device)
    {
        lock (SyncRoot)
        {
            var group = GroupOf(device);
            if (group.Owner is null)
            {
                throw new InvalidOperationException("The group has no DMA owner.");
            }
            if (group.PasidArray.Count != 0)
            {
                throw Refuse(IommuError.PasidsAttached, "Detach every PASID before releasing DMA ownership.");
            }
            if (group.OwnerCount == 1)
            {
                SetGroupDomain(group, group.DefaultDomain);
                group.Owner = null;
            }
            group.OwnerCount--;
        }
    }

    /// <summary>
    /// <c>iommu_device_use_default_domain</c>: a kernel driver binds and uses the default domain. EBUSY when the group
    /// is in use and is owned, off its default domain, or has PASIDs attached.
    /// </summary>
    /// <exception cref="IommuException">The refusal; nothing changed.</exception>
    public void UseDefaultDomain(Device device)
    {
        lock (SyncRoot)
        {
            var group = GroupOf(device);
            if (group.OwnerCount > 0 && (group.Owner is not null || group.Domain != group.DefaultDomain || group.PasidArray.Count != 0))
            {
                throw Refuse(IommuError.NotOnDefaultDomain, "The group is owned, off its default domain, or has PASIDs attached.");
            }
            group.OwnerCount++;
        }
    }

    /// <summary><c>iommu_device_unuse_default_domain</c>: the kernel driver unbinds.</summary>
    public void UnuseDefaultDomain(Device device)
    {
        lock (SyncRoot)
        {
            var group = GroupOf(device);
            if (group.Owner is null && group.OwnerCount > 0)
            {
                group.OwnerCount--;
            }
        }
    }
}
