using System.Text;

namespace VtdEngine;

/// <summary>One structure the walker read (or a check it made), decoded for a person.</summary>
/// <param name="Structure">The spec's name for the structure, e.g. "SM context entry" or "FS PML4E".</param>
/// <param name="Address">Physical address the entry was read from.</param>
/// <param name="Raw">The raw qwords read (low qword first).</param>
/// <param name="Decoded">The fields that mattered, as "name=value" pairs.</param>
public sealed record WalkStep(string Structure, ulong Address, IReadOnlyList<ulong> Raw, string Decoded);

/// <summary>
/// The decoded steps of one translation, for diagnostics. Produced by <see cref="TranslationUnit.Trace"/>, which
/// walks the tables without any cache; never on the translate hot path.
/// </summary>
public sealed class WalkTrace
{
    private readonly List<WalkStep> _steps = [];

    internal WalkTrace(DmaRequest request) => Request = request;

    /// <summary>The traced request.</summary>
    public DmaRequest Request { get; }

    /// <summary>Steps in walk order.</summary>
    public IReadOnlyList<WalkStep> Steps => _steps;

    /// <summary>The translation's outcome.</summary>
    public TranslationResult Result { get; internal set; }

    internal void Add(string structure, ulong address, ReadOnlySpan<ulong> raw, string decoded) =>
        _steps.Add(new WalkStep(structure, address, raw.ToArray(), decoded));

    /// <summary>A multi-line, human-readable rendering.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine(Request.ToString());
        foreach (var step in _steps)
        {
            text.Append("  ").Append(step.Structure.PadRight(22)).Append(" @0x").Append(step.Address.ToString("x"));
            text.Append(" [").Append(string.Join(' ', step.Raw.Select(q => q.ToString("x16")))).Append("] ");
            text.AppendLine(step.Decoded);
        }
        text.Append("  => ").Append(Result.ToString());
        return text.ToString();
    }
}
