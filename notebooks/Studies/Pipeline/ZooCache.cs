using PDiff.Data;
using PDiff.Models;
using PDiff.Storage;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>
/// The zoo cache: where zoos live (<c>data/cache/zoos/&lt;profile&gt;/</c> under the repository root, or
/// $PDIFF_ZOO_CACHE), and the rule that reuses a cached zoo only when it is what the task would build and intact,
/// else builds it (one process at a time), offering a sibling zoo's base model so that zoos of one dataset and
/// architecture train one base model.
/// </summary>
public static class ZooCache
{
    /// <summary>The repository root (the folder holding PDiff.Lib.csproj), or the current directory.</summary>
    public static string RepoRoot => DataPaths.FindRepoRoot() ?? Directory.GetCurrentDirectory();

    /// <summary>Where zoos are cached: $PDIFF_ZOO_CACHE, else data/cache/zoos/&lt;profile&gt;/.</summary>
    public static string Folder(Profile p) =>
        Environment.GetEnvironmentVariable("PDIFF_ZOO_CACHE") is { Length: > 0 } env
            ? Path.Combine(env, p.Name())
            : Path.Combine(RepoRoot, "data", "cache", "zoos", p.Name());

    /// <summary>Opens the task's cached zoo when its manifest matches, else builds it (base model + collection).</summary>
    public static ZooTask Ensure(TaskSpec task, Profile profile, TextWriter? log = null, string? dir = null, bool rebuild = false)
    {
        // Our own cache folder may be written even when an older, damaged zoo there has no marker (only our files
        // are ever overwritten or deleted); a folder the caller names must be empty or ours.
        var cache = dir is null;
        dir ??= Path.Combine(Folder(profile), task.ZooName(profile));
        var options = new ZooBuildOptions
        {
            Dataset = task.Dataset, Arch = task.Arch, Subset = task.Subset, Profile = profile, Recipe = task.Recipe,
            K = task.KFor(profile), Out = dir, Force = cache,
        };
        // Pipeline seed s ≠ 0: its own base model and collection (seeds shifted); the data split stays seed 0's.
        // Seed 0 leaves both unset, so its zoo is exactly the one of old (same folder, same manifest check).
        if (task.Seed != 0)
            options = options with
            {
                Train = ZooProfiles.Seeded(ZooProfiles.Train(profile, task.Arch), task.Seed),
                Collection = ZooProfiles.Seeded(ZooProfiles.Collection(profile, task.Recipe, task.Arch, task.KFor(profile)), task.Seed),
            };
        if (!rebuild && Reusable(dir, options, log) is { } cached) return cached;
        // One process builds a zoo; another that wants the same one waits for it (said in the log) and then reuses it.
        using var writer = ZooWriter.Begin(dir, options.Force, wait: true, log: log);
        if (!rebuild && Reusable(dir, options, null) is { } made)
        {
            log?.WriteLine($"[zoo] reusing {dir}, which another process built while this one waited");
            return made;
        }
        SeedBaseModel(task, writer, log);
        return ZooBuilder.Build(options, log);
    }

    /// <summary>The zoo in <paramref name="dir"/> when it is what <paramref name="options"/> would build and intact, else null (the log says why).</summary>
    static ZooTask? Reusable(string dir, ZooBuildOptions options, TextWriter? log)
    {
        if (!File.Exists(Path.Combine(dir, "manifest.json"))) return null;
        string? stale;
        try
        {
            stale = ZooBuilder.StaleReason(dir, options);
            if (stale is null)
            {
                var zoo = ZooTask.Open(dir);
                zoo.Verify();
                log?.WriteLine($"[zoo] reusing {dir} ({zoo.Manifest.K} checkpoints, test mean {100 * zoo.Manifest.Test!.Mean:F2}%)");
                return zoo;
            }
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            stale = $"damaged: {e.Message}";
        }
        log?.WriteLine($"[zoo] cached zoo in {dir} was made with other settings or is damaged ({stale}): rebuilding");
        return null;
    }

    /// <summary>
    /// Zoos of one dataset and architecture (other subsets, other K) share their base model: copy a sibling's
    /// into the new folder, and the builder reuses it when architecture, split and training recipe match
    /// (it checks, and trains anew otherwise), so an ablation over subsets trains one base model, not one each.
    /// </summary>
    static void SeedBaseModel(TaskSpec task, ZooWriter writer, TextWriter? log)
    {
        var dir = writer.Directory;
        if (ZooTask.TryOpen(dir)?.BaseFolder is { } own && File.Exists(Path.Combine(own, "base.json")) || File.Exists(Path.Combine(writer.Staging, "base.json"))) return;
        var root = Path.GetDirectoryName(Path.GetFullPath(dir))!;
        if (!Directory.Exists(root)) return;
        var prefix = ZooStore.TaskName(task.Dataset, task.Arch, "");
        foreach (var sibling in Directory.GetDirectories(root, prefix + "*").OrderBy(d => d, StringComparer.Ordinal))
        {
            // Only a sibling of the same pipeline seed trained the same base model.
            if (SeedOfZooName(Path.GetFileName(sibling)) != task.Seed) continue;
            if (Path.GetFullPath(sibling) == Path.GetFullPath(dir)) continue;
            // Its base lives in its revision folder (beside its manifest in a zoo from before revisions).
            var baseDir = ZooTask.TryOpen(sibling)?.BaseFolder ?? sibling;
            var manifest = Path.Combine(baseDir, "base.json");
            if (!File.Exists(manifest)) continue;
            var weights = BaseModels.ReadManifest(baseDir).WeightsFile;
            if (!File.Exists(Path.Combine(baseDir, weights))) continue;
            // Staged, as a killed build's base would be: the zoo in `dir` (if any) stays as it is until the build commits.
            AtomicFile.Copy(Path.Combine(baseDir, weights), writer.Staged(weights));
            AtomicFile.Copy(manifest, writer.Staged("base.json"));
            log?.WriteLine($"[zoo] offering the base model of {sibling} for reuse");
            return;
        }
    }

    /// <summary>The pipeline seed a zoo folder name carries (<see cref="TaskSpec.SeedSuffix"/>): 0 without a suffix.</summary>
    public static int SeedOfZooName(string name)
    {
        var i = name.LastIndexOf("_seed", StringComparison.Ordinal);
        return i >= 0 && int.TryParse(name.AsSpan(i + 5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 0;
    }
}
