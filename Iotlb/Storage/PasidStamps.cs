using System.Runtime.InteropServices;

namespace VtdEngine.Iotlb.Storage;

/// <summary>Invalidation stamps of one hashed (DID, PASID) slot; collisions only over-invalidate.</summary>
[StructLayout(LayoutKind.Sequential, Size = 8)]
internal struct PasidStamps
{
    /// <summary>PASID-selective P_IOTLB invalidation: every entry with the DID and tag PASID.</summary>
    internal uint All;

    /// <summary>Page-selective P_IOTLB invalidation: every large first-stage or nested entry with the DID and tag PASID.</summary>
    internal uint LargeFirstStage;
}
