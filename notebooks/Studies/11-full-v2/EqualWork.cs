using System.Globalization;
using System.Text.Json;
using PDiff.Diffusion;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>One sampler's whole pipeline in an equal-work result: both sides' wall seconds and PyTorch ÷ PDiff.NET (null where a stage was missing).</summary>
public sealed record EqualWorkPipeline(string Sampler, double? PDiffSeconds, double? PyTorchSeconds, double? Ratio);

/// <summary>
/// What one bench/equal-work.sh run measured (its <c>equal-work.json</c>): the PyTorch reference's stage seconds and both
/// sides' whole pipelines, run back to back on the same task, budgets, samplers and precision, with when and where.
/// </summary>
public sealed record EqualWorkResult(string Path, string Date, string Profile, string Precision, string Cpu, string TorchVersion,
    IReadOnlyList<(string Stage, double Seconds)> PyTorchStages, IReadOnlyList<EqualWorkPipeline> Pipelines)
{
    /// <summary>The sampler rows it measured ("DDPM-1000", "DDIM-50"), from PyTorch's sampling stages.</summary>
    public IReadOnlyList<string> Samplers => PyTorchStages.Where(s => s.Stage.StartsWith(SamplingPrefix, StringComparison.Ordinal))
        .Select(s => s.Stage[SamplingPrefix.Length..]).ToList();

    /// <summary>Whether it measured sampler <paramref name="sampler"/> (e.g. "DDIM-50").</summary>
    public bool Has(string sampler) => Samplers.Contains(sampler);

    /// <summary>The whole pipeline with <paramref name="sampler"/>, or null when it was not measured.</summary>
    public EqualWorkPipeline? Pipeline(string sampler) => Pipelines.FirstOrDefault(p => p.Sampler == sampler);

    const string SamplingPrefix = "sampling, ";

    /// <summary>Reads an <c>equal-work.json</c>; a file that is not one throws <see cref="InvalidDataException"/> naming it.</summary>
    public static EqualWorkResult Load(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            if (Text(root, "format") != "pdiff-equal-work")
                throw new InvalidDataException($"{path} is not an equal-work result (its \"format\" is not \"pdiff-equal-work\").");
            var stages = root.GetProperty("pytorch_stages").EnumerateArray()
                .Select(s => (s.GetProperty("stage").GetString()!, s.GetProperty("seconds").GetDouble())).ToList();
            var pipelines = root.GetProperty("pipelines").EnumerateArray()
                .Select(p => new EqualWorkPipeline(p.GetProperty("sampler").GetString()!, Number(p, "pdiff_seconds"), Number(p, "pytorch_seconds"), Number(p, "ratio")))
                .ToList();
            return new EqualWorkResult(path, Text(root, "date") ?? "", Text(root, "profile") ?? "", Text(root, "precision") ?? "",
                Text(root, "cpu") ?? "", Text(root, "pytorch") ?? "", stages, pipelines);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path} is not a readable equal-work result: {e.Message}", e);
        }
    }

    static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    static double? Number(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}

/// <summary>
/// Where notebook 11 takes PyTorch's times from: only a measured equal-work result (bench/equal-work.sh) whose profile and
/// precision are this run's, never a typed number. The setting (the notebook's <c>equalWork</c> parameter) is "" for the
/// latest such file under bench/results/, "none" for no PyTorch bar, or the path of one file.
/// </summary>
public static class EqualWork
{
    public const string Off = "none";

    /// <summary>The bench's committed results: bench/results/ under the repository root.</summary>
    public static string Folder => Path.Combine(ZooCache.RepoRoot, "bench", "results");

    /// <summary>The bench's name for a denoiser precision: "bf16" (autocast BFloat16) or "float32".</summary>
    public static string Precision(AutocastKind autocast) => autocast == AutocastKind.BFloat16 ? "bf16" : "float32";

    /// <summary>The command that measures the equal-work result a run of <paramref name="profile"/> and <paramref name="autocast"/> would use.</summary>
    public static string HowToMeasure(Profile profile, AutocastKind autocast) =>
        $"bench/equal-work.sh --budget {(profile == Profile.FullV2 ? "full" : "small")} --precision {Precision(autocast)}" +
        (profile is Profile.FullV2 or Profile.Smoke ? "" : " (the bench runs the full-v2 and smoke profiles only)");

    /// <summary>
    /// The equal-work result for a run of <paramref name="profile"/> and <paramref name="autocast"/> and a line that says
    /// which one was taken, or why none was (with the command that measures one). <paramref name="folder"/> defaults to
    /// <see cref="Folder"/>. A path that does not exist throws; a file of another profile or precision gives none.
    /// </summary>
    public static (EqualWorkResult? Result, string Note) Find(string setting, Profile profile, AutocastKind autocast, string? folder = null)
    {
        var precision = Precision(autocast);
        var wanted = $"profile {profile.Name()}, precision {precision}";
        var measure = $"measure one with {HowToMeasure(profile, autocast)}";
        if (string.Equals(setting.Trim(), Off, StringComparison.OrdinalIgnoreCase))
            return (null, $"equalWork = \"{Off}\": no PyTorch bar.");
        if (setting.Trim().Length > 0)
        {
            if (!File.Exists(setting)) throw new FileNotFoundException($"equalWork: {Path.GetFullPath(setting)} does not exist; give an equal-work.json, \"\" for the latest under bench/results/, or \"{Off}\".", setting);
            var r = EqualWorkResult.Load(setting);
            return Matches(r, profile, precision)
                ? (r, Taken(r))
                : (null, $"{setting} measured profile {r.Profile}, precision {r.Precision}, not this run's {wanted}: no PyTorch bar; {measure}.");
        }
        var dir = folder ?? Folder;
        var found = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "equal-work.json", SearchOption.AllDirectories).Select(EqualWorkResult.Load)
                .Where(r => Matches(r, profile, precision)).OrderBy(r => r.Date, StringComparer.Ordinal).ThenBy(r => r.Path, StringComparer.Ordinal).LastOrDefault()
            : null;
        return found is null
            ? (null, $"No equal-work measurement for {wanted} under {dir}: no PyTorch bar; {measure}.")
            : (found, Taken(found));
    }

    static bool Matches(EqualWorkResult r, Profile profile, string precision) => r.Profile == profile.Name() && r.Precision == precision;

    static string Taken(EqualWorkResult r) =>
        $"PyTorch {r.TorchVersion} eager, measured at equal work by bench/equal-work.sh on {r.Date} ({r.Cpu}; {string.Join(", ", r.Samplers)}): {r.Path}";

    /// <summary>
    /// One line per sampler on what <paramref name="r"/> measured for it: both sides' minutes and PyTorch ÷ PDiff.NET
    /// from that run (measured back to back, not against this notebook's run), or that it has no such row.
    /// </summary>
    public static string Describe(EqualWorkResult r, string sampler) => r.Pipeline(sampler) switch
    {
        { PDiffSeconds: { } o, PyTorchSeconds: { } t, Ratio: { } q } => string.Create(CultureInfo.InvariantCulture,
            $"{sampler}, equal-work bench of {r.Date}: PDiff.NET {o / 60:F1} min, PyTorch {t / 60:F1} min, PyTorch ÷ PDiff.NET = {q:F2} (both sides of that run)"),
        null => $"{sampler}: the equal-work bench of {r.Date} has no such row (it measured {string.Join(", ", r.Samplers)}); no PyTorch bar for it.",
        _ => $"{sampler}, equal-work bench of {r.Date}: no whole-pipeline ratio (a stage is missing on one side; see {r.Path}).",
    };
}
