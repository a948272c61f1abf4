using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Storage;

namespace PDiff.Studies;

/// <summary>
/// Results folders are claimed before any compute (<see cref="OwnedFolder"/>, kind "results") and tagged
/// with a fingerprint of what made them (task, profile, configuration, runs, evaluation). A rerun of the
/// same configuration rewrites its own files; another configuration never mixes its files into the folder:
/// it goes to a sibling folder named after its fingerprint (<c>&lt;dir&gt;-&lt;fingerprint&gt;</c>), and the log
/// says so. A non-empty folder that pdiff did not write is refused unless forced.
/// </summary>
public static class ResultsFolders
{
    public const string Kind = "results";

    /// <param name="planned">What the caller will write there (<see cref="OwnedFolder"/>'s planned names, e.g.
    /// <see cref="RunFiles"/>): a user's file at one of them is refused now, forced or not.</param>
    public static OwnedFolder Claim(string dir, string fingerprint, bool force = false, TextWriter? log = null, IEnumerable<string>? planned = null)
    {
        var plan = planned?.ToList();
        var folder = OwnedFolder.Claim(dir, Kind, force, Legacy, plan);
        if (folder.Tag is null || folder.Tag == fingerprint)
        {
            folder.SetTag(fingerprint);
            return folder;
        }
        folder.Dispose();
        var sibling = $"{Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))}-{fingerprint}";
        log?.WriteLine($"[results] {Path.GetFullPath(dir)} holds the results of another configuration; this one goes to {sibling}");
        var other = OwnedFolder.Claim(sibling, Kind, force, Legacy, plan);
        if (other.Tag is not null && other.Tag != fingerprint)
        {
            other.Dispose();
            throw new ForeignFolderException($"{sibling} holds the results of another configuration; choose another results folder.");
        }
        other.SetTag(fingerprint);
        return other;
    }

    /// <summary>The names <see cref="WriteRun"/> writes for the run folder <paramref name="dir"/> (its generated zoo a folder of its own).</summary>
    public static IEnumerable<string> RunFiles(string dir) =>
        EvaluationReport.FileNames.Append("pdiff_config.json").Append("losses.json").Select(f => $"{dir}/{f}").Append($"{dir}/generated_zoo/");

    /// <summary>The names a task's results folder takes for <paramref name="runs"/> runs (<see cref="TaskRunner.Run"/>).</summary>
    public static IEnumerable<string> TaskFiles(int runs) =>
        Enumerable.Range(0, Math.Max(runs, 0)).SelectMany(r => RunFiles($"run{r}")).Append("main_row.json").Append("zoo_manifest.json");

    /// <summary>
    /// Writes run <paramref name="run"/> of a results folder: <c>run&lt;i&gt;/</c> with the evaluation report, the
    /// configuration that ran (<c>pdiff_config.json</c>) and the loss histories (<c>losses.json</c>), each file
    /// listed in the folder's marker before it is written. Returns the run folder's relative name.
    /// </summary>
    public static string WriteRun(OwnedFolder folder, int run, EvaluationReport report, PDiffConfig config, object losses) =>
        WriteRun(folder, $"run{run}", report, config, losses);

    /// <summary>The same into the sub-folder <paramref name="dir"/> (e.g. one per sampler of a timed run).</summary>
    public static string WriteRun(OwnedFolder folder, string dir, EvaluationReport report, PDiffConfig config, object losses)
    {
        report.Write(folder.Sub(dir), folder);
        AtomicFile.WriteAllText(folder.Writable($"{dir}/pdiff_config.json"), ConfigText.ToJson(config));
        AtomicFile.WriteAllText(folder.Writable($"{dir}/losses.json"), JsonSerializer.Serialize(losses));
        return dir;
    }

    /// <summary>A short, stable fingerprint (12 hex digits) of whatever describes a configuration, as JSON.</summary>
    public static string Fingerprint(object description)
    {
        var json = JsonSerializer.Serialize(description, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..12].ToLowerInvariant();
    }

