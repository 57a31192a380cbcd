using VtdEngine.Tables;

namespace VtdEngine;

/// <summary>What the remapping hardware did with a request.</summary>
public enum TranslationStatus : byte
{
    /// <summary>Translated; <see cref="TranslationResult.Address"/> is the host physical address.</summary>
    Success = 0,

    /// <summary>Blocked with a remapping fault; <see cref="TranslationResult.Fault"/> says which.</summary>
    Fault = 1,

    /// <summary>An untranslated write without PASID to 0xFEEx_xxxx: an interrupt message, not DMA (VT-d §3.14).</summary>
    Interrupt = 2,
}

/// <summary>Access rights a translation grants (the AND over every level, and over both stages when nested).</summary>
[Flags]
public enum AccessRights : byte
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>Read.</summary>
    Read = 1,

    /// <summary>Write.</summary>
    Write = 2,

    /// <summary>First-stage U/S: user-mode requests may use the translation.</summary>
    User = 4,
}

/// <summary>
/// The outcome of one translation: a host physical address or a fault, never an exception. Also carries what a
/// cycle-level simulator needs to charge for it: structure reads and flag writes (zero on an IOTLB hit).
/// </summary>
public readonly struct TranslationResult
{
    // Everything but the address in one word, so a result is 16 bytes and a cached hit writes it with two stores:
    // [63:56 flag writes][55:48 table reads][47:32 DID][31:24 rights][23:16 page size][15:8 fault][7 FPD][6:0 status].
    private const ulong FaultRecordingDisabledBit = 0x80;

    private readonly ulong _outcome;

    internal TranslationResult(ulong address, TranslationStatus status, FaultReason fault, PageSize pageSize,
        AccessRights rights, bool faultRecordingDisabled, ushort domainId, byte tableReads, byte flagWrites)
    {
        Address = address;
        _outcome = (ulong)status | (faultRecordingDisabled ? FaultRecordingDisabledBit : 0) | ((ulong)fault << 8)
            | ((ulong)pageSize << 16) | ((ulong)rights << 24) | ((ulong)domainId << 32) | ((ulong)tableReads << 48)
            | ((ulong)flagWrites << 56);
    }

    /// <summary>A result with <paramref name="outcome"/> (see <see cref="Outcome"/>) at another address.</summary>
    internal TranslationResult(ulong address, ulong outcome)
    {
        Address = address;
        _outcome = outcome;
    }

    /// <summary>Output host physical address (input address for <see cref="TranslationStatus.Interrupt"/>).</summary>
    public ulong Address { get; }

    /// <summary>Success, fault or interrupt.</summary>
    public TranslationStatus Status => (TranslationStatus)(_outcome & 0x7F);

    /// <summary>The fault reason, <see cref="FaultReason.None"/> unless <see cref="Status"/> is Fault.</summary>
    public FaultReason Fault => (FaultReason)(byte)(_outcome >> 8);

    /// <summary>Size of the page that translated the request.</summary>
    public PageSize PageSize => (PageSize)(byte)(_outcome >> 16);

    /// <summary>Rights the translation grants (for ATS completions and IOTLB fills).</summary>
    public AccessRights Rights => (AccessRights)(byte)(_outcome >> 24);

    /// <summary>An FPD bit on the path was set and the fault is qualified: hardware does not record it.</summary>
    public bool FaultRecordingDisabled => (_outcome & FaultRecordingDisabledBit) != 0;

    /// <summary>Domain-id of the translating entry (0 where none applies).</summary>
    public ushort DomainId => (ushort)(_outcome >> 32);

    /// <summary>Remapping-structure and paging-entry reads this translation cost.</summary>
    public byte TableReads => (byte)(_outcome >> 48);

    /// <summary>A/D/EA flag writes this translation performed.</summary>
    public byte FlagWrites => (byte)(_outcome >> 56);

    /// <summary>Everything but the address, packed: what a cached translation reuses for another address in its page.</summary>
    internal ulong Outcome => _outcome;

    /// <summary>Whether the request was translated.</summary>
    public bool IsSuccess => Status == TranslationStatus.Success;

    /// <summary>Whether hardware records this fault in an FRCD (a fault not suppressed by FPD).</summary>
    public bool IsRecordable => Status == TranslationStatus.Fault && !FaultRecordingDisabled;

    /// <inheritdoc />
    public override string ToString() => Status switch
    {
        TranslationStatus.Success => $"0x{Address:x} ({PageSize}, {Rights}, did {DomainId}, {TableReads} reads, {FlagWrites} writes)",
        TranslationStatus.Interrupt => $"interrupt 0x{Address:x}",
        _ => $"fault 0x{(byte)Fault:x2} {Fault}{(FaultRecordingDisabled ? " (FPD)" : "")} ({TableReads} reads)",
    };
}
