using PDiff.Diffusion;
using PDiff.TorchFixes;
using PDiff.Models;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// Training and sampling while another thread allocates and forces collections without pause: the
/// situation in which TorchSharp 0.107 frees an implicitly made Scalar while libtorch reads it
/// (docs/design-notes.md, "Scalars and the garbage collector"). Thousands of steps on tiny models — a p-diff
/// training (AdamW, batch norms, ELU, leaky ReLU; 800 steps), DDPM and DDIM sampling (300 steps), and an MLP
/// classifier trained with SGD and momentum (400 steps) — must run without an error and give the same bits as
/// the same work done without the collector thread. The race itself is rare (seen once in the whole suite), so
/// this is a guard against regressions that a short run can catch, next to ImplicitScalarTests' analysis.
/// </summary>
public class ScalarStressTests
{
    static readonly SubsetLayout Layout = new(new[] { new TensorSpec("bn.weight", new long[] { 16 }), new TensorSpec("bn.bias", new long[] { 16 }) });

    static readonly PDiffConfig Config = PDiffConfig.V2 with
    {
        AeChannels = new long[] { 4, 4, 4, 4, 4 }, LatentDim = 8, AeBatch = 4, DiffBatch = 4, Timesteps = 100,
        LogEvery = 0, ValidateEvery = 0, CheckpointEvery = 0, AeSteps = 400, DiffSteps = 400,
    };

    /// <summary>Every number the work produced: p-diff losses, generated vectors, the classifier's weights.</summary>
    static float[] Work()
    {
        using var scope = NewDisposeScope();
        var values = new List<float>();
        var data = new float[8 * Layout.Length];
        for (var i = 0; i < data.Length; i++) data[i] = (float)(Math.Sin(0.37 * i) + 0.1 * (i % 5));
        using (var trainer = new PDiffTrainer(Config, tensor(data, new long[] { 8, Layout.Length }), Layout, new TrainerOptions { Log = null }))
        using (var model = trainer.Train())
        {
            values.AddRange(trainer.AeLosses);
            values.AddRange(trainer.DiffusionLosses);
            foreach (var options in new[] { new SamplerOptions(), new SamplerOptions(SamplerKind.Ddim, Steps: 50) })
                for (var seed = 0UL; seed < 2; seed++)
                {
                    using var g = new Generator(seed);
                    using var generated = model.Generate(2, g, options);
                    values.AddRange(generated.Vectors.data<float>().ToArray());
                }
        }

        var spec = ModelRegistry.Complete(new ModelSpec { Arch = "mlp", Hidden = new[] { 16 }, ImageSize = 4 });
        using var classifier = ModelRegistry.Create(spec, 5UL);
        using var optimizer = optim.SGD(classifier.parameters(), 0.05, momentum: 0.9, weight_decay: 5e-4);
        using var gen = new Generator(9);
        using var x = randn(new long[] { 32, 1, 4, 4 }, generator: gen);
        using var y = randint(0, 10, new long[] { 32 }, generator: gen);
        classifier.train();
        for (var step = 0; step < 400; step++)
        {
            using var stepScope = NewDisposeScope();
            var loss = F.cross_entropy(classifier.forward(x), y);
            optimizer.zero_grad();
            loss.backward();
            OptimizerSteps.Step(optimizer);
            values.Add((float)loss.ReadDouble());
        }
        foreach (var p in classifier.parameters()) values.AddRange(p.data<float>().ToArray());
        return values.ToArray();
    }

    [Fact]
    public void TrainingAndSamplingUnderConstantCollectionsFailNeverAndMatchAQuietRun()
    {
        var quiet = Work();
        Assert.All(quiet, v => Assert.True(float.IsFinite(v)));

        using var stop = new CancellationTokenSource();
        long collections = 0;
        var collector = new Thread(() =>
        {
            var keep = new List<byte[]>();
            while (!stop.IsCancellationRequested)
            {
                for (var i = 0; i < 64; i++) keep.Add(new byte[1024 * (1 + i % 16)]);   // garbage, some of it promoted
                if (keep.Count > 4096) keep.Clear();
                // Mostly young-generation collections (where a just-made Scalar lives), a full one now and then.
                GC.Collect(Interlocked.Increment(ref collections) % 50 == 0 ? 2 : 0);
                GC.WaitForPendingFinalizers();
            }
        }) { IsBackground = true, Name = "collector" };
        collector.Start();
        float[] stressed;
        try { stressed = Work(); }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
        Assert.True(Interlocked.Read(ref collections) > 100, $"only {collections} forced collections ran during the work");
        Assert.Equal(quiet.Length, stressed.Length);
        Assert.True(quiet.SequenceEqual(stressed), "the work under collections gave other numbers than the quiet run");
    }
}
