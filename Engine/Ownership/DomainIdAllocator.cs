namespace VtdEngine.Ownership;

/// <summary>
/// A unit's domain-id space (Linux <c>iommu-&gt;domain_ids</c>), sized by CAP.ND. DID 0 is reserved (caching mode tags
/// invalid entries with it) and DID 1 is FLPT_DEFAULT_DID, used by identity and SVA entries.
/// </summary>
internal sealed class DomainIdAllocator
{
    /// <summary>FLPT_DEFAULT_DID.</summary>
    public const ushort DefaultDomainId = 1;

    private readonly bool[] _used;

    public DomainIdAllocator(int domainIdBits)
    {
        _used = new bool[1 << domainIdBits];
        _used[0] = true;
        _used[DefaultDomainId] = true;
        Available = _used.Length - 2;
    }

    public int Capacity => _used.Length;

    public int Available { get; private set; }

    public ushort Allocate()
    {
        for (var i = 2; i < _used.Length; i++)
        {
            if (!_used[i])
            {
                _used[i] = true;
                Available--;
                return (ushort)i;
            }
        }
        throw new InvalidOperationException("Domain ids exhausted; callers check Available first.");
    }

    public void Free(ushort id)
    {
        if (id < 2 || !_used[id])
        {
            throw new InvalidOperationException($"DID {id} is not allocated.");
        }
        _used[id] = false;
        Available++;
    }
}
