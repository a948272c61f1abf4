using PDiff.Nn;
using PDiff.Torch;
using Xunit;

namespace PDiff.Tests.Nn;

public class OptimizerTests
{
    static Tensor Param(params float[] v) => torch.tensor(v).requires_grad_();

    static void SetGrad(Tensor p, params float[] g)
    {
        using var t = torch.tensor(g);
        p.grad = t;
    }

    [Fact]
    public void AdamWFirstStepMatchesHandComputation()
    {
        using var p = Param(1f, -2f);
        using var opt = new AdamW(new[] { p }, lr: 0.1, weightDecay: 0.5);
        SetGrad(p, 0.3f, -4f);
        opt.step();
        // Decoupled decay, then m̂ = g, v̂ = g²: θ ← θ(1 − lr·wd) − lr·g/(|g| + eps).
        var expected = new[] { 1 * (1 - 0.05) - 0.1 * 0.3 / (0.3 + 1e-8), -2 * (1 - 0.05) + 0.1 * 4 / (4 + 1e-8) };
        Assert.Equal(expected[0], p.data<float>()[0], 5);
        Assert.Equal(expected[1], p.data<float>()[1], 5);
    }

    [Fact]
    public void SgdMomentumAndWeightDecayMatchPyTorchRule()
    {
        using var p = Param(1f);
        using var opt = new SGD(new[] { p }, lr: 0.1, momentum: 0.9, weightDecay: 0.01);
        SetGrad(p, 2f);
        opt.step();                      // g' = 2 + 0.01·1 = 2.01; buf = 2.01; θ = 1 − 0.201
        Assert.Equal(0.799, p.data<float>()[0], 5);
        SetGrad(p, 2f);
        opt.step();                      // g' = 2 + 0.00799; buf = 0.9·2.01 + 2.00799; θ -= 0.1·buf
        Assert.Equal(0.799 - 0.1 * (0.9 * 2.01 + 2.00799), p.data<float>()[0], 5);
    }

    [Fact]
    public void StateSaveAndLoadResumesIdentically()
    {
        var dir = Directory.CreateTempSubdirectory("pdiff-opt").FullName;
        try
        {
            using var a = Param(1f, 2f);
            using var b = Param(1f, 2f);
            using var oa = new AdamW(new[] { a }, lr: 0.01);
            using var ob = new AdamW(new[] { b }, lr: 0.01);
            for (var i = 0; i < 3; i++) { SetGrad(a, 0.5f, -1f); oa.step(); }
            var path = Path.Combine(dir, "opt.pt");
            oa.Save(path);
            using (torch.no_grad()) b.copy_(a);
            ob.Load(path);
            SetGrad(a, 0.2f, 0.2f); oa.step();
            SetGrad(b, 0.2f, 0.2f); ob.step();
            Assert.Equal(a.data<float>(), b.data<float>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FrozenParameterIsRejected()
    {
        using var p = torch.zeros(2);
        var ex = Assert.Throws<ArgumentException>(() => new SGD(new[] { p }, 0.1));
        Assert.Contains("does not require grad", ex.Message);
    }

    [Fact]
    public void SchedulesFollowPyTorchClosedForms()
    {
        var cos = new CosineLr(0.1, 10, 0.001);
        Assert.Equal(0.1, cos.At(0), 12);
        Assert.Equal(0.001 + 0.099 * (1 + Math.Cos(Math.PI * 3 / 10)) / 2, cos.At(3), 12);
        Assert.Equal(0.001, cos.At(10), 12);
        Assert.Equal(0.001, cos.At(25), 12);
        var ms = new MultiStepLr(0.1, new long[] { 10, 20, 30 }, 0.1);
        Assert.Equal(0.1, ms.At(9), 12);
        Assert.Equal(0.01, ms.At(10), 12);
        Assert.Equal(1e-4, ms.At(30), 12);
        Assert.Equal(0.03, new ConstantLr(0.03).At(1000));

        using var p = Param(0f);
        using var opt = new SGD(new[] { p }, lr: 1);
        var sched = new LrScheduler(opt, ms);
        Assert.Equal(0.1, opt.LearningRate, 12);
        for (var i = 0; i < 10; i++) sched.step();
        Assert.Equal(0.01, opt.LearningRate, 12);
    }

    [Fact]
    public void EmaBlendsTowardsTheModel()
    {
        using var g = new Generator(1);
        using var g2 = new Generator(2);
        using var model = new Linear(2, 1, g);
        using var ema = new Ema(model, new Linear(2, 1, g2), 0.9);
        var w0 = model.weight.data<float>();
        Assert.Equal(w0, ((Linear)ema.Shadow).weight.data<float>());
        using (torch.no_grad()) model.weight.add_(1.0);
        ema.Update();
        var expected = w0.Select(v => 0.9f * v + 0.1f * (v + 1)).ToArray();
        Assert.Equal(expected, ((Linear)ema.Shadow).weight.data<float>(), new FloatNear(1e-6f));
        Assert.Equal(1, ema.Updates);
    }
}
