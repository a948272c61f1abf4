using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Models;
using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// A small network to generate whole: dataset and architecture, e.g. <c>mnist/mlp:24</c> (one hidden layer of 24),
/// <c>mnist/mlp:64,32</c>, <c>fashion-mnist/convnet3:16</c> (three conv blocks of 16 channels).
/// </summary>
public sealed record WholeNetworkTask(string Dataset, ModelSpec Model)
{
    /// <summary>Parses <c>dataset/arch:size</c>: MLP hidden sizes (comma-separated) or ConvNet-3's width.</summary>
    public static WholeNetworkTask Parse(string text)
    {
        var parts = text.Split('/', 2, StringSplitOptions.TrimEntries);
        var archSize = parts.Length == 2 ? parts[1].Split(':', 2, StringSplitOptions.TrimEntries) : Array.Empty<string>();
        if (archSize.Length != 2 || parts[0].Length == 0)
            throw new ArgumentException($"Whole-network task '{text}': write dataset/arch:size, e.g. mnist/mlp:24, mnist/mlp:64,32 or fashion-mnist/convnet3:16.", nameof(text));
        var dataset = Datasets.Canonical(parts[0]);
        int[] sizes;
        try { sizes = archSize[1].Split(',', StringSplitOptions.TrimEntries).Select(s => int.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray(); }
        catch (FormatException) { throw new ArgumentException($"Whole-network task '{text}': the size '{archSize[1]}' is not a list of positive integers.", nameof(text)); }
        if (sizes.Any(s => s < 1)) throw new ArgumentException($"Whole-network task '{text}': sizes must be positive.", nameof(text));
        var model = ModelRegistry.Canonical(archSize[0]) switch
        {
            "mlp" => new ModelSpec { Arch = "mlp", Hidden = sizes },
            "convnet3" when sizes.Length == 1 => new ModelSpec { Arch = "convnet3", Width = sizes[0] },
            "convnet3" => new ModelSpec { Arch = "convnet3", Channels = sizes },
            var other => throw new ArgumentException($"Whole-network task '{text}': architecture '{other}' is not offered here (mlp or convnet3).", nameof(text)),
        };
        return new WholeNetworkTask(dataset, model);
    }

    /// <summary>E.g. <c>mnist_mlp-24</c>: names the zoo and results folders.</summary>
    public string Name => $"{Dataset}_{Model.Arch}-{string.Join("-", Model.Hidden ?? Model.Channels ?? new[] { Model.Width ?? 0 })}";

    /// <summary>The parameter and running-statistic count of the network on 28×28 single-channel images with 10 classes.</summary>
    public long WholeLength()
    {
        using var g = new Generator(0);
        using var m = ModelRegistry.Build(ModelRegistry.Complete(Model), g);
        return Subsets.Resolve(m, "whole").Length;
    }

    public override string ToString() => $"{Dataset}/{Model}";
}

/// <summary>
/// One group (originals, generated, a baseline) of one whole-network task over pipeline seeds: its mean test accuracy,
/// and how close its models are to the originals (mean max IoU of wrong-prediction sets on test, mean min-L2; originals
/// leave-one-out), each with its spread over seeds.
/// </summary>
public sealed record WholeNetworkRow(string Task, long Length, string Group, SeedSpread TestMean, SeedSpread BestOnValidation, SeedSpread MaxIou, SeedSpread MinL2)
{
    /// <summary>A row per group present in every seed's report, in <paramref name="groups"/>' order ("average*" matches by prefix).</summary>
    public static IReadOnlyList<WholeNetworkRow> From(string task, long length, IReadOnlyList<EvaluationReport> reportPerSeed, params string[] groups)
    {
        var rows = new List<WholeNetworkRow>();
        foreach (var pattern in groups)
        {
            var name = reportPerSeed[0].Summaries.Select(g => g.Group)
                .FirstOrDefault(g => pattern.EndsWith('*') ? g.StartsWith(pattern[..^1], StringComparison.Ordinal) : g == pattern);
            if (name is null || reportPerSeed.Any(r => !r.Summaries.Any(g => g.Group == name))) continue;
            SeedSpread Over(Func<EvaluationReport, double> of) => SeedSpread.Of(reportPerSeed.Select(of).ToList());
            rows.Add(new WholeNetworkRow(task, length, name,
                Over(r => r.Summary(name).Test.Mean), Over(r => r.Summary(name).BestOnValidation.TestAccuracy),
                Over(r => r.ModelsOf(name).Average(m => m.MaxIouToOriginals)), Over(r => r.ModelsOf(name).Average(m => m.MinL2ToOriginals))));
        }
        return rows;
    }

