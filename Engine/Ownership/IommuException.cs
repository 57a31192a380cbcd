namespace VtdEngine.Ownership;

/// <summary>An ownership-model refusal: <see cref="Error"/> says which, <see cref="Errno"/> what Linux returns.</summary>
/// <remarks>Thrown only after validation and before any table, cache or reference count changes.</remarks>
public sealed class IommuException : Exception
{
    /// <summary>Creates a refusal of kind <paramref name="error"/>.</summary>
    public IommuException(IommuError error, string message)
        : base($"{message} ({error}, -{error.ToErrno()})") => Error = error;

    /// <summary>Creates a refusal with a generic message (for serializers and analyzers).</summary>
    public IommuException()
        : this(IommuError.IncompatibleDomain, "IOMMU operation refused")
    {
    }

    /// <summary>Creates a refusal with a message (for serializers and analyzers).</summary>
    public IommuException(string message)
        : this(IommuError.IncompatibleDomain, message)
    {
    }

    /// <summary>Creates a refusal with a message and inner exception (for serializers and analyzers).</summary>
    public IommuException(string message, Exception innerException)
        : base(message, innerException) => Error = IommuError.IncompatibleDomain;

    /// <summary>The refusal kind.</summary>
    public IommuError Error { get; }

    /// <summary>The errno Linux returns for this refusal.</summary>
    public Errno Errno => Error.ToErrno();
}
