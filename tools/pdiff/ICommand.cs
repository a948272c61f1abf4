namespace PDiff.Cli;

/// <summary>
/// One `pdiff &lt;name&gt; ...` subcommand. Implementations are discovered by reflection (any public,
/// non-abstract class with a parameterless constructor), so a new subcommand is one new file under
/// Commands/ and touches nothing else.
/// </summary>
public interface ICommand
{
    /// <summary>The word after `pdiff`, e.g. "notebook".</summary>
    string Name { get; }

    /// <summary>One line for the command list.</summary>
    string Summary { get; }

    /// <summary>Full usage text, printed for `pdiff &lt;name&gt; --help` and after a usage error.</summary>
    string Usage { get; }

    /// <summary>Runs with the arguments after the name; returns the process exit code
    /// (0 ok, 1 the work failed, 2 bad arguments — see <see cref="ExitCodes"/>).</summary>
    int Run(string[] args);
}

public static class ExitCodes
{
    public const int Ok = 0, Failed = 1, Usage = 2;
}

/// <summary>Thrown for bad command-line arguments; Program prints the message and the command's usage.</summary>
public sealed class UsageException(string message) : Exception(message);
