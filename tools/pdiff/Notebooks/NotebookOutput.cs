using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PDiff.Storage;

namespace PDiff.Notebooks;

/// <summary>
/// Which files the notebook commands may write. A notebook that pdiff writes to a file of its own (`notebook new`,
/// `run --output`, `clear --output`) carries <c>"pdiff": {"written_by": ...}</c> in its notebook metadata; an
/// existing file is replaced only when it carries that entry. Anything else there — a user's notebook, a cell
/// script, a file that is no notebook, a symbolic link — is someone else's and is refused before any work,
/// naming it (<see cref="ForeignFileException"/>). Updating the input notebook in place (`run` and `clear`
/// without --output, or with an --output that is the input itself) is the documented exception: the user named
/// that notebook to be updated, and it is written through its links, not over them.
/// <para>Nothing here calls into PDiff.Lib unless it refuses (see <see cref="RealPath"/>).</para>
/// </summary>
public static class NotebookOutput
{
    /// <summary>The notebook-metadata key that says pdiff wrote the file.</summary>
    public const string MetadataKey = "pdiff";

    /// <summary>Marks <paramref name="nb"/> as written by pdiff (<paramref name="writer"/>, e.g. "pdiff notebook new").</summary>
    public static void Mark(NotebookDocument nb, string writer)
    {
        if (nb.Root["metadata"] is not JsonObject meta) nb.Root["metadata"] = meta = new JsonObject();
        meta[MetadataKey] = new JsonObject { ["written_by"] = writer };
    }

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> name one file (the same full path once every link on the way is resolved).</summary>
    public static bool SameFile(string a, string b) => string.Equals(RealPath(a), RealPath(b), StringComparison.Ordinal);

    /// <summary>
    /// The full path with every symbolic link on the way resolved. The same walk as PDiff.Lib's OwnedFolder.Confine, kept
    /// here because a notebook run must not touch PDiff.Lib before its kernel starts: the library's module
    /// initializer registers the chart and table formatters only when it first runs inside a kernel.
    /// </summary>
    public static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var current = Path.GetPathRoot(full)!;
        foreach (var part in full.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.Exists && info.LinkTarget is not null)
                current = Path.GetFullPath(info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? current);
        }
        return current;
    }

    /// <summary>
    /// Throws <see cref="ForeignFileException"/> unless <paramref name="output"/> (given as <paramref name="flag"/>)
    /// is free or a notebook pdiff wrote; <paramref name="input"/>, when given, is never an output of its own.
    /// </summary>
    public static void CheckReplaceable(string flag, string output, string? input = null)
    {
        var full = Path.GetFullPath(output);
        if (input is not null && SameFile(full, input))
            throw Refusal(full, $"{flag} {full} is the input itself, which pdiff does not write over; give another output file.");
        var info = new FileInfo(full);
        if (!info.Exists && info.LinkTarget is null) return;
        if (info.LinkTarget is not null || !WrittenByPdiff(full))
            throw Refusal(full, $"{flag} {full} exists and was not written by pdiff (it is no notebook with a \"{MetadataKey}\" " +
                "entry in its metadata), so it is never replaced: give a new file name, or move yours.");
    }

    /// <summary>The refusal, built apart so that compiling the checks does not load PDiff.Lib (see <see cref="RealPath"/>).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static Exception Refusal(string path, string message) => new ForeignFileException(path, message);

    /// <summary>Whether the file at <paramref name="path"/> is a notebook that carries pdiff's metadata entry.</summary>
    public static bool WrittenByPdiff(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path, Encoding.UTF8));
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("metadata", out var meta) && meta.ValueKind == JsonValueKind.Object
                && meta.TryGetProperty(MetadataKey, out var mark) && mark.ValueKind == JsonValueKind.Object
                && mark.TryGetProperty("written_by", out var by) && by.ValueKind == JsonValueKind.String;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or DecoderFallbackException)
        {
            return false;
        }
    }
}
