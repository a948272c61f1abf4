using PDiff.Diffusion;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Diffusion;

public class TrainingTests
{
    /// <summary>
    /// 16 vectors of length n (two "tensors" of n/2): a shared shape plus small per-checkpoint drifts.
    /// V1's folding autoencoders need n ≥ 162 (small: four folds of 3 with kernel 3), V2's works from 64.
    /// </summary>
    internal static (Tensor Vectors, SubsetLayout Layout) TinyZoo(int n = 64, int k = 16)
    {
        var h = n / 2;
        var layout = new SubsetLayout(new[] { new TensorSpec("bn.weight", new long[] { h }), new TensorSpec("bn.bias", new long[] { h }) });
        var data = new float[k * n];
        for (var i = 0; i < k; i++)
            for (var j = 0; j < n; j++)
                data[i * n + j] = (float)((j < h ? 1.0 : 0.0) + 0.3 * Math.Sin(j * 0.4) + 0.05 * Math.Cos(j * 0.9 + i * 0.7) + 0.01 * i);
        return (torch.tensor(data, k, n), layout);
    }

    internal static (Tensor Vectors, SubsetLayout Layout) ZooFor(string preset) => TinyZoo(preset == "v1" ? 192 : 64);

    /// <summary>Smoke-sized variants of the three presets; "chunked": the default with the chunked autoencoder; "standardized": the default with standardised latents.</summary>
    internal static PDiffConfig Small(string preset) => preset switch
    {
        "chunked" => Small("default") with { Autoencoder = AutoencoderKind.Chunked, AeChannels = new long[] { 16, 16 }, AeLr = 3e-3 },
        "standardized" => Small("default") with { StandardizeLatents = true },
        _ => SmallPreset(preset),
    };

    static PDiffConfig SmallPreset(string preset) => PDiffConfig.Preset(preset) switch
    {
        var c when c.Autoencoder == AutoencoderKind.V2OneDim => c with
        {
            AeChannels = new long[] { 8, 8, 8, 8, 4 }, LatentDim = 16, AeBatch = 8, AeLr = 1e-3, DiffBatch = 8, DiffLr = 1e-3,
            Timesteps = 50, LogEvery = 0, ValidateEvery = 0, CheckpointEvery = 5, ValidateModels = 2,
        },
        var c => c with
        {
            Autoencoder = AutoencoderKind.V1Small, AeBatch = 8, DiffBatch = 8, Timesteps = 50,
            LogEvery = 0, ValidateEvery = 0, CheckpointEvery = 5, ValidateModels = 2,
        },
    };

    static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "pdiff-diffusion-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    [Theory]
    [InlineData("default")]
    [InlineData("v1")]
    [InlineData("chunked")]
    public void AutoencoderLearnsToReconstructATinyZoo(string preset)
    {
        var (v, layout) = ZooFor(preset);
        using var _ = v;
        var cfg = Small(preset) with { AeSteps = 150, DiffSteps = 0, InputNoise = 0.001, LatentNoise = preset == "v1" ? 0.01 : 0.01, CheckpointEvery = 0 };
        using var trainer = new PDiffTrainer(cfg, v, layout, new TrainerOptions { Log = null });
        using var model = trainer.Train();
        var l = trainer.AeLosses;
        Assert.Equal(150, l.Count);
        var first = l.Take(5).Average();
        var last = l.Skip(140).Average();
        Assert.True(last < first / 10, $"AE loss fell only from {first} to {last}");
        // reconstructions in the original space are close to the originals
        using var z = model.EncodeVectors(v);
        using var back = model.DecodeLatents(z);
        var err = back.sub(v).abs().mean().item<float>();
        var size = v.abs().mean().item<float>();
        Assert.True(err < 0.2 * size, $"reconstruction error {err} vs mean |θ| {size}");
    }

