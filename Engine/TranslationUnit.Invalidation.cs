namespace VtdEngine;

public sealed partial class TranslationUnit
{
    /// <summary>Raised after every executed invalidation, in execution order (for observers such as the ownership
    /// model's tests, statistics and simulators). Handlers run on the invalidating thread.</summary>
    public event Action<InvalidationRequest>? Invalidated;

    /// <summary>
    /// The device side of device-TLB invalidations (VT-d §6.5.2.5): receives dev_tlb and p_dev_tlb requests so an
    /// embedder's ATS device model can drop its cached translations.
    /// </summary>
    public Action<InvalidationRequest>? DeviceTlbInvalidationHandler { get; set; }

    /// <summary>
    /// Performs an invalidation with the spec's semantics. Returns only after every cached translation in scope is
    /// gone: no translation that starts after this call returns can use them.
    /// </summary>
    /// <exception cref="ArgumentException">The request is malformed for this unit (see <see cref="InvalidationRequest.Validate"/>).</exception>
    public void Invalidate(in InvalidationRequest request)
    {
        var error = request.Validate(Profile, Mode == RootTableMode.Scalable);
        if (error is not null)
        {
            throw new ArgumentException(error, nameof(request));
        }
        Execute(request);
    }

    /// <summary>Executes a request already validated (the queued-invalidation path validates with its own error codes).</summary>
    internal void Execute(in InvalidationRequest request)
    {
        ApplyToCaches(request);
        _counters.Current.Invalidations++;
        if (request.Kind is InvalidationKind.DeviceTlb or InvalidationKind.PasidDeviceTlb)
        {
            DeviceTlbInvalidationHandler?.Invoke(request);
        }
        Invalidated?.Invoke(request);
    }

    /// <summary>Drops every cached translation and structure (SRTP with ESRTPS, TE changes).</summary>
    public void FlushAllCaches() => ApplyToCaches(InvalidationRequest.IotlbGlobal(), everything: true);

    private void ApplyToCaches(in InvalidationRequest request, bool everything = false)
    {
        if (everything)
        {
            _caches.InvalidateAll();
            return;
        }
        var contexts = _caches.ContextStamps;
        var pasids = _caches.PasidStamps;
        switch (request.Kind)
        {
            // VT-d §6.5.2.1: scalable mode performs a domain-selective context invalidation as global.
            case InvalidationKind.ContextCacheGlobal:
            case InvalidationKind.ContextCacheDomain when Mode == RootTableMode.Scalable:
                contexts.InvalidateAll();
                break;
            case InvalidationKind.ContextCacheDomain:
                contexts.InvalidateDomain(request.DomainId);
                break;
            case InvalidationKind.ContextCacheDevice:
                _caches.Contexts.InvalidateDevice(request.SourceId, request.FunctionMask, contexts.Tick());
                break;
            case InvalidationKind.PasidCacheGlobal:
                pasids.InvalidateAll();
                break;
            case InvalidationKind.PasidCacheDomain:
                pasids.InvalidateDomain(request.DomainId);
                break;
            case InvalidationKind.PasidCachePasid:
                pasids.InvalidatePasid(request.DomainId, request.Pasid);
                break;
            // The paging-structure caches go first: a walk that starts between the two steps must not reach a stale
            // level-1 table and fill the IOTLB with a stamp newer than the IOTLB's invalidation (and a port's
            // first-level TLB after the epoch the IOTLB's invalidation publishes).
            case InvalidationKind.IotlbGlobal:
                _caches.PagingStructures.InvalidateAll();
                _caches.Iotlb.InvalidateAll();
                break;
            case InvalidationKind.IotlbDomain:
                _caches.PagingStructures.InvalidateDomain(request.DomainId);
                _caches.Iotlb.InvalidateDomain(request.DomainId);
                break;
            case InvalidationKind.IotlbPage:
                _caches.PagingStructures.InvalidatePagesInDomain(request.DomainId, request.Address, request.AddressMask,
                    request.InvalidationHint);
                _caches.Iotlb.InvalidatePagesInDomain(request.DomainId, request.Address, request.AddressMask);
                break;
            case InvalidationKind.PasidIotlbPasid:
                _caches.PagingStructures.InvalidatePasid(request.DomainId, request.Pasid);
                _caches.Iotlb.InvalidatePasid(request.DomainId, request.Pasid);
                break;
            case InvalidationKind.PasidIotlbPage:
                _caches.PagingStructures.InvalidatePagesInPasid(request.DomainId, request.Pasid, request.Address,
                    request.AddressMask, request.InvalidationHint);
                _caches.Iotlb.InvalidatePagesInPasid(request.DomainId, request.Pasid, request.Address, request.AddressMask);
                break;
            default:
                break;
        }
        if (request.Kind is InvalidationKind.ContextCacheGlobal or InvalidationKind.ContextCacheDomain
            or InvalidationKind.ContextCacheDevice or InvalidationKind.PasidCacheGlobal or InvalidationKind.PasidCacheDomain
            or InvalidationKind.PasidCachePasid)
        {
            // First-level TLBs keep PDE-cache copies that carry context and PASID decisions, and drop them when the
            // epoch moves; the IOTLB kinds move it themselves.
            _caches.Iotlb.AdvanceEpoch();
        }
    }
}
