using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Storage;

namespace PDiff.Experiments;

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

    public static OwnedFolder Claim(string dir, string fingerprint, bool force = false, TextWriter? log = null)
    {
        var folder = OwnedFolder.Claim(dir, Kind, force, Legacy);
        if (folder.Tag is null || folder.Tag == fingerprint)
        {
            folder.SetTag(fingerprint);
            return folder;
        }
        folder.Dispose();
        var sibling = $"{Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))}-{fingerprint}";
        log?.WriteLine($"[results] {Path.GetFullPath(dir)} holds the results of another configuration; this one goes to {sibling}");
        var other = OwnedFolder.Claim(sibling, Kind, force, Legacy);
        if (other.Tag is not null && other.Tag != fingerprint)
        {
            other.Dispose();
            throw new ForeignFolderException($"{sibling} holds the results of another configuration; choose another results folder.");
        }
        other.SetTag(fingerprint);
        return other;
    }

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
    /// A results folder written before folders carried a marker: ours when it holds our run folders
    /// (<c>run&lt;i&gt;/run.json</c>) or a setting's <c>run.json</c>; we own the files those list and the
    /// files we always write beside them, nothing else.
    /// </summary>
    static IEnumerable<string>? Legacy(string dir)
    {
        var runJsons = Directory.GetFiles(dir, "run.json", SearchOption.AllDirectories)
            .Where(p => !p.Contains(Path.DirectorySeparatorChar + "generated_zoo" + Path.DirectorySeparatorChar)).ToList();
        if (runJsons.Count == 0) return null;
        var owned = new List<string>();
        foreach (var rj in runJsons)
        {
            var sub = Path.GetRelativePath(dir, Path.GetDirectoryName(rj)!);
            string Rel(string name) => sub == "." ? name : Path.Combine(sub, name);
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(rj));
                if (!doc.RootElement.TryGetProperty("files", out var files) || files.ValueKind != JsonValueKind.Array) return null;
                owned.AddRange(files.EnumerateArray().Select(f => f.GetString()).OfType<string>().Where(f => !f.Contains('/') && !f.Contains('\\')).Select(Rel));
            }
            catch (JsonException) { return null; }
            owned.AddRange(new[] { "run.json", "pdiff_config.json", "losses.json" }.Select(Rel));
        }
        owned.AddRange(new[] { "main_row.json", "zoo_manifest.json" });
        return owned.Distinct().Where(f => File.Exists(Path.Combine(dir, f)));
    }
}