    /// <summary>
    /// A results folder written before folders carried a marker. The rule: it is ours only when it holds a
    /// <c>run.json</c> that is recognisably ours (a JSON object whose <c>tool</c> is one of ours, with its creation
    /// time, torch version and file list); we adopt only that run.json, the plain names it lists in its own folder
    /// that are not newer than it (it is written last), and the files we always wrote beside it when their content
    /// is ours (<c>pdiff_config.json</c> a p-diff configuration, <c>losses.json</c> our loss histories, at the top
    /// <c>main_row.json</c> a main-results row and <c>zoo_manifest.json</c> a pdiff-zoo manifest). A run.json of
    /// another tool is ignored; anything else stays the user's.
    /// </summary>
    static IEnumerable<string>? Legacy(string dir)
    {
        var runJsons = Directory.GetFiles(dir, "run.json", SearchOption.AllDirectories)
            .Where(p => !p.Contains(Path.DirectorySeparatorChar + "generated_zoo" + Path.DirectorySeparatorChar)).ToList();
        var owned = new List<string>();
        foreach (var rj in runJsons)
        {
            if (ListedFiles(rj) is not { } listed) continue;
            var folder = Path.GetDirectoryName(rj)!;
            var sub = Path.GetRelativePath(dir, folder);
            string Rel(string name) => sub == "." ? name : $"{sub.Replace('\\', '/')}/{name}";
            var written = File.GetLastWriteTimeUtc(rj).AddSeconds(2);   // coarse file-system clocks
            owned.Add(Rel("run.json"));
            owned.AddRange(listed.Where(f => File.Exists(Path.Combine(folder, f)) && File.GetLastWriteTimeUtc(Path.Combine(folder, f)) <= written).Select(Rel));
            if (Parses(Path.Combine(folder, "pdiff_config.json"), json => ConfigText.FromJson(json) is not null)) owned.Add(Rel("pdiff_config.json"));
            if (Parses(Path.Combine(folder, "losses.json"), json => HasProperties(json, "ae", "diffusion"))) owned.Add(Rel("losses.json"));
        }
        if (owned.Count == 0) return null;
        if (Parses(Path.Combine(dir, "main_row.json"), json => HasProperties(json, "task", "paper_cell", "original_best_on_test"))) owned.Add("main_row.json");
        if (Parses(Path.Combine(dir, "zoo_manifest.json"), json => HasString(json, "format", "pdiff-zoo"))) owned.Add("zoo_manifest.json");
        return owned.Distinct();
    }

    /// <summary>The plain file names a run.json of ours lists; null when the file is not one of ours.</summary>
    static IReadOnlyList<string>? ListedFiles(string runJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(runJson));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !HasString(root, "tool", null) || !root.GetProperty("tool").GetString()!.StartsWith("PDiff.", StringComparison.Ordinal)
                || !root.TryGetProperty("created_utc", out _) || !root.TryGetProperty("torch_version", out _)
                || !root.TryGetProperty("files", out var files) || files.ValueKind != JsonValueKind.Array)
                return null;
            return files.EnumerateArray().Where(f => f.ValueKind == JsonValueKind.String).Select(f => f.GetString()!)
                .Where(f => f.Length > 0 && f.IndexOfAny(new[] { '/', '\\' }) < 0 && f is not "." and not "..").ToList();
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    static bool Parses(string path, Func<string, bool> ours)
    {
        // Whatever a reader makes of a file that is not ours (bad JSON, a wrong shape, no access), it is not ours.
        try { return File.Exists(path) && ours(File.ReadAllText(path)); }
        catch (Exception) { return false; }
    }

    static bool HasProperties(string json, params string[] names)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.ValueKind == JsonValueKind.Object && names.All(n => doc.RootElement.TryGetProperty(n, out _));
    }

    static bool HasString(string json, string name, string value)
    {
        using var doc = JsonDocument.Parse(json);
        return HasString(doc.RootElement, name, value);
    }

    static bool HasString(JsonElement e, string name, string? value) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && (value is null || v.GetString() == value);
}