    public static TextTable ToTable(IEnumerable<WholeNetworkRow> rows)
    {
        var t = new TextTable("Whole networks over seeds (test accuracy %, mean ± sample std; novelty to the originals)", new[]
        {
            TableColumn.Text("task"), TableColumn.Number("n", "N", "N0"), TableColumn.Text("group"), TableColumn.Text("test_mean", "test mean %"),
            TableColumn.Text("best_on_val", "best on val %"), TableColumn.Text("max_iou", "max IoU to originals"), TableColumn.Text("min_l2", "min L2 to originals"),
        });
        foreach (var r in rows)
            t.Add(r.Task, r.Length, r.Group, r.TestMean.Format(), r.BestOnValidation.Format(), r.MaxIou.Format(1, 3), r.MinL2.Format(1, 2));
        return t;
    }

    public static DataFrame ToDataFrame(IEnumerable<WholeNetworkRow> rows) => ToTable(rows).ToDataFrame();
}

/// <summary>Cost and size of one whole-network configuration on one seed; the multiply-adds counted from the models' shapes, and the cost table.</summary>
public sealed record WholeNetworkCost(string Task, int Seed, long Length, int Networks, double ZooSeconds, double TrainSeconds,
    double GenerateSeconds, long AeMultiplyAddsPerVector, long DenoiserMultiplyAddsPerSample)
{
    /// <summary>Encode + decode multiply-adds of one vector of <paramref name="length"/> numbers under <paramref name="config"/>'s autoencoder (0 where not counted).</summary>
    public static long AeMultiplyAdds(long length, PDiffConfig config)
    {
        using var g = new Generator(0);
        using var ae = PDiffModel.CreateAutoencoder(config, length, g);
        return ae.MultiplyAddsPerVector is { } m ? m.Encode + m.Decode : 0;
    }

    /// <summary>Multiply-adds of one V2 denoiser call on one latent (0 for another kind).</summary>
    public static long DenoiserMultiplyAdds(PDiffConfig config)
    {
        if (config.Denoiser != DenoiserKind.V2OneDimCnn) return 0;
        using var g = new Generator(0);
        using var d = new OneDimCNN(config.LatentDim, g);
        return d.MultiplyAddsPerSample ?? 0;
    }

    public static TextTable ToTable(IEnumerable<WholeNetworkCost> costs)
    {
        var t = new TextTable("Whole-network cost per seed", new[]
        {
            TableColumn.Text("task"), TableColumn.Number("seed", format: "F0"), TableColumn.Number("n", "N", "N0"), TableColumn.Number("networks", format: "F0"),
            TableColumn.Number("zoo_seconds", "zoo s", "F1"), TableColumn.Number("pdiff_train_seconds", "p-diff train s", "F1"),
            TableColumn.Number("generate_seconds", "generate s", "F1"), TableColumn.Number("ae_mmac_per_vector", "AE MMAC/vector", "F1"),
            TableColumn.Number("denoiser_mmac_per_sample", "denoiser MMAC/call", "F1"),
        });
        foreach (var c in costs)
            t.Add(c.Task, c.Seed, c.Length, c.Networks, c.ZooSeconds, c.TrainSeconds, c.GenerateSeconds,
                c.AeMultiplyAddsPerVector / 1e6, c.DenoiserMultiplyAddsPerSample / 1e6);
        return t;
    }

    public static DataFrame ToDataFrame(IEnumerable<WholeNetworkCost> costs) => ToTable(costs).ToDataFrame();
}

/// <summary>
/// Generating whole small networks: zoos of networks trained from scratch with their own seeds
/// (<see cref="SeedZoo"/>), every parameter and running statistic (<c>whole</c>), per-tensor normalisation, and
/// the chunked autoencoder (<see cref="Config"/>), evaluated against the originals, their weight average
/// and the critique's baselines over pipeline seeds.
/// </summary>
public static class WholeNetwork
{
    /// <summary>Smoke: 2,000/500/1,000 images; quick: up to 10,000 training images (MNIST has 7,000 after its splits).</summary>
    public static DataOptions Data(Profile p) => p switch
    {
        Profile.Smoke => new DataOptions { MaxTrain = 2000, ValidationSize = 500, MaxTest = 1000 },
        Profile.Quick => new DataOptions { MaxTrain = 10000, ValidationSize = 1000 },
        _ => new DataOptions(),
    };

