using System.Runtime.InteropServices;

namespace VtdEngine.Iotlb.Storage;

/// <summary>Invalidation stamps of one domain id; an entry filled before a stamp that applies to it is dead.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct DomainStamps
{
    /// <summary>Domain-selective invalidation: every entry of the DID.</summary>
    internal uint All;

    /// <summary>Page-selective-within-domain invalidation: every first-stage and nested entry of the DID (VT-d Table 23).</summary>
    internal uint FirstStage;

    /// <summary>
    /// Page-selective-within-domain invalidation: every large (2 MiB/1 GiB) legacy, second-stage or pass-through entry of
    /// the DID. A fractured large entry is tagged with one 4 KiB page that the range probe may not visit, so any page
    /// invalidation in the domain drops them all (over-invalidation is allowed; under-invalidation never is).
    /// </summary>
    internal uint LargeSecondStage;
}
