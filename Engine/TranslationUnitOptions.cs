namespace VtdEngine;

/// <summary>Implementation choices of a <see cref="TranslationUnit"/> that the VT-d capability registers do not describe.</summary>
public sealed record TranslationUnitOptions
{
    /// <summary>The defaults: a 32 Ki-entry IOTLB (1 MiB of entries at 32 bytes each).</summary>
    public static TranslationUnitOptions Default { get; } = new();

    /// <summary>IOTLB entries; rounded up to a power of two, at least 64.</summary>
    public int IotlbEntries { get; init; } = 32 * 1024;

    /// <summary>Paging-structure-cache entries (each covers a 2 MiB region of one address space); at least 64.</summary>
    public int PagingStructureEntries { get; init; } = 4 * 1024;
}