    /// <summary>AdamW 2e-3 (wd 5e-4), cosine, batch 64, no augmentation: the quick profile's base recipe, for 1 epoch (smoke, quick) or 10 (paper).</summary>
    public static TrainConfig Train(Profile p) => TrainConfig.V2(p == Profile.Paper ? 10 : 1) with
    {
        Lr = 2e-3, WeightDecay = 5e-4, Augment = false, BatchSize = 64,
    };

    /// <summary>Networks per zoo: 4 (smoke), 16 (quick), 200 (the reference's whole-network table).</summary>
    public static int Networks(Profile p) => p switch { Profile.Smoke => 4, Profile.Quick => 16, _ => 200 };

    /// <summary>
    /// The autoencoder for whole networks: <see cref="ChunkAutoencoder"/> with chunks of 64 numbers embedded in 64
    /// (<see cref="AutoencoderKind.Chunked"/>, <c>AeChannels</c> = [64, 64]): about 384 multiply-adds a number, all matrix
    /// products, linear in N, and the same 128-number latent for every N. V2's convolutional autoencoder costs about
    /// 162,000 a number at its widths, and narrowed to [8, 16, 32, 32, 8] (2,700 a number) its small convolutions ran far
    /// below the machine's matrix-multiply rate, too slow a training step for 50,000-parameter networks (the design notes).
    /// </summary>
    public static readonly long[] AeChannels = { 64, 64 };

    /// <summary>
    /// The autoencoder's learning rate for whole networks, 1e-3 (V2's is 2e-4): on 16 MNIST MLPs of 19,186 numbers,
    /// 600 constant-rate steps took the reconstruction loss from 1.02 to 0.43 at 2e-4 and 0.26 at 1e-3 (chunk width 32),
    /// 0.11 at 1e-3 with width 64; 3e-3 was no better than 1e-3.
    /// </summary>
    public const double AeLr = 1e-3;

    /// <summary>
    /// Autoencoder steps for whole networks: 20 (smoke), 600 (quick), 2,000 (paper; the reference's <c>full/</c> configs
    /// train it 1,500–2,500 steps). Four times the subset budget in quick: the narrowed autoencoder costs little a
    /// step, and it has whole networks to reconstruct.
    /// </summary>
    public static int AeSteps(Profile p) => p switch { Profile.Smoke => 20, Profile.Quick => 600, _ => 2000 };

    /// <summary>
    /// The p-diff configuration for whole networks: the preset with <see cref="AeChannels"/> and <see cref="AeSteps"/>
    /// (each unless the user set it), the profile's other budgets and sampler, seeds shifted by the pipeline seed.
    /// </summary>
    public static PDiffConfig Config(PDiffConfig preset, Profile p, int seed)
    {
        var c = preset.KeepExplicit(preset with { Autoencoder = AutoencoderKind.Chunked, AeChannels = AeChannels, AeLr = AeLr }).ForProfile(p);
        c = preset.KeepExplicit(c with { AeSteps = AeSteps(p) });
        // Marked as set, so the pipeline's own ForProfile (TaskRunner) keeps them instead of the subset budgets.
        c = c.WithExplicit(c.Explicit.Concat(new[] { nameof(PDiffConfig.Autoencoder), nameof(PDiffConfig.AeChannels), nameof(PDiffConfig.AeLr), nameof(PDiffConfig.AeSteps) }));
        return TaskRunner.SeedsFor(ProfileDefaults.SamplingFor(p, c), 0, seed);
    }

    /// <summary>
    /// The critique's comparisons without the costly extras: absolute noise σ 0.06 and 0.12, averages of min(16, K),
    /// the per-coordinate Gaussian, each <paramref name="count"/> models; no relative noise, no t-SNE.
    /// </summary>
    public static EvaluationOptions Evaluation(int k, int count) => new()
    {
        Baselines = BaselineOptions.None with
        {
            AbsoluteNoiseSigmas = new[] { 0.06, 0.12 }, AbsoluteNoiseCount = count,
            AverageCount = count, AverageOf = Math.Min(16, k), GaussianCount = count,
        },
        Tsne = false, WriteIouMatrix = false, EmbeddingMaxPerGroup = 100,
    };

