using System.Text.Json;
using System.Text.RegularExpressions;
using PDiff.Data;
using PDiff.Storage;

namespace PDiff.Cli.Commands;

/// <summary>
/// Which failures are the user's (a missing or unreadable file, a checkpoint that does not fit the network,
/// an unknown architecture in a zoo): Program prints their message as the one line of a failed job (exit 1),
/// since the library's messages already name the file and the fix. Anything else is reported as an
/// internal error (still exit 1, still one line; the stack trace with --verbose). A failed allocation is
/// reported as "out of memory while …" with what to reduce.
/// </summary>
internal static class CliErrors
{
    /// <summary>
    /// A place to write that pdiff may not use (a folder of someone else's files, a file of someone else's where
    /// pdiff would write one, a folder another process is writing): refused before any work, so a usage problem
    /// (exit 2, one line): choose another folder or file, move yours, or wait for the other process.
    /// </summary>
    public static bool IsRefusedPlace(Exception e) =>
        e is PDiff.Storage.ForeignFolderException or PDiff.Storage.FolderInUseException;   // ForeignFileException is a ForeignFolderException

    public static bool IsUserError(Exception e) =>
        e is JobFailedException or IOException or InvalidDataException or KeyNotFoundException or ArgumentException
            or InvalidOperationException or UnauthorizedAccessException or DatasetException or JsonException
            or FormatException or NotSupportedException or TimeoutException;

    // libtorch's first line starts with where in its C++ sources the check failed: "[enforce fail at alloc_cpu.cpp:127] err == 0. ".
    static readonly Regex SourcePosition = new(@"^\[enforce fail at [^\]]*\]\s*(?:[^.]*==[^.]*\.\s*)?", RegexOptions.CultureInvariant);

    /// <summary>
    /// The first meaningful line of <paramref name="message"/> and whether anything followed it. TorchSharp's exceptions
    /// carry libtorch's message, whose first line says what failed, followed by "Exception raised from …" and a
    /// backtrace ("frame #0: …"); libtorch's source position in front of the first line is dropped too.
    /// </summary>
    public static (string Line, bool More) FirstLine(string message)
    {
        var lines = message.Replace("\r\n", "\n").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0) return ("", false);
        var first = SourcePosition.Replace(lines[0], "");
        return (first.Length > 0 ? first : lines[0], lines.Count > 1);
    }

    /// <summary>
    /// An allocation that failed: .NET's own (<see cref="OutOfMemoryException"/>, <see cref="InsufficientMemoryException"/>)
    /// or libtorch's, which TorchSharp raises as an ExternalException whose message names the allocator.
    /// </summary>
    public static bool IsOutOfMemory(Exception e) =>
        e is OutOfMemoryException or InsufficientMemoryException
        || e.Message.Contains("can't allocate memory", StringComparison.Ordinal)
        || e.Message.Contains("std::bad_alloc", StringComparison.Ordinal)
        || e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) && e is System.Runtime.InteropServices.ExternalException;

    /// <summary>What the command was doing, for "out of memory while …".</summary>
    public static string Stage(string where) => where switch
    {
        "pdiff zoo build" => "building the zoo (training the base model, collecting and scoring its checkpoints)",
        "pdiff zoo import" => "importing the checkpoints",
        "pdiff zoo align" => "aligning the zoo",
        "pdiff zoo subsets" => "building the network",
        "pdiff run" => "running p-diff (zoo, training, generation, evaluation)",
        "pdiff notebook run" => "running the notebook",
        _ => "working",
    };

    /// <summary>The sizes to reduce after a failed allocation, by command, and the memory available now.</summary>
    public static string OutOfMemoryFix(string where)
    {
        var sizes = where switch
        {
            "pdiff zoo build" => "--k, --width or --depth",
            "pdiff zoo import" or "pdiff zoo subsets" => "--width, --hidden, --dim, --mlp-dim, --depth or --classes",
            "pdiff run" => "--k, --generate, --ae-batch, --diff-batch or --validate-models",
            "pdiff notebook run" => "the sizes among the notebook's --param values",
            _ => "the sizes given",
        };
        return $"reduce {sizes}, or free memory ({MachineBudget.FormatBytes(MachineBudget.AvailableMemoryBytes())} available now).";
    }
}
