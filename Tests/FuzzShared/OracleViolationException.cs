namespace VtdEngine.Fuzzing;

/// <summary>The engine disagreed with an oracle: a fuzzer reports it as a crash, a test as a failure.</summary>
public sealed class OracleViolationException : Exception
{
    /// <summary>Creates an exception with no message.</summary>
    public OracleViolationException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public OracleViolationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    public OracleViolationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
