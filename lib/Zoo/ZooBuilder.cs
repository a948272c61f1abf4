using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Data;
using PDiff.Models;
using PDiff.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>What <c>pdiff zoo build</c> does; unset fields take the profile's values (<see cref="ZooProfiles"/>).</summary>
public sealed record ZooBuildOptions
{
    public string Dataset { get; init; } = "fashion-mnist";
    public string Arch { get; init; } = "resnet18";
    public string Subset { get; init; } = Subsets.DefaultPreset;
    public Profile Profile { get; init; } = Profile.Quick;
    public RecipeKind Recipe { get; init; } = RecipeKind.V2;
    public int? K { get; init; }
    public required string Out { get; init; }
    /// <summary>Seed of the validation split (and train subset).</summary>
    public ulong DataSeed { get; init; } = 0;
    public ModelSpec? Model { get; init; }
    public TrainConfig? Train { get; init; }
    public CollectionRecipe? Collection { get; init; }
    public DataOptions? Data { get; init; }
    /// <summary>Retrain the base model even when a matching one is in the output folder.</summary>
    public bool Retrain { get; init; }
    /// <summary>Write into a non-empty folder that pdiff did not write (only our own files are ever touched).</summary>
    public bool Force { get; init; }
}

/// <summary>
/// Dataset → base model → subset → K checkpoints → scores → task folder. A base model already in the
/// output folder is reused when its architecture, data split and training recipe match, so rebuilding a
/// zoo with another subset, recipe or K does not retrain.
/// </summary>
public static class ZooBuilder
{
    public static ZooTask Build(ZooBuildOptions o, TextWriter? log = null)
    {
        var clock = Stopwatch.StartNew();
        var seconds = new Dictionary<string, double>();
        var dataset = Datasets.Canonical(o.Dataset);
        var arch = ModelRegistry.Canonical(o.Arch);
        var dataOptions = o.Data ?? ZooProfiles.Data(o.Profile);
        if (o.K is < 1) throw new ArgumentException($"K must be at least 1 (got {o.K}).");
        ZooLimits.CheckBuild(o);   // sizes, counts and iterations that cannot fit are refused before the folder is claimed
        // Claimed and locked before any work: a folder of someone else's files, or one another process is writing, is refused now.
        using var writer = ZooWriter.Begin(o.Out, o.Force);
        log?.WriteLine($"[zoo] {dataset} × {arch} × {o.Subset}, profile {o.Profile.Name()}, recipe {o.Recipe}, torch {torch.__version__}, {torch.get_num_threads()} threads → {Path.GetFullPath(o.Out)}");

        var t = Stopwatch.StartNew();
        using var data = Datasets.Load(dataset, o.DataSeed, dataOptions);
        seconds["data"] = t.Elapsed.TotalSeconds;
        log?.WriteLine($"[zoo] data: {data.Info.Train} train / {data.Info.Validation} validation / {data.Info.Test} test images (split seed {o.DataSeed}, fingerprint {data.Info.Fingerprint})");
        var spec = ModelRegistry.Complete((o.Model ?? ZooProfiles.Model(o.Profile, arch)) with
        {
            Classes = data.Train.Classes, InChannels = (int)data.Train.X.size(1), ImageSize = (int)data.Train.X.size(2),
        });
        var inputs = new BuildInputs(dataset, arch, data, dataOptions, spec, o.Train ?? ZooProfiles.Train(o.Profile, arch));

        t.Restart();
        using (var g0 = new Generator(0))
        using (var probe = ModelRegistry.Build(spec, g0)) Subsets.Resolve(probe, o.Subset);   // a bad subset fails before training
        using var trained = ReuseOrTrain(o, writer, spec, data, dataOptions, inputs.Train, log);
        seconds["base"] = t.Elapsed.TotalSeconds;
        var baseModel = trained.Model;

        var layout = Subsets.Resolve(baseModel, o.Subset);
        var recipe = RecipeFor(o, o.K ?? ZooProfiles.K(o.Profile), arch);
        if (o.K is { } kk) recipe = recipe with { K = kk };
        log?.WriteLine($"[zoo] subset '{o.Subset}': {string.Join(", ", layout.Tensors.Select(x => $"{x.Name}[{string.Join("×", x.Shape)}]"))} = {layout.Length:N0} numbers");

        t.Restart();
        using var collected = Collector.Collect(baseModel, layout, data.Train, recipe, log);
        seconds["collect"] = t.Elapsed.TotalSeconds;

        t.Restart();
        var (val, test, cut) = ScoreCheckpoints(baseModel, layout, data, collected.Vectors, recipe.K, log);
        seconds["score"] = t.Elapsed.TotalSeconds;

        var checkpoints = Enumerable.Range(0, recipe.K).Select(i => new CheckpointRecord(i, ZooStore.CheckpointFile(i),
            collected.Iterations[i], collected.TrainLoss[i], val[i].Accuracy, test[i].Accuracy)).ToList();
        seconds["total"] = clock.Elapsed.TotalSeconds;
        var manifest = Manifest(o, inputs, trained.Manifest, layout, recipe, checkpoints, cut, seconds);
        var task = writer.Commit(manifest, collected.Vectors, (val, test));
        LogSummary(log, trained.Manifest, manifest, recipe.K, seconds);
        log?.WriteLine($"[zoo] wrote {Path.GetFullPath(Path.Combine(o.Out, "manifest.json"))}");
        return task;
    }

