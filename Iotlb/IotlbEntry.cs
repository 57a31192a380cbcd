using VtdEngine.Tables;

namespace VtdEngine.Iotlb;

/// <summary>The outputs of one cached translation: what a fill stores and a hit returns.</summary>
/// <remarks>
/// A 2 MiB or 1 GiB translation is cached as a "fractured" entry tagged with the 4 KiB page that was touched
/// (the spec allows fractured IOTLB entries, which is why a large page is invalidated with AM 9 or 18); it still carries the large page's frame and size, so
/// <see cref="Translate"/> is right for any address inside the large page.
/// </remarks>
public readonly struct IotlbEntry : IEquatable<IotlbEntry>
{
    /// <summary>Bits 51:12: the host-physical address bits an entry can carry.</summary>
    internal const ulong FrameMask = 0x000F_FFFF_FFFF_F000UL;

    /// <summary>Creates an entry; <paramref name="pageFrame"/> is aligned down to <paramref name="size"/> and clipped to bits 51:12.</summary>
    /// <param name="pageFrame">Host-physical base of the page.</param>
    /// <param name="size">Size of the page the walk ended on.</param>
    /// <param name="rights">Rights and walk-avoidance bits.</param>
    /// <param name="domainId">The domain (DID) the translation belongs to.</param>
    /// <param name="type">How the translation was produced.</param>
    public IotlbEntry(ulong pageFrame, PageSize size, CachedRights rights, ushort domainId, CachedTranslationType type)
    {
        PageFrame = pageFrame & FrameMask & ~size.OffsetMask();
        Size = size;
        Rights = rights;
        DomainId = domainId;
        Type = type;
    }

    /// <summary>Host-physical base of the page, aligned to <see cref="Size"/>; bits 51:12 only.</summary>
    public ulong PageFrame { get; }

    /// <summary>Size of the translated page (the original size for a fractured entry).</summary>
    public PageSize Size { get; }

    /// <summary>Rights and walk-avoidance bits.</summary>
    public CachedRights Rights { get; }

    /// <summary>Domain identifier (DID) the entry is tagged with for invalidation.</summary>
    public ushort DomainId { get; }

    /// <summary>PGTT of the translation, or <see cref="CachedTranslationType.Legacy"/>.</summary>
    public CachedTranslationType Type { get; }

    /// <summary>Host-physical address for <paramref name="inputAddress"/>, which must lie in this entry's page.</summary>
    /// <param name="inputAddress">The request's input address (IOVA or guest address).</param>
    /// <returns>The page frame combined with the offset of the address within the page.</returns>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public ulong Translate(ulong inputAddress) => PageFrame | (inputAddress & Size.OffsetMask());

    /// <inheritdoc/>
    public bool Equals(IotlbEntry other) =>
        PageFrame == other.PageFrame && Size == other.Size && Rights == other.Rights
        && DomainId == other.DomainId && Type == other.Type;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is IotlbEntry other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(PageFrame, Size, Rights, DomainId, Type);

    /// <inheritdoc/>
    public override string ToString() => $"{PageFrame:X}/{Size} {Rights} DID={DomainId} {Type}";

    /// <summary>Compares two entries field by field.</summary>
    public static bool operator ==(IotlbEntry left, IotlbEntry right) => left.Equals(right);

    /// <summary>Compares two entries field by field.</summary>
    public static bool operator !=(IotlbEntry left, IotlbEntry right) => !left.Equals(right);
}