    [Theory]
    [InlineData("default")]
    [InlineData("v2")]
    [InlineData("v1")]
    [InlineData("chunked")]
    [InlineData("standardized")]
    public void AKilledRunResumesToExactlyTheUninterruptedResult(string preset)
    {
        var (v, layout) = ZooFor(preset);
        using var _ = v;
        var cfg = Small(preset) with { AeSteps = 12, DiffSteps = 12 };
        var dirA = TempDir();
        var dirB = TempDir();
        try
        {
            PDiffModel Run(string dir, string? stopPhase = null, int stopStep = 0)
            {
                using var cts = new CancellationTokenSource();
                var opts = new TrainerOptions
                {
                    CheckpointDir = dir, Log = null, Cancellation = cts.Token,
                    OnStep = (phase, step) => { if (phase == stopPhase && step == stopStep) cts.Cancel(); },
                };
                using var t = new PDiffTrainer(cfg, v, layout, opts);
                return t.Train();
            }

            using var a = Run(dirA);
            Assert.Throws<OperationCanceledException>(() => Run(dirB, PDiffTrainer.AePhase, 8));           // killed after AE step 8; checkpoint at 5
            Assert.Throws<OperationCanceledException>(() => Run(dirB, PDiffTrainer.DiffusionPhase, 9));    // killed after diffusion step 9; checkpoint at 5
            using var b = Run(dirB);

            var sa = a.NamedState().ToList();
            var sb = b.NamedState().ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.Equal(sa.Count, sb.Count);
            foreach (var (key, ta) in sa)
                Assert.True(ta.allclose(sb[key], 0, 0), $"'{key}' differs after resume");

            using var ga = new Generator(7);
            using var gb = new Generator(7);
            using var ra = a.Generate(5, ga, a.Config.SamplerOptions with { Kind = SamplerKind.Ddim, Steps = 10 });
            using var rb = b.Generate(5, gb, b.Config.SamplerOptions with { Kind = SamplerKind.Ddim, Steps = 10 });
            Assert.True(ra.Vectors.allclose(rb.Vectors, 0, 0));
        }
        finally
        {
            Directory.Delete(dirA, true);
            Directory.Delete(dirB, true);
        }
    }

    [Fact]
    public void ResumingWithAnotherConfigurationIsRefused()
    {
        var (v, layout) = TinyZoo();
        using var _ = v;
        var cfg = Small("default") with { AeSteps = 5, DiffSteps = 0, CheckpointEvery = 5 };
        var dir = TempDir();
        try
        {
            using (var t = new PDiffTrainer(cfg, v, layout, new TrainerOptions { CheckpointDir = dir, Log = null }))
            using (t.Train()) { }
            using var t2 = new PDiffTrainer(cfg with { AeLr = 0.5 }, v, layout, new TrainerOptions { CheckpointDir = dir, Log = null });
            var e = Assert.Throws<InvalidOperationException>(() => t2.Train());
            Assert.Contains("different configuration", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void GenerationReturnsVectorsInParameterSpaceAndLatents_AndTheModelRoundTrips()
    {
        var (v, layout) = TinyZoo();
        using var _ = v;
        var cfg = Small("default") with { AeSteps = 40, DiffSteps = 10, CheckpointEvery = 0, ValidateEvery = 20 };
        using var trainer = new PDiffTrainer(cfg, v, layout, new TrainerOptions { Log = null, Scorer = new FakeScorer(layout) });
        using var model = trainer.Train();
        using var g = new Generator(3);
        using var r = model.Generate(7, g, chunk: 3);
        Assert.Equal(new long[] { 7, 64 }, r.Vectors.shape);
        Assert.Equal(new long[] { 7, 16 }, r.Latents.shape);
        using var dec = model.DecodeLatents(r.Latents);
        Assert.True(dec.allclose(r.Vectors, 0, 0));
        // raw space: the weight half of the zoo sits near 1, the bias half near 0
        Assert.InRange(r.Vectors.narrow(1, 0, 32).mean().item<float>() - r.Vectors.narrow(1, 32, 32).mean().item<float>(), 0.5, 1.5);

        Assert.Contains(trainer.Validations, x => x.Phase == PDiffTrainer.DiffusionPhase && x.Models == 2);
        Assert.Contains(trainer.Validations, x => x.Phase == PDiffTrainer.AePhase);

        var dir = TempDir();
        try
        {
            model.Save(dir);
            using var loaded = PDiffModel.Load(dir);
            using var g2 = new Generator(3);
            using var g3 = new Generator(3);
            using var r1 = model.Generate(4, g2);
            using var r2 = loaded.Generate(4, g3);
            Assert.True(r1.Vectors.allclose(r2.Vectors, 0, 0));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>"Accuracy" = 1 − mean |θ − 1| over the weight half: enough to see monitoring run on the validation split.</summary>
    sealed class FakeScorer(SubsetLayout layout) : ISubsetScorer
    {
        public SubsetLayout Layout => layout;
        public IReadOnlyList<ModelScore> Score(Tensor vectors, EvalSplit split)
        {
            Assert.Equal(EvalSplit.Validation, split);
            var rows = vectors.size(0);
            return Enumerable.Range(0, (int)rows).Select(i =>
            {
                using var w = vectors[i].narrow(0, 0, 32);
                using var d = w.add(-1.0).abs().mean();
                return new ModelScore(Math.Clamp(1 - d.item<float>(), 0, 1), WrongSet.FromBools(new bool[3]));
            }).ToList();
        }
    }
}
