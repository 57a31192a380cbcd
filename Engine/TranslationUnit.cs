using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>
/// One DMA-remapping hardware unit: an embedder creates it over a memory and a capability profile, points it at a
/// root table, enables translation and asks it to translate requests.
/// </summary>
public sealed partial class TranslationUnit
{
    /// <summary>Creates a unit with translation disabled and no root table.</summary>
    public TranslationUnit(IPhysicalMemory memory, CapabilityProfile? profile = null, TranslationUnitOptions? options = null)
    {
        Memory = memory ?? throw new ArgumentNullException(nameof(memory));
        Profile = (profile ?? CapabilityProfile.Default).Validate();
        Options = options ?? TranslationUnitOptions.Default;
        _caches = new TranslationCaches(Options.IotlbEntries, Options.PagingStructureEntries);
        _iotlb = _caches.Iotlb;
        _walker = new Walker(memory, Profile, _caches);
        _uncachedWalker = new Walker(memory, Profile, caches: null);
    }

    private readonly TranslationCaches _caches;

    // The hit path's one field load (the caches object stays off it).
    private readonly Iotlb.IoTlb _iotlb;
    private readonly EngineCounters _counters = new();
    private readonly Walker _walker;
    private readonly Walker _uncachedWalker;

    /// <summary>The memory holding the remapping structures and page tables.</summary>
    public IPhysicalMemory Memory { get; }

    /// <summary>What this unit supports.</summary>
    public CapabilityProfile Profile { get; }

    /// <summary>Implementation choices (IOTLB size).</summary>
    public TranslationUnitOptions Options { get; }
}
