using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PDiff.Data;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// A zoo of <see cref="Models"/> networks each trained from scratch with its own seed (init, shuffle), as the
/// reference's whole-network table (§1.3 <c>full/</c>; in its authors' words "200 models trained from scratch"), instead of
/// K checkpoints of one trajectory. Model i trains with seed <c>Train.Seed + i</c>; each keeps its best epoch on
/// validation.
/// </summary>
public sealed record SeedZooOptions
{
    public string Dataset { get; init; } = "mnist";
    public required ModelSpec Model { get; init; }
    public required DataOptions Data { get; init; }
    public required TrainConfig Train { get; init; }
    /// <summary>How many networks (the zoo's K).</summary>
    public int Models { get; init; } = 16;
    /// <summary>The vector each network contributes; <c>whole</c> = every parameter and running statistic.</summary>
    public string Subset { get; init; } = "whole";
    public required string Out { get; init; }
    public ulong DataSeed { get; init; } = 0;
    /// <summary>Write into a non-empty folder that pdiff did not write (only our own files are ever touched).</summary>
    public bool Force { get; init; }

    /// <summary>What the zoo's manifest records as its source; a cached zoo is reused only when it is the same.</summary>
    public string SourceText => "trained-from-seeds:" + JsonSerializer.Serialize(new { models = Models, train = Train, subset = Subset });
}

/// <summary>Builds and reuses <see cref="SeedZooOptions"/> zoos.</summary>
public static class SeedZoo
{
    /// <summary>
    /// Opens the zoo in <c>o.Out</c> when it was made from the same options by this libtorch, else trains the
    /// networks and writes it (atomically, through <see cref="ZooWriter"/>). Model 0 is the zoo's base model:
    /// with the <c>whole</c> subset every tensor the network reads is overwritten by a row, so the base only
    /// supplies the architecture.
    /// </summary>
    public static ZooTask Ensure(SeedZooOptions o, TextWriter? log = null)
    {
        if (o.Models < 2) throw new ArgumentException($"SeedZoo: a zoo needs at least 2 networks (Models = {o.Models}).", nameof(o));
        if (Reusable(o, log) is { } zoo) return zoo;
        // Another process making this zoo is waited for, and its zoo reused, rather than trained twice.
        using var writer = ZooWriter.Begin(o.Out, o.Force, wait: true, log: log);
        return Reusable(o, log, quiet: true) ?? Build(o, log);
    }

    static ZooTask? Reusable(SeedZooOptions o, TextWriter? log, bool quiet = false)
    {
        if (!File.Exists(Path.Combine(o.Out, "manifest.json"))) return null;
        string? stale;
        try
        {
            var zoo = ZooTask.Open(o.Out);
            stale = StaleReason(zoo.Manifest, o);
            if (stale is null)
            {
                zoo.Verify();
                log?.WriteLine($"[zoo] reusing {o.Out} ({zoo.K} networks, test mean {100 * zoo.Manifest.Test!.Mean:F2}%)");
                return zoo;
            }
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            stale = $"damaged: {e.Message}";
        }
        if (!quiet) log?.WriteLine($"[zoo] {o.Out} was made with other settings ({stale}): rebuilding");
        return null;
    }

    static string? StaleReason(ZooManifest m, SeedZooOptions o)
    {
        if (m.Source != o.SourceText) return "another training recipe, count or subset";
        if (m.Torch != torch.__version__) return $"libtorch {m.Torch}, this is {torch.__version__}";
        if (m.Dataset != Datasets.Canonical(o.Dataset)) return $"dataset {m.Dataset}";
        if (JsonSerializer.Serialize(m.DataOptions) != JsonSerializer.Serialize(o.Data)) return "other data options";
        if (!m.Model.SameAs(o.Model with { Classes = m.Model.Classes, InChannels = m.Model.InChannels, ImageSize = m.Model.ImageSize }))
            return $"architecture {m.Model.ToJson()}";
        return null;
    }

