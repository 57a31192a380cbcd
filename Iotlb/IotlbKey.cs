namespace VtdEngine.Iotlb;

/// <summary>A requester's lookup key — (source-id, PASID or none) with its hash — prepared once per requester.</summary>
public readonly struct IotlbKey
{
    /// <summary>Prepares the key of <paramref name="sourceId"/> and <paramref name="pasid"/> (0xFFFFFFFF: no PASID).</summary>
    public IotlbKey(ushort sourceId, uint pasid)
    {
        SourceId = sourceId;
        PasidKey = IoTlb.PasidKey(pasid);
        Hash = IoTlb.KeyHash(sourceId, PasidKey);
    }

    /// <summary>Requester id.</summary>
    public ushort SourceId { get; }

    internal uint PasidKey { get; }

    internal ulong Hash { get; }
}
