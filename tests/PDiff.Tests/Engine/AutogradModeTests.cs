using PDiff.Torch;
using Xunit;

namespace PDiff.Tests.Engine;

/// <summary>no_grad scopes, detach, requires_grad, gradient accumulation and zero_grad.</summary>
public class AutogradModeTests
{
    [Fact]
    public void NoGradBuildsNoGraphAndRestoresTheMode()
    {
        using var w = torch.ones(3).requires_grad_();
        Assert.True(torch.is_grad_enabled());
        using (torch.no_grad())
        {
            Assert.False(torch.is_grad_enabled());
            using var y = w.mul(2);
            Assert.False(y.requires_grad);
            Assert.True(y.is_leaf);
            using (torch.enable_grad())
            {
                using var z = w.mul(2);
                Assert.True(z.requires_grad);
            }
            Assert.False(torch.is_grad_enabled());
        }
        Assert.True(torch.is_grad_enabled());

        // An exception inside the scope still restores the mode.
        Assert.Throws<InvalidOperationException>((Action)(() =>
        {
            using (torch.no_grad()) throw new InvalidOperationException();
        }));
        Assert.True(torch.is_grad_enabled());
    }

    [Fact]
    public void GradModeIsPerThread()
    {
        using (torch.no_grad())
        {
            var other = false;
            var t = new Thread(() => other = torch.is_grad_enabled());
            t.Start();
            t.Join();
            Assert.True(other);
        }
    }

    [Fact]
    public void DetachSharesStorageButNotTheGraph()
    {
        using var w = torch.tensor(new float[] { 1, 2, 3 }).requires_grad_();
        using var y = w.mul(2);
        using var d = y.detach();
        Assert.False(d.requires_grad);
        Assert.True(d.is_leaf);
        Assert.True(y.requires_grad);
        Assert.False(y.is_leaf);
        d.add_(1); // in place on the detached view changes y too: same storage
        Assert.Equal(new float[] { 3, 5, 7 }, y.data<float>());
    }

    [Fact]
    public void RequiresGradRules()
    {
        using var x = torch.ones(2);
        Assert.False(x.requires_grad);
        x.requires_grad = true;
        Assert.True(x.requires_grad);
        using var y = x.mul(3);
        var nonLeaf = Assert.Throws<TorchException>(() => y.requires_grad = false);
        Assert.Contains("leaf", nonLeaf.NativeMessage);
        using var ids = torch.tensor(new long[] { 1, 2 });
        var integer = Assert.Throws<TorchException>(() => ids.requires_grad_());
        Assert.Contains("floating point", integer.NativeMessage);
    }

    [Fact]
    public void GradientsAccumulateUntilZeroGrad()
    {
        using var w = torch.tensor(new double[] { 1, 2 }).requires_grad_();
        Assert.Null(w.grad);
        for (var i = 0; i < 2; i++)
        {
            using var loss = w.pow(2).sum(); // d/dw = 2w
            loss.backward();
        }
        using (var g = w.grad!) Assert.Equal(new double[] { 4, 8 }, g.data<double>());
        w.zero_grad();
        Assert.Null(w.grad);
        using var again = w.mul(3).sum();
        again.backward();
        using (var g = w.grad!) Assert.Equal(new double[] { 3, 3 }, g.data<double>());
        // A non-leaf keeps no gradient.
        using var h = w.mul(2);
        using var s = h.sum();
        s.backward();
        Assert.Null(h.grad);
    }

    [Fact]
    public void RetainGraphAllowsASecondBackward()
    {
        using var w = torch.ones(2).requires_grad_();
        using var loss = w.exp().sum();
        loss.backward(retainGraph: true);
        loss.backward();
        var third = Assert.Throws<TorchException>(() => loss.backward());
        Assert.Contains("backward through the graph a second time", third.NativeMessage);
        using var g = w.grad!;
        Assert.Equal(2 * Math.E, g.data<float>()[0], 1e-5);
    }

    [Fact]
    public void BackwardWithAnExplicitGradient()
    {
        using var w = torch.tensor(new double[] { 1, 2, 3 }).requires_grad_();
        using var y = w.mul(w);
        using var seed = torch.tensor(new double[] { 1, 0, 2 });
        y.backward(seed);
        using var g = w.grad!;
        Assert.Equal(new double[] { 2, 0, 12 }, g.data<double>());
    }
}
