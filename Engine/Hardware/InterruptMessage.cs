namespace VtdEngine.Hardware;

/// <summary>Which event register set produced an interrupt message.</summary>
public enum InterruptSource : byte
{
    /// <summary>Fault event (FECTL/FEDATA/FEADDR/FEUADDR): a primary fault, PFO or an invalidation queue error.</summary>
    FaultEvent = 0,

    /// <summary>Invalidation completion event (IECTL/IEDATA/IEADDR/IEUADDR): a wait descriptor with IF=1.</summary>
    InvalidationCompletion = 1,
}

/// <summary>
/// An MSI the remapping unit sends to the platform (VT-d §5.1.6): the embedder writes <see cref="Data"/> to
/// <see cref="Address"/> on its interrupt fabric.
/// </summary>
/// <param name="Source">The event that raised it.</param>
/// <param name="Address">Message address: the upper-address register in bits 63:32, the address register in 31:0.</param>
/// <param name="Data">Message data from the data register.</param>
public readonly record struct InterruptMessage(InterruptSource Source, ulong Address, uint Data);
