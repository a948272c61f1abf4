using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using PDiff.TorchFixes;
using PDiff.Models;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Bench;

/// <summary>
/// Operations of seconds, timed once per iteration by the wall clock and by the benchmark thread's CPU
/// time. The zoo benchmarks run libtorch on one thread, so the thread's CPU time is the whole cost of a
/// call however busy the machine is (on 2 free cores, wall time is about that divided by 1.7–2).
/// </summary>
public sealed class SecondsConfig : ManualConfig
{
    public SecondsConfig()
    {
        var job = Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(1).WithIterationCount(5).WithInvocationCount(1).WithUnrollFactor(1).WithLaunchCount(1);
        AddJob(job.WithId("Wall"));
        AddJob(job.WithClock(ThreadCpuClock.Instance).WithId("ThreadCpu"));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}

static class ZooBench
{
    public static ModelSpec Spec(string name) => name switch
    {
        "mlp" => new ModelSpec { Arch = "mlp" },
        "convnet3" => new ModelSpec { Arch = "convnet3", Width = 128 },
        "resnet18-w8" => new ModelSpec { Arch = "resnet18", Width = 8 },
        "resnet18-w16" => new ModelSpec { Arch = "resnet18", Width = 16 },
        "resnet18-w64" => new ModelSpec { Arch = "resnet18", Width = 64 },
        "vit-d6" => new ModelSpec { Arch = "vit", Depth = 6 },
        _ => throw new ArgumentException(name),
    };
}

/// <summary>
/// What the train-step and collection-step benchmarks share: a model of the chosen architecture on one
/// thread, an optimiser, and one fixed batch of 128 random 28×28 images (seed 2), all freed at cleanup.
/// </summary>
public abstract class StepBenchmarkBase
{
    protected ImageClassifier model = null!;
    protected IDisposable opt = null!;
    protected Tensor x = null!, y = null!;

    protected void CreateModelAndBatch(string arch)
    {
        torch.set_num_threads(1);
        model = ModelRegistry.Create(ZooBench.Spec(arch), 1UL);
        using var g = new Generator(2);
        x = randn(new long[] { 128, 1, 28, 28 }, generator: g).DetachFromDisposeScope();
        y = randint(0, 10, new long[] { 128 }, generator: g).DetachFromDisposeScope();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        opt.Dispose();
        model.Dispose();
        x.Dispose();
        y.Dispose();
    }
}

/// <summary>
/// One SGD step (batch 128, 28×28) of each base architecture. An epoch of Fashion-MNIST (55,000 training
/// images) is 430 such steps.
/// </summary>
[Config(typeof(SecondsConfig))]
public class ZooTrainStepBenchmarks : StepBenchmarkBase
{
    optim.Optimizer sgd = null!;

    /// <summary>All six by default; PDIFF_BENCH_ARCHS=a,b picks some (the ViT needs an optimised BLAS to finish quickly).</summary>
    public static IEnumerable<string> Archs() =>
        Environment.GetEnvironmentVariable("PDIFF_BENCH_ARCHS")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        ?? new[] { "mlp", "convnet3", "resnet18-w8", "resnet18-w16", "resnet18-w64", "vit-d6" };

    [ParamsSource(nameof(Archs))]
    public string Arch { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        CreateModelAndBatch(Arch);
        model.train();
        opt = sgd = optim.SGD(model.parameters(), 0.05, momentum: 0.9, weight_decay: 5e-4);
    }

    [Benchmark(Description = "train step, batch 128")]
    public void TrainStep()
    {
        using var scope = NewDisposeScope();
        var loss = F.cross_entropy(model.forward(x), y);
        model.zero_grad();
        loss.backward();
        OptimizerSteps.Step(sgd);
    }
}

/// <summary>
/// Scoring subset vectors (ResNet-18, last-two-norms): 4 vectors on 256 images, with the cached scorer
/// (activations entering layer4.1.bn1 computed once, in setup) and with the full forward pass.
/// Scoring 200 vectors on the 10,000 test images is 50 × 39 = 1,953 times this work.
/// </summary>
[Config(typeof(SecondsConfig))]
public class ZooScoringBenchmarks
{
    ImageClassifier model = null!;
    CachedScorer cached = null!;
    FullScorer full = null!;
    Tensor vectors = null!, x = null!, yl = null!;

    [Params("resnet18-w8", "resnet18-w16", "resnet18-w64")]
    public string Arch { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        model = ModelRegistry.Create(ZooBench.Spec(Arch), 1UL);
        model.eval();
        var layout = Subsets.Resolve(model, "last-two-norms");
        using var g = new Generator(2);
        x = randn(new long[] { 256, 1, 28, 28 }, generator: g).DetachFromDisposeScope();
        yl = randint(0, 10, new long[] { 256 }, generator: g).DetachFromDisposeScope();
        var data = new LabeledImages(x, yl);
        using (var v = Subsets.Flatten(model, layout))
        using (var noise = randn(new long[] { 4, layout.Length }, generator: g))
        using (var scaled = noise.mul(0.1))
            vectors = scaled.add(v).DetachFromDisposeScope();
        cached = new CachedScorer(model, layout, data, data);
        full = new FullScorer(model, layout, data, data, batchSize: 256);
        cached.Score(vectors, EvalSplit.Test); // builds the cache once, as a zoo or evaluation run would
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        cached.Dispose();
        model.Dispose();
        vectors.Dispose();
        x.Dispose();
        yl.Dispose();
    }

    [Benchmark(Description = "score 4 vectors × 256 images, cached")]
    public void Cached() => cached.Score(vectors, EvalSplit.Test);

    [Benchmark(Description = "score 4 vectors × 256 images, full pass")]
    public void Full() => full.Score(vectors, EvalSplit.Test);
}

/// <summary>
/// One V2 collection step (batch 128, AdamW on last-two-norms of ResNet-18): the frozen layers under
/// no_grad, the tail with autograd. Collecting K = 200 is 201 steps, then scoring (above).
/// </summary>
[Config(typeof(SecondsConfig))]
public class ZooCollectStepBenchmarks : StepBenchmarkBase
{
    optim.Optimizer adamw = null!;
    int cut;

    [Params("resnet18-w8", "resnet18-w16", "resnet18-w64")]
    public string Arch { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        CreateModelAndBatch(Arch);
        model.eval();
        var parameters = ModuleTree.Parameters(model);
        foreach (var p in parameters.Values) p.requires_grad = false;
        var layout = Subsets.Resolve(model, "last-two-norms");
        var trainable = layout.Tensors.Select(t => parameters[t.Name]).ToList();
        foreach (var t in trainable) t.requires_grad = true;
        cut = model.FirstStageTouching(layout.Tensors.Select(t => t.Name));
        opt = adamw = optim.AdamW(trainable, 0.03, weight_decay: 5e-4);
    }

    [Benchmark(Description = "collection step, batch 128")]
    public void Step()
    {
        using var scope = NewDisposeScope();
        Activations head;
        using (no_grad())
        using (var input = new Activations(x.alias()))
            head = model.RunStages(input, 0, cut);
        using (head)
        using (var tail = model.RunStages(head, cut, model.Stages.Count))
        {
            var loss = F.cross_entropy(tail.Main, y);
            model.zero_grad();
            loss.backward();
            OptimizerSteps.Step(adamw);
        }
    }
}
