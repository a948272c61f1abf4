using System.Text.Json;
using PDiff.Data;

namespace PDiff.Cli.Commands;

/// <summary>
/// Which failures are the user's (a missing or unreadable file, a checkpoint that does not fit the network,
/// an unknown architecture in a zoo): Program prints their message as the one line of a failed job (exit 1),
/// since the library's messages already name the file and the fix. Anything else is reported as an
/// internal error (still exit 1, still one line; the stack trace with --verbose).
/// </summary>
internal static class CliErrors
{
    /// <summary>
    /// A place to write that pdiff may not use (a folder of someone else's files, a file of someone else's where
    /// pdiff would write one): refused before any work, so a usage problem (exit 2, one line): choose another
    /// folder or file, or move yours.
    /// </summary>
    public static bool IsRefusedPlace(Exception e) => e is PDiff.Storage.ForeignFolderException;

    public static bool IsUserError(Exception e) =>
        e is JobFailedException or IOException or InvalidDataException or KeyNotFoundException or ArgumentException
            or InvalidOperationException or UnauthorizedAccessException or DatasetException or JsonException
            or FormatException or NotSupportedException or TimeoutException;
}
