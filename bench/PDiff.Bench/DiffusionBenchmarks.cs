using PDiff.TorchFixes;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using PDiff.Diffusion;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Bench;

/// <summary>
/// p-diff's training steps at the reference batch sizes (V2: 50, V1: 200) on N = 2048 parameters, the
/// BenchmarkDotNet twin of bench/PDiff.Bench.Diffusion (whose JSON lines pair with PyTorch's
/// shared/bench/torch_v2_reference.py). All cores, as training runs; the process settings the
/// pdiff CLI applies (<see cref="ProcessSettings"/>).
/// </summary>
[Config(typeof(LongOpConfig))]
public class DiffusionStepBenchmarks
{
    const int N = 2048;
    Generator g = null!;
    ParamAutoencoder ae = null!;
    Denoiser den = null!;
    GaussianDiffusion diffusion = null!;
    AdamW aeOpt = null!, denOpt = null!;
    Tensor vectors = null!, latents = null!;
    int batch;
    bool noisyTarget;

    [Params("v2", "v1")]
    public string Preset { get; set; } = "";

    /// <summary>The V2 modules' activation layout: [B, C, L] (default) or channels-last [B, C, 1, L].</summary>
    [Params(false)]
    public bool ChannelsLast { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        ProcessSettings.Apply();   // as the pdiff CLI (the entry point's setting, see ProcessSettings)
        g = new Generator(0);
        var v2 = Preset == "v2";
        var config = v2 ? PDiffConfig.V2 : PDiffConfig.V1;
        batch = config.AeBatch;
        noisyTarget = config.NoisyTarget;
        ae = v2 ? new OneDimVAE(N, g) { UseChannelsLast = ChannelsLast } : ODEncoder2Decoder.Medium(N, g, config.InputNoise, config.LatentNoise);
        den = v2 ? new OneDimCNN(128, g) { UseChannelsLast = ChannelsLast } : new AeCnnBottleneck(12, 1000, g, null, TimeEmbeddingMode.PerSample);
        ae.train();
        den.train();
        diffusion = new GaussianDiffusion();
        aeOpt = optim.AdamW(ae.parameters(), config.AeLr, weight_decay: 0);
        denOpt = optim.AdamW(den.parameters(), config.DiffLr, weight_decay: 0);
        vectors = randn(new long[] { 200, N }, generator: g).DetachFromDisposeScope();
        latents = randn(new long[] { 200, den.LatentSize }, generator: g).DetachFromDisposeScope();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var d in new IDisposable[] { aeOpt, denOpt, ae, den, diffusion, vectors, latents, g }) d.Dispose();
    }

    [Benchmark(Description = "autoencoder training step")]
    public void AutoencoderStep()
    {
        using var scope = NewDisposeScope();
        var idx = randint(0, 200, new long[] { batch }, generator: g);
        var loss = ae.TrainingLoss(vectors.index_select(0, idx), g, noisyTarget);
        ae.zero_grad();                     // as PDiffTrainer
        loss.backward();
        OptimizerSteps.Step(aeOpt);
    }

    [Benchmark(Description = "denoiser training step")]
    public void DenoiserStep()
    {
        using var scope = NewDisposeScope();
        var idx = randint(0, 200, new long[] { batch }, generator: g);
        var loss = diffusion.TrainingLoss(den, latents.index_select(0, idx), g);
        den.zero_grad();
        loss.backward();
        OptimizerSteps.Step(denOpt);
    }
}

/// <summary>
/// Generating 200 models in one batched chain with DDIM-50 (1,000 DDPM steps cost 20× as much). A call
/// takes tens of seconds, so few iterations.
/// </summary>
[Config(typeof(GenerationConfig))]
public class GenerationBenchmarks
{
    const int N = 2048;
    PDiffModel model = null!;
    SamplerOptions options = null!;

    [Params("v2", "v1")]
    public string Preset { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var config = Preset == "v2" ? PDiffConfig.V2 : PDiffConfig.V1;
        model = new PDiffModel(config, ParamNormalizer.Identity(N));
        options = config.SamplerOptions with { Kind = SamplerKind.Ddim, Steps = 50 };
    }

    [GlobalCleanup]
    public void Cleanup() => model.Dispose();

    [Benchmark(Description = "generate 200 models, DDIM 50 steps")]
    public void Generate200()
    {
        using var g = new Generator(1);
        using var r = model.Generate(200, g, options);
    }

    sealed class GenerationConfig : ManualConfig
    {
        public GenerationConfig()
        {
            AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1).WithLaunchCount(1).WithId("Wall"));
            AddColumn(StatisticColumn.Median, StatisticColumn.Min);
            WithOptions(ConfigOptions.DisableOptimizationsValidator);
        }
    }
}
