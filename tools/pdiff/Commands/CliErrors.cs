using PDiff.Data;

namespace PDiff.Cli.Commands;

/// <summary>
/// A job that fails on the user's input (a missing or unreadable file, a checkpoint that does not fit the
/// network, an unknown architecture in a zoo) ends with one line on stderr and exit code 1, no stack trace:
/// the library's messages already name the file and the fix. Anything else is a bug and keeps its trace.
/// </summary>
internal static class CliErrors
{
    public static bool IsUserError(Exception e) =>
        e is IOException or InvalidDataException or KeyNotFoundException or ArgumentException or InvalidOperationException
            or UnauthorizedAccessException or DatasetException;

    public static int Report(string command, Exception e)
    {
        Console.Error.WriteLine($"pdiff {command}: {e.Message}");
        return ExitCodes.Failed;
    }
}
