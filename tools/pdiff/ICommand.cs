namespace PDiff.Cli;

/// <summary>
/// One `pdiff &lt;name&gt; ...` subcommand. Implementations are discovered by reflection (any public,
/// non-abstract class with a parameterless constructor), so a new subcommand is one new file under
/// Commands/ and touches nothing else.
/// </summary>
/// <remarks>
/// The contract every command keeps (Program enforces the last three): check every name, number and path
/// of the command line before any work starts and throw <see cref="UsageException"/> for a bad one (exit 2);
/// throw anything else once the work has started (exit 1, one line naming the file and the fix). `--help`/`-h`
/// and `--verbose` never reach <see cref="Run"/>: Program answers the first and strips the second.
/// </remarks>
public interface ICommand
{
    /// <summary>The word after `pdiff`, e.g. "notebook".</summary>
    string Name { get; }

    /// <summary>One line for the command list.</summary>
    string Summary { get; }

    /// <summary>Full usage text, printed for `pdiff &lt;name&gt; --help`.</summary>
    string Usage { get; }

    /// <summary>The words that may follow the name (`zoo build`, `notebook run`); empty when there are none.</summary>
    IReadOnlyList<string> Subcommands => Array.Empty<string>();

    /// <summary>
    /// Usage of one subcommand, printed for `pdiff &lt;name&gt; &lt;sub&gt; --help`. The default cuts the
    /// subcommand's paragraph (from its `pdiff name sub` line to the next `pdiff` line) out of <see cref="Usage"/>.
    /// </summary>
    string UsageOf(string subcommand) => UsageText.Section(Usage, $"pdiff {Name} {subcommand}");

    /// <summary>Runs with the arguments after the name; returns the process exit code
    /// (0 ok, 1 the work failed, 2 bad arguments — see <see cref="ExitCodes"/>).</summary>
    int Run(string[] args);
}

public static class ExitCodes
{
    public const int Ok = 0, Failed = 1, Usage = 2;
}

/// <summary>Thrown for bad command-line arguments (found before any work starts): exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Thrown when the job cannot be done (an input file missing or unreadable): exit code 1, the message as the one line.</summary>
public sealed class JobFailedException(string message, Exception? inner = null) : Exception(message, inner);

public static class UsageText
{
    /// <summary>
    /// The paragraph of <paramref name="usage"/> whose first line starts with <paramref name="prefix"/> (after
    /// indentation), up to the next line of the same indentation starting with "pdiff "; the whole text when
    /// there is no such line.
    /// </summary>
    public static string Section(string usage, string prefix)
    {
        var lines = usage.Replace("\r\n", "\n").Split('\n');
        var start = Array.FindIndex(lines, l => l.TrimStart().StartsWith(prefix + " ", StringComparison.Ordinal) || l.Trim() == prefix);
        if (start < 0) return usage;
        var indent = lines[start].Length - lines[start].TrimStart().Length;
        var end = start + 1;
        while (end < lines.Length)
        {
            var l = lines[end];
            var ind = l.Length - l.TrimStart().Length;
            if (ind == indent && l.TrimStart().StartsWith("pdiff ", StringComparison.Ordinal)) break;
            end++;
        }
        return "usage:\n" + string.Join("\n", lines[start..end]).TrimEnd() + "\n";
    }
}