    /// <summary>What a build settled before training: the canonical names, the data, and the completed model and base training.</summary>
    sealed record BuildInputs(string Dataset, string Arch, DataSplits Data, DataOptions DataOptions, ModelSpec Spec, TrainConfig Train);

    /// <summary>The collection recipe the options ask for: the given one, else the V1 or V2 recipe for <paramref name="k"/> checkpoints.</summary>
    static CollectionRecipe RecipeFor(ZooBuildOptions o, int k, string arch) =>
        o.Collection ?? (o.Recipe == RecipeKind.V2 ? CollectionRecipe.V2(k, arch) : CollectionRecipe.V1(k, ZooProfiles.V1SaveEvery(o.Profile)));

    /// <summary>The collected checkpoints' scores on validation and test, through the base model's cached scorer, and the stage it caches up to.</summary>
    static (IReadOnlyList<ModelScore> Val, IReadOnlyList<ModelScore> Test, string Cut) ScoreCheckpoints(ImageClassifier baseModel, SubsetLayout layout, DataSplits data,
        Tensor vectors, int k, TextWriter? log)
    {
        using var scorer = new CachedScorer(baseModel, layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y));
        log?.WriteLine($"[zoo] scoring {k} checkpoints on {data.Info.Validation} validation and {data.Info.Test} test images (cached up to stage '{scorer.CutStageName}')");
        var progress = log is null ? null : new ProgressLog(log, "score", 2L * k) { Interval = TimeSpan.FromSeconds(10) };
        var val = ScoreWithProgress(scorer, vectors, EvalSplit.Validation, progress, 0);
        var test = ScoreWithProgress(scorer, vectors, EvalSplit.Test, progress, k);
        return (val, test, scorer.CutStageName);
    }

    static ZooManifest Manifest(ZooBuildOptions o, BuildInputs inputs, BaseManifest trained, SubsetLayout layout, CollectionRecipe recipe,
        List<CheckpointRecord> checkpoints, string cut, Dictionary<string, double> seconds) => new()
    {
        Task = ZooStore.TaskName(inputs.Dataset, inputs.Arch, o.Subset),
        Dataset = inputs.Dataset,
        Data = inputs.Data.Info,
        DataOptions = inputs.DataOptions,
        Model = inputs.Spec,
        BaseModel = trained.WeightsFile,
        BaseManifest = "base.json",
        BaseValAccuracy = trained.ValAccuracy,
        BaseTestAccuracy = trained.TestAccuracy,
        Subset = new SubsetRecord(o.Subset, layout.Tensors, layout.Length),
        Recipe = recipe,
        Profile = o.Profile.Name(),
        Seeds = new Dictionary<string, ulong> { ["data"] = o.DataSeed, ["base"] = inputs.Train.Seed, ["collection"] = recipe.Seed },
        Checkpoints = checkpoints,
        Validation = AccuracyStats.Of(checkpoints.Select(c => c.ValAccuracy).ToList()),
        Test = AccuracyStats.Of(checkpoints.Select(c => c.TestAccuracy).ToList()),
        CutStage = cut,
        Seconds = seconds,
        Torch = torch.__version__,
        Threads = torch.get_num_threads(),
        Created = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
    };

    static void LogSummary(TextWriter? log, BaseManifest trained, ZooManifest manifest, int k, Dictionary<string, double> seconds)
    {
        log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[zoo] base: val {100 * trained.ValAccuracy:F2}%, test {100 * trained.TestAccuracy:F2}%; " +
            $"{k} checkpoints: val {100 * manifest.Validation!.Mean:F2}% (min {100 * manifest.Validation.Min:F2}, max {100 * manifest.Validation.Max:F2}), " +
            $"test {100 * manifest.Test!.Mean:F2}% (min {100 * manifest.Test.Min:F2}, max {100 * manifest.Test.Max:F2})"));
        log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[zoo] time: data {seconds["data"]:F0}s, base {seconds["base"]:F0}s, collect {seconds["collect"]:F0}s, score {seconds["score"]:F0}s, total {seconds["total"]:F0}s"));
    }

    /// <summary>Scores vectors 20 at a time, so a long scoring (minutes for a zoo of 200) shows its progress and ETA.</summary>
    static IReadOnlyList<ModelScore> ScoreWithProgress(ISubsetScorer scorer, Tensor vectors, EvalSplit split, ProgressLog? progress, long doneBefore)
    {
        var scores = new List<ModelScore>();
        var k = vectors.size(0);
        for (long i = 0; i < k; i += 20)
        {
            using var part = vectors.narrow(0, i, Math.Min(20, k - i));
            scores.AddRange(scorer.Score(part, split));
            progress?.Step(doneBefore + i + part.size(0), $"{split.ToString().ToLowerInvariant()}, mean so far {100 * scores.Average(s => s.Accuracy):F2}%");
        }
        return scores;
    }

    /// <summary>
    /// Why the zoo saved in <paramref name="dir"/> is not what <see cref="Build"/> would make from
    /// <paramref name="o"/> today (K, profile, subset, data options, architecture, base training recipe,
    /// collection recipe), or null when it is. Lets a cache of zoos notice a changed default instead of
    /// silently serving a zoo made under other settings.
    /// </summary>
    public static string? StaleReason(string dir, ZooBuildOptions o)
    {
        var m = ZooTask.Open(dir).Manifest;
        if (m.Recipe is null) return $"not a collected zoo (source {m.Source})";
        var arch = ModelRegistry.Canonical(o.Arch);
        var k = o.K ?? ZooProfiles.K(o.Profile);
        static string J<T>(T x) => JsonSerializer.Serialize(x);
        if (m.K != k) return $"K {m.K}, wanted {k}";
        // A zoo trained by another libtorch is not what a fresh run gives today.
        if (m.Torch != torch.__version__) return $"made with libtorch {(m.Torch.Length > 0 ? m.Torch : "?")}, this is {torch.__version__}";
        if (m.Profile != o.Profile.Name()) return $"profile {m.Profile}, wanted {o.Profile.Name()}";
        if (m.Subset.Selector != o.Subset) return $"subset '{m.Subset.Selector}', wanted '{o.Subset}'";
        if (J(m.DataOptions) != J(o.Data ?? ZooProfiles.Data(o.Profile))) return "other data options (train/validation/test sizes)";
        var spec = (o.Model ?? ZooProfiles.Model(o.Profile, arch)) with
        {
            Classes = m.Model.Classes, InChannels = m.Model.InChannels, ImageSize = m.Model.ImageSize,
        };
        if (!m.Model.SameAs(spec)) return $"architecture {m.Model.ToJson()}, wanted {ModelRegistry.Complete(spec).ToJson()}";
        var recipe = RecipeFor(o, k, arch);
        if (J(m.Recipe with { K = k }) != J(recipe with { K = k })) return $"collection recipe {J(m.Recipe)}, wanted {J(recipe)}";
        if (m.BaseManifest is { } baseJson && File.Exists(Path.Combine(dir, baseJson)))
        {
            var train = o.Train ?? ZooProfiles.Train(o.Profile, arch);
            var b = BaseModels.ReadManifest(Path.GetDirectoryName(Path.GetFullPath(Path.Combine(dir, baseJson)))!);
            if (J(b.Train) != J(train)) return $"base training {J(b.Train)}, wanted {J(train)}";
        }
        return null;
    }

    /// <summary>
    /// The base model: reused from a killed build's staging folder or from the committed zoo when it was made
    /// with the same architecture, split, recipe and libtorch (and its weights still match the hash
    /// recorded beside them), else trained and staged.
    /// </summary>
    static TrainedBase ReuseOrTrain(ZooBuildOptions o, ZooWriter writer, ModelSpec spec, DataSplits data, DataOptions dataOptions, TrainConfig train, TextWriter? log)
    {
        // The committed zoo's base lives in its revision folder (or, in a zoo from before revisions, beside the manifest).
        var committed = ZooTask.TryOpen(writer.Directory)?.BaseFolder;
        foreach (var dir in new[] { writer.Staging, committed }.OfType<string>())
        {
            if (o.Retrain || !File.Exists(Path.Combine(dir, "base.json"))) continue;
            BaseManifest m;
            try { m = BaseModels.ReadManifest(dir); }
            catch (InvalidDataException) { continue; }
            var same = m.Model.SameAs(spec) && m.Data.Fingerprint == data.Info.Fingerprint &&
                       JsonSerializer.Serialize(m.Train) == JsonSerializer.Serialize(train) && m.Torch == torch.__version__;
            var weights = Path.Combine(dir, m.WeightsFile);
            if (!same || !File.Exists(weights) || (m.WeightsSha256 is { } h && h != AtomicFile.Sha256(weights)))
            {
                log?.WriteLine($"[zoo] the base model in {dir} was made with other settings (or another libtorch, or is damaged): not reused");
                continue;
            }
            log?.WriteLine($"[zoo] reusing the base model in {dir} (same architecture, split and recipe; --retrain to train anew)");
            if (dir != writer.Staging)
            {
                AtomicFile.Copy(weights, writer.Staged(m.WeightsFile));
                AtomicFile.Copy(Path.Combine(dir, "base.json"), writer.Staged("base.json"));
            }
            return new TrainedBase(BaseModels.LoadWeights(weights, m.Model), m);
        }
        var trained = BaseTrainer.Train(spec, data, dataOptions, train, log);
        return BaseModels.Save(writer.Staging, trained);
    }
}
