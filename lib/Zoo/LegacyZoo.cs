using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Storage;

namespace PDiff.Zoo;

/// <summary>
/// Zoo folders written before folders carried a marker (<see cref="OwnedFolder"/>): which of their files are ours.
/// <para>
/// The rule: a folder is an older zoo of ours only when its <c>manifest.json</c> is a valid pdiff-zoo manifest, and
/// we adopt only files that the manifest lists <i>and</i> that are recognisably ours: the SHA-256 the manifest
/// records matches, or, where it records none, the file carries our signature (a safetensors checkpoint whose
/// metadata names the manifest's task, a base model whose metadata holds our model spec, a base training manifest
/// of format pdiff-base). Anything else at those names — a user's file put there later, a TorchScript file
/// without a hash — stays theirs and is never replaced or deleted.
/// </para>
/// </summary>
public static class LegacyZoo
{
    /// <summary>The files of an older zoo in <paramref name="dir"/> we may take as ours (relative paths), or null when it is none.</summary>
    public static IEnumerable<string>? OwnedFiles(string dir)
    {
        ZooManifest m;
        try { m = ZooTask.Open(dir).Manifest; }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return null;
        }
        var owned = new List<string> { "manifest.json" };
        if (Recognised(dir, m.BaseModel, m.BaseSha256, meta => meta.ContainsKey("pdiff.model"))) owned.Add(m.BaseModel);
        if (m.Model.Source is { } src && !Path.IsPathRooted(src) && m.SourceSha256 is not null && Recognised(dir, src, m.SourceSha256, null)) owned.Add(src);
        foreach (var c in m.Checkpoints)
            if (Recognised(dir, c.File, c.Sha256, meta => meta.TryGetValue("pdiff.task", out var t) && t == m.Task)) owned.Add(c.File);
        if (m.Scores is { } sc && Recognised(dir, sc, m.ScoresSha256, null)) owned.Add(sc);
        if (m.BaseManifest is { } b && IsBaseManifest(Path.Combine(dir, b))) owned.Add(b);
        return owned.Distinct();
    }

    /// <summary>
    /// Whether the zoo file <paramref name="relative"/> is the one the manifest describes: its hash when recorded,
    /// else its safetensors metadata passes <paramref name="signature"/> (no signature: not recognisable).
    /// </summary>
    static bool Recognised(string dir, string relative, string? sha256, Func<IReadOnlyDictionary<string, string>, bool>? signature)
    {
        try
        {
            var path = OwnedFolder.Confine(dir, relative, "an older zoo manifest");
            if (!File.Exists(path)) return false;
            if (sha256 is not null) return string.Equals(AtomicFile.Sha256(path), sha256, StringComparison.OrdinalIgnoreCase);
            return signature is not null && signature(Safetensors.ReadHeader(path).Metadata);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    static bool IsBaseManifest(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("format", out var f)
                && f.ValueKind == JsonValueKind.String && f.GetString() == "pdiff-base";
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