    static ZooTask Build(SeedZooOptions o, TextWriter? log)
    {
        var clock = Stopwatch.StartNew();
        var dataset = Datasets.Canonical(o.Dataset);
        // Refused before the folder is claimed: a network, or Models × N numbers, that cannot fit this machine.
        ModelSize.CheckFits(o.Model, ModelUse.Train, o.Train.BatchSize);
        using (var probe = ModelRegistry.Build(o.Model, 0))
            ZooLimits.CheckVectors(nameof(SeedZooOptions.Models), o.Models, Subsets.Resolve(probe, o.Subset).Length, "networks", name: p => $"{nameof(SeedZooOptions)}.{p}");
        using var writer = ZooWriter.Begin(o.Out, o.Force, keepStaged: false);
        using var data = Datasets.Load(dataset, o.DataSeed, o.Data);
        var spec = ModelRegistry.Complete(o.Model with
        {
            Classes = data.Train.Classes, InChannels = (int)data.Train.X.size(1), ImageSize = (int)data.Train.X.size(2),
        });
        log?.WriteLine($"[zoo] {o.Models} × {spec} on {dataset} ({data.Info.Train} train images), each from its own seed {o.Train.Seed} … {o.Train.Seed + (ulong)o.Models - 1} → {Path.GetFullPath(o.Out)}");
        var networks = new TrainedNetworks();
        try
        {
            TrainNetworks(o, spec, data, writer, networks, log);
            var layout = networks.Layout!;
            // Scored through the same write-back path as every generated vector, so originals and generated models
            // are measured the same way (eval mode, the rows' own running statistics).
            var scoreClock = Stopwatch.StartNew();
            IReadOnlyList<ModelScore> val, test;
            using (var scorer = new CachedScorer(networks.First!.Model, layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y)))
            {
                val = scorer.Score(networks.Vectors!, EvalSplit.Validation);
                test = scorer.Score(networks.Vectors!, EvalSplit.Test);
            }
            var checkpoints = Enumerable.Range(0, o.Models).Select(i => new CheckpointRecord(i, ZooStore.CheckpointFile(i),
                (long)(o.Train.Seed + (ulong)i), double.NaN, val[i].Accuracy, test[i].Accuracy, $"seed {o.Train.Seed + (ulong)i}")).ToList();
            var seconds = new Dictionary<string, double>
            {
                ["train"] = networks.TrainSeconds.Sum(), ["score"] = scoreClock.Elapsed.TotalSeconds, ["total"] = clock.Elapsed.TotalSeconds,
            };
            var manifest = Manifest(o, dataset, data, spec, networks.First.Manifest, layout, checkpoints, seconds);
            var zoo = writer.Commit(manifest, networks.Vectors!);
            log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[zoo] {o.Models} networks of {layout.Length:N0} numbers: test {100 * manifest.Test!.Mean:F2}% (min {100 * manifest.Test.Min:F2}, max {100 * manifest.Test.Max:F2}), {clock.Elapsed.TotalSeconds:F0}s"));
            return zoo;
        }
        finally
        {
            networks.First?.Dispose();
            networks.Vectors?.Dispose();
        }
    }

    /// <summary>What the networks trained so far left: the subset layout, one row each in Vectors [Models, N], network 0 (saved as the base) and each one's training time.</summary>
    sealed class TrainedNetworks
    {
        public SubsetLayout? Layout;
        public Tensor? Vectors;
        public TrainedBase? First;
        public readonly List<double> TrainSeconds = new();
    }

    /// <summary>Trains network i with seed Train.Seed + i, one after the other, into <paramref name="networks"/>; network 0 is saved in the staging folder as the zoo's base.</summary>
    static void TrainNetworks(SeedZooOptions o, ModelSpec spec, DataSplits data, ZooWriter writer, TrainedNetworks networks, TextWriter? log)
    {
        for (var i = 0; i < o.Models; i++)
        {
            var trained = BaseTrainer.Train(spec, data, o.Data, o.Train with { Seed = o.Train.Seed + (ulong)i });
            networks.Layout ??= Subsets.Resolve(trained.Model, o.Subset);
            using (var row = Subsets.Flatten(trained.Model, networks.Layout))
            {
                networks.Vectors ??= zeros(o.Models, networks.Layout.Length);
                networks.Vectors[i].copy_(row);
            }
            networks.TrainSeconds.Add(trained.Manifest.TrainSeconds);
            log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[zoo] network {i + 1}/{o.Models}: val {100 * trained.Manifest.ValAccuracy:F2}%, test {100 * trained.Manifest.TestAccuracy:F2}%, {trained.Manifest.TrainSeconds:F1}s (ETA {ProgressLog.Format(TimeSpan.FromSeconds(networks.TrainSeconds.Average() * (o.Models - i - 1)))})"));
            if (i == 0) networks.First = BaseModels.Save(writer.Staging, trained);
            else trained.Dispose();
        }
    }

    static ZooManifest Manifest(SeedZooOptions o, string dataset, DataSplits data, ModelSpec spec, BaseManifest first, SubsetLayout layout,
        List<CheckpointRecord> checkpoints, Dictionary<string, double> seconds) => new()
    {
        Task = ZooStore.TaskName(dataset, spec.Arch, o.Subset),
        Dataset = dataset,
        Data = data.Info,
        DataOptions = o.Data,
        Model = spec,
        BaseModel = first.WeightsFile,
        BaseManifest = "base.json",
        BaseValAccuracy = first.ValAccuracy,
        BaseTestAccuracy = first.TestAccuracy,
        Subset = new SubsetRecord(o.Subset, layout.Tensors, layout.Length),
        Source = o.SourceText,
        Profile = null,
        Seeds = new Dictionary<string, ulong> { ["data"] = o.DataSeed, ["first"] = o.Train.Seed },
        Checkpoints = checkpoints,
        Validation = AccuracyStats.Of(checkpoints.Select(c => c.ValAccuracy).ToList()),
        Test = AccuracyStats.Of(checkpoints.Select(c => c.TestAccuracy).ToList()),
        CutStage = null,
        Seconds = seconds,
        Torch = torch.__version__,
        Threads = torch.get_num_threads(),
        Created = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
    };
}
