using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// <see cref="OptimizerSteps"/> is TorchSharp's own AdamW and SGD step with disposed Scalars: over 50 steps of a
/// small classifier it gives the same bits as <c>optimizer.step()</c> for every option our recipes use (and
/// Nesterov, dampening), with a learning rate that changes every step and a frozen parameter; its state stays
/// in TorchSharp's file format. (Hand-computed steps: Nn/OptimizerTests, which run OptimizerSteps.)
/// </summary>
public class OptimizerStepsTests
{
    /// <summary>Two identical 5→7→3 classifiers (one per optimizer) and a fixed batch of 12 rows.</summary>
    sealed class Twin : IDisposable
    {
        public readonly nn.Module<Tensor, Tensor> A, B;
        readonly Tensor x, y;

        public Twin(bool freezeFirstBias = false)
        {
            A = Make(); B = Make();
            using (no_grad())
                foreach (var (pa, pb) in A.parameters().Zip(B.parameters())) pb.copy_(pa);
            using var g = new Generator(7);
            x = randn(new long[] { 12, 5 }, generator: g);
            y = randint(0, 3, new long[] { 12 }, generator: g);
            foreach (var m in new[] { A, B })
                if (freezeFirstBias) m.parameters().ElementAt(1).requires_grad = false;
        }

        static nn.Module<Tensor, Tensor> Make() => nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3));

        /// <summary>Forward and backward on both twins (same input, so the same gradients while their weights agree).</summary>
        public void Backward()
        {
            foreach (var m in new[] { A, B })
            {
                using var scope = NewDisposeScope();
                m.zero_grad();
                F.cross_entropy(m.forward(x), y).backward();
            }
        }

        public void AssertSameBits(int step)
        {
            foreach (var (pa, pb) in A.parameters().Zip(B.parameters()))
                Assert.True(pa.data<float>().ToArray().SequenceEqual(pb.data<float>().ToArray()), $"parameters differ after step {step}");
        }

        public void Dispose()
        {
            A.Dispose(); B.Dispose(); x.Dispose(); y.Dispose();
        }
    }

    static bool Same(Tensor a, Tensor b) => a.data<float>().ToArray().SequenceEqual(b.data<float>().ToArray());

    /// <summary>Runs 50 steps, TorchSharp's step on A and ours on B, setting a cosine learning rate on both before each.</summary>
    static void Compare(Twin twin, optim.Optimizer theirs, optim.Optimizer ours, double lr)
    {
        using var before = twin.B.parameters().First().clone();
        for (var step = 1; step <= 50; step++)
        {
            var rate = lr * (1 + Math.Cos(Math.PI * step / 50)) / 2 + lr / 100;
            foreach (var g in theirs.ParamGroups.Concat(ours.ParamGroups)) g.LearningRate = rate;
            twin.Backward();
            theirs.step();
            OptimizerSteps.Step(ours);
            twin.AssertSameBits(step);
        }
        Assert.False(Same(before, twin.B.parameters().First()), "the parameters did not move: the comparison proves nothing");
    }

    [Theory]
    [InlineData(2e-3, 5e-4, 0.9, 0.999)]   // the quick profile's base recipe and collection
    [InlineData(1e-3, 2e-6, 0.9, 0.999)]   // p-diff's autoencoder and denoiser
    [InlineData(5e-2, 0.0, 0.8, 0.99)]     // no weight decay, other betas
    public void AdamWMatchesTorchSharpBitForBit(double lr, double weightDecay, double beta1, double beta2)
    {
        using var twin = new Twin();
        using var theirs = optim.AdamW(twin.A.parameters(), lr, beta1, beta2, 1e-8, weightDecay);
        using var ours = optim.AdamW(twin.B.parameters(), lr, beta1, beta2, 1e-8, weightDecay);
        Compare(twin, theirs, ours, lr);
        // The moments and step counts agree too, so a checkpoint holds the same state.
        foreach (var (a, b) in theirs.state_dict().State.Cast<AdamW.State>().Zip(ours.state_dict().State.Cast<AdamW.State>()))
        {
            Assert.Equal(a.step, b.step);
            Assert.True(Same(a.exp_avg, b.exp_avg) && Same(a.exp_avg_sq, b.exp_avg_sq));
        }
    }

    [Theory]
    [InlineData(0.1, 0.9, 0.0, 5e-4, false)]   // the V1 recipe: momentum 0.9, weight decay 5e-4
    [InlineData(0.1, 0.0, 0.0, 0.0, false)]    // plain SGD
    [InlineData(0.05, 0.9, 0.0, 1e-3, true)]   // Nesterov
    [InlineData(0.05, 0.9, 0.3, 0.0, false)]   // dampening
    public void SgdMatchesTorchSharpBitForBit(double lr, double momentum, double dampening, double weightDecay, bool nesterov)
    {
        using var twin = new Twin();
        using var theirs = optim.SGD(twin.A.parameters(), lr, momentum, dampening, weightDecay, nesterov);
        using var ours = optim.SGD(twin.B.parameters(), lr, momentum, dampening, weightDecay, nesterov);
        Compare(twin, theirs, ours, lr);
    }

    [Fact]
    public void AFrozenParameterIsLeftAloneAsByTorchSharp()
    {
        using var twin = new Twin(freezeFirstBias: true);
        using var theirs = optim.AdamW(twin.A.parameters(), 1e-2, weight_decay: 0.1);
        using var ours = optim.AdamW(twin.B.parameters(), 1e-2, weight_decay: 0.1);
        using var frozen = twin.B.parameters().ElementAt(1).clone();
        Compare(twin, theirs, ours, 1e-2);
        Assert.True(Same(frozen, twin.B.parameters().ElementAt(1)), "a parameter without a gradient moved (weight decay must skip it too)");
    }

    [Fact]
    public void StateSavedAfterOurStepsResumesInAFreshOptimizer()
    {
        var dir = Directory.CreateTempSubdirectory("pdiff-optsteps").FullName;
        try
        {
            using var twin = new Twin();
            using var first = optim.AdamW(twin.A.parameters(), 1e-2, weight_decay: 0.01);
            using var second = optim.AdamW(twin.B.parameters(), 1e-2, weight_decay: 0.01);
            for (var i = 0; i < 3; i++) { twin.Backward(); OptimizerSteps.Step(first); OptimizerSteps.Step(second); }
            var path = Path.Combine(dir, "adamw.bin");
            second.save_state_dict(path);
            using var resumed = optim.AdamW(twin.B.parameters(), 1e-2, weight_decay: 0.01);
            resumed.load_state_dict(path);
            for (var i = 0; i < 3; i++) { twin.Backward(); OptimizerSteps.Step(first); OptimizerSteps.Step(resumed); }
            twin.AssertSameBits(6);   // without the moments and step counts step 4 would differ (bias correction)
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void OptionsAndOptimizersWithoutASafeStepAreRefused()
    {
        using var p = new Parameter(tensor(new float[] { 1f }));
        using var amsgrad = optim.AdamW(new[] { p }, 0.1, amsgrad: true);
        Assert.Contains("amsgrad", Assert.Throws<NotSupportedException>(() => OptimizerSteps.Step(amsgrad)).Message);
        using var adam = optim.Adam(new[] { p }, 0.1);
        Assert.Contains("for Adam;", Assert.Throws<NotSupportedException>(() => OptimizerSteps.Step(adam)).Message);
        Assert.Equal(1f, p.data<float>()[0]);
    }
}
