using PDiff.TorchFixes;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Nn;

/// <summary>
/// Our optimizer steps (OptimizerSteps, on TorchSharp's AdamW and SGD objects) and TorchSharp's schedules
/// follow PyTorch's update rules and closed forms (reference §0), worked out by hand here; optimizer state
/// saved mid-run resumes bit for bit. (That the steps equal TorchSharp's own: TorchFixes/OptimizerStepsTests.
/// The EMA of the weights is ours and is tested with lib/Diffusion/Training.)
/// </summary>
public class OptimizerTests
{
    static Parameter Param(params float[] v) => new(torch.tensor(v));

    /// <summary>Sets p.grad to g the way training does: backward of Σ p·g.</summary>
    static void SetGrad(Parameter p, params float[] g)
    {
        using var scope = torch.NewDisposeScope();
        if (p.grad is { } old) old.zero_();
        p.mul(torch.tensor(g)).sum().backward();
    }

    static float[] Values(Tensor t) => t.data<float>().ToArray();

    [Fact]
    public void AdamWFirstStepMatchesHandComputation()
    {
        using var p = Param(1f, -2f);
        using var opt = torch.optim.AdamW(new[] { p }, lr: 0.1, weight_decay: 0.5);
        SetGrad(p, 0.3f, -4f);
        OptimizerSteps.Step(opt);
        // Decoupled decay, then m̂ = g, v̂ = g²: θ ← θ(1 − lr·wd) − lr·g/(|g| + eps).
        var expected = new[] { 1 * (1 - 0.05) - 0.1 * 0.3 / (0.3 + 1e-8), -2 * (1 - 0.05) + 0.1 * 4 / (4 + 1e-8) };
        Assert.Equal(expected[0], Values(p)[0], 5);
        Assert.Equal(expected[1], Values(p)[1], 5);
    }

    [Fact]
    public void AdamWSecondStepUsesBiasCorrectedMoments()
    {
        using var p = Param(1f);
        using var opt = torch.optim.AdamW(new[] { p }, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1);
        SetGrad(p, 0.5f);
        OptimizerSteps.Step(opt);
        SetGrad(p, -1f);
        OptimizerSteps.Step(opt);
        double theta = 1, m = 0, v = 0;
        foreach (var (g, t) in new[] { (0.5, 1), (-1.0, 2) })
        {
            theta *= 1 - 0.01 * 0.1;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            var mHat = m / (1 - Math.Pow(0.9, t));
            var vHat = v / (1 - Math.Pow(0.999, t));
            theta -= 0.01 * mHat / (Math.Sqrt(vHat) + 1e-8);
        }
        Assert.Equal(theta, Values(p)[0], 6);
    }

    [Fact]
    public void AdamWDefaultWeightDecayIsZeroUnlikePyTorch()
    {
        // PyTorch's AdamW defaults to weight_decay = 0.01; TorchSharp's to 0. Our callers always pass it;
        // this test says why they must.
        using var p = Param(1f);
        using var opt = torch.optim.AdamW(new[] { p }, lr: 0.1);
        SetGrad(p, 0.3f);
        OptimizerSteps.Step(opt);
        Assert.Equal(1 - 0.1 * 0.3 / (0.3 + 1e-8), Values(p)[0], 6);
    }

    [Fact]
    public void SgdMomentumAndWeightDecayMatchPyTorchRule()
    {
        using var p = Param(1f);
        using var opt = torch.optim.SGD(new[] { p }, 0.1, momentum: 0.9, weight_decay: 0.01);
        SetGrad(p, 2f);
        OptimizerSteps.Step(opt);   // g' = 2 + 0.01·1 = 2.01; buf = 2.01; θ = 1 − 0.201
        Assert.Equal(0.799, Values(p)[0], 5);
        SetGrad(p, 2f);
        OptimizerSteps.Step(opt);   // g' = 2 + 0.00799; buf = 0.9·2.01 + 2.00799; θ -= 0.1·buf
        Assert.Equal(0.799 - 0.1 * (0.9 * 2.01 + 2.00799), Values(p)[0], 5);
    }