    /// <summary>
    /// Pipeline seed s's zoo: networks trained with seeds 42 + s·<see cref="ZooProfiles.SeedStride"/> + i, cached under the
    /// zoo cache; with <paramref name="align"/>, that zoo's networks permuted into network 0's unit order
    /// (<see cref="AlignedZoo"/>, cached beside it with the suffix <c>_aligned</c>).
    /// </summary>
    public static ZooTask EnsureZoo(WholeNetworkTask task, Profile p, int seed, TextWriter? log = null, int? networks = null, bool align = false)
    {
        var k = networks ?? Networks(p);
        var train = Train(p);
        var dir = Path.Combine(ZooCache.Folder(p), "whole-network", $"{task.Name}_k{k}{(seed == 0 ? "" : $"_seed{seed}")}");
        var zoo = SeedZoo.Ensure(new SeedZooOptions
        {
            Dataset = task.Dataset, Model = task.Model, Data = Data(p), Models = k, Out = dir,
            Train = train with { Seed = train.Seed + (ulong)(seed * ZooProfiles.SeedStride) }, Force = true,
        }, log);
        return align ? AlignedZoo.Ensure(zoo, dir + "_aligned", log) : zoo;
    }

    /// <summary>
    /// The whole pipeline over pipeline seeds on one task: zoo, p-diff, generation, evaluation, each seed's results in
    /// <c>&lt;results&gt;/seed&lt;s&gt;/</c> (as <see cref="TaskRunner.RunOnZoo"/> writes them) and the spread over
    /// seeds with the paired differences in the results folder. <paramref name="align"/>: every zoo permutation-aligned
    /// to its network 0 first (<see cref="EnsureZoo"/>); the baselines are then built from the aligned networks too.
    /// </summary>
    public static (SeedsResult Result, IReadOnlyList<WholeNetworkCost> Costs) RunSeeds(WholeNetworkTask task, PDiffConfig preset, Profile p,
        IReadOnlyList<int> seeds, string resultsDir, TextWriter? log = null, int? networks = null, int? generate = null, bool align = false)
    {
        SeedRunner.Check(seeds);
        // Named only when on, so the folders of earlier runs keep their fingerprints.
        object identity = align
            ? new { layout = "whole-network", task = task.ToString(), profile = p.Name(), preset = ConfigText.ToJson(preset), networks, generate, align }
            : new { layout = "whole-network", task = task.ToString(), profile = p.Name(), preset = ConfigText.ToJson(preset), networks, generate };
        using var folder = ResultsFolders.Claim(resultsDir, ResultsFolders.Fingerprint(identity), log: log);
        return SeedRunner.Run(seeds, s => RunSeed(task, preset, p, s, folder, log, networks, generate, align), perSeed =>
        {
            var results = perSeed.Select(x => x.Result).ToList();
            var costs = perSeed.Select(x => x.Cost).ToList();
            var summary = TaskRunner.SummariseSeeds(task.ToString(), p, seeds, results, folder);
            PDiff.Storage.AtomicFile.WriteAllText(folder.Writable("costs.csv"), WholeNetworkCost.ToTable(costs).ToCsv());
            return (new SeedsResult(new TaskSpec(task.Dataset, task.Model.Arch, "whole"), results, summary) { Folder = folder.Directory }, (IReadOnlyList<WholeNetworkCost>)costs);
        }, log, task.ToString());
    }

    /// <summary>One pipeline seed of <see cref="RunSeeds"/>: its zoo, p-diff and evaluation in <c>seed&lt;s&gt;/</c>, and what they cost.</summary>
    static WholeNetworkSeed RunSeed(WholeNetworkTask task, PDiffConfig preset, Profile p, int seed, PDiff.Storage.OwnedFolder folder, TextWriter? log,
        int? networks, int? generate, bool align)
    {
        var zoo = EnsureZoo(task, p, seed, log, networks, align);
        var config = Config(preset, p, seed);
        // Twice K generated models; each baseline as many models as there are originals.
        var count = generate ?? Math.Min(ProfileDefaults.GeneratedCount(p), 2 * zoo.K);
        var r = TaskRunner.RunOnZoo(zoo, config, p, 1, folder.Sub($"seed{seed}"), log, Evaluation(zoo.K, zoo.K), count);
        try
        {
            return new WholeNetworkSeed(r, new WholeNetworkCost(task.Name, seed, zoo.Layout.Length, zoo.K, zoo.Manifest.Seconds.GetValueOrDefault("total"),
                r.Runs[0].TrainSeconds, r.Runs[0].GenerateSeconds, WholeNetworkCost.AeMultiplyAdds(zoo.Layout.Length, config), WholeNetworkCost.DenoiserMultiplyAdds(config)));
        }
        catch
        {
            r.Dispose();
            throw;
        }
    }

    /// <summary>A seed's results and costs; disposing it disposes the results.</summary>
    sealed record WholeNetworkSeed(TaskResult Result, WholeNetworkCost Cost) : IDisposable
    {
        public void Dispose() => Result.Dispose();
    }
}
