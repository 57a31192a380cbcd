namespace VtdEngine.Ownership;

/// <summary>The in-memory format of an I/O page table.</summary>
public enum PageTableFormat : byte
{
    /// <summary>First stage (Intel-64 format, PGTT=001; Linux <c>fspt</c>): canonical lower half only.</summary>
    FirstStage,

    /// <summary>Second stage (VT-d EPT-like format, PGTT=010; Linux <c>sspt</c>): aperture 2^AGAW.</summary>
    SecondStage,
}