    [Fact]
    public void ParametersWithoutAGradientAreLeftAlone()
    {
        // PyTorch skips parameters whose grad is None, weight decay included: how a frozen part of a
        // model stays put while the optimizer holds all of its parameters.
        using var trained = Param(1f);
        using var frozen = new Parameter(torch.tensor(new float[] { 1f }), requires_grad: false);
        using var opt = torch.optim.AdamW(new[] { trained, frozen }, lr: 0.1, weight_decay: 0.5);
        SetGrad(trained, 1f);
        OptimizerSteps.Step(opt);
        Assert.NotEqual(1f, Values(trained)[0]);
        Assert.Equal(1f, Values(frozen)[0]);
    }

    [Fact]
    public void StateSaveAndLoadResumesIdentically()
    {
        var dir = Directory.CreateTempSubdirectory("pdiff-opt").FullName;
        try
        {
            using var a = Param(1f, 2f);
            using var b = Param(1f, 2f);
            using var oa = torch.optim.AdamW(new[] { a }, lr: 0.01, weight_decay: 0.01);
            using var ob = torch.optim.AdamW(new[] { b }, lr: 0.01, weight_decay: 0.01);
            for (var i = 0; i < 3; i++) { SetGrad(a, 0.5f, -1f); OptimizerSteps.Step(oa); }
            var path = Path.Combine(dir, "opt.bin");
            oa.save_state_dict(path);
            using (torch.no_grad()) b.copy_(a);
            ob.load_state_dict(path);
            // Without the moments and the step count the next step would differ (bias correction).
            SetGrad(a, 0.2f, 0.2f); OptimizerSteps.Step(oa);
            SetGrad(b, 0.2f, 0.2f); OptimizerSteps.Step(ob);
            Assert.Equal(Values(a), Values(b));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CosineAnnealingFollowsTheClosedForm()
    {
        using var p = Param(0f);
        using var opt = torch.optim.SGD(new[] { p }, 0.1);
        var sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10, eta_min: 0.001);
        var group = opt.ParamGroups.First();
        // lr_t = η_min + (η_0 − η_min)(1 + cos(π t / T)) / 2 for t ≤ T.
        for (var t = 0; t <= 10; t++)
        {
            Assert.Equal(0.001 + 0.099 * (1 + Math.Cos(Math.PI * t / 10)) / 2, group.LearningRate, 10);
            OptimizerSteps.Step(opt);
            sched.step();
        }
    }

    [Fact]
    public void MultiStepDecaysAtTheMilestones()
    {
        using var p = Param(0f);
        using var opt = torch.optim.SGD(new[] { p }, 0.1);
        var sched = torch.optim.lr_scheduler.MultiStepLR(opt, new[] { 10, 20, 30 }, 0.1);
        var group = opt.ParamGroups.First();
        var seen = new List<double>();
        for (var t = 0; t <= 30; t++)
        {
            seen.Add(group.LearningRate);
            OptimizerSteps.Step(opt);
            sched.step();
        }
        Assert.Equal(0.1, seen[9], 12);
        Assert.Equal(0.01, seen[10], 12);
        Assert.Equal(0.001, seen[20], 12);
        Assert.Equal(1e-4, seen[30], 12);
    }

    [Fact]
    public void SettingTheGroupsLearningRateTakesEffectAtTheNextStep()
    {
        // A resumed run restarts its schedule at step n by setting the closed-form rate directly.
        using var p = Param(1f);
        using var opt = torch.optim.SGD(new[] { p }, 0.1);
        opt.ParamGroups.First().LearningRate = 0.5;
        SetGrad(p, 1f);
        OptimizerSteps.Step(opt);
        Assert.Equal(0.5, Values(p)[0], 6);
    }
}
