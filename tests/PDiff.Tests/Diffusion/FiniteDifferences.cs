using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Diffusion;

/// <summary>
/// Central finite differences against autograd, in float64, for the layers we wrote ourselves (not stock
/// TorchSharp ops). The output is reduced with fixed, non-uniform weights (a plain sum hides errors that
/// cancel); then, for a spread of elements x_k of every leaf (input or parameter),
/// (L(x + h·e_k) − L(x − h·e_k)) / 2h must equal ∂L/∂x_k from backward(). With h = 1e-6 in float64 the
/// truncation error is ~1e-12 and the rounding error ~1e-10, so the tolerance only lets real mistakes through.
/// </summary>
internal static class FiniteDifferences
{
    const double Step = 1e-6;

    /// <param name="f">Recomputes the output from the leaves' current values.</param>
    /// <param name="leaves">Contiguous float64 tensors that require grad (inputs, module parameters).</param>
    public static void Check(Func<Tensor> f, params (string Name, Tensor Leaf)[] leaves)
    {
        double[][] analytic;
        long[] outShape;
        using (var scope = NewDisposeScope())
        {
            foreach (var (_, leaf) in leaves) leaf.grad = null;
            var y = f();
            Assert.Equal(ScalarType.Float64, y.dtype);
            outShape = y.shape;
            y.mul(Weights(outShape)).sum().backward();
            analytic = leaves.Select(l => l.Leaf.grad is { } g ? g.reshape(-1).data<double>().ToArray() : new double[l.Leaf.numel()]).ToArray();
        }
        for (var i = 0; i < leaves.Length; i++)
        {
            var (name, leaf) = leaves[i];
            Assert.True(leaf.is_contiguous(), $"{name} must be contiguous to be perturbed in place");
            using var flat = leaf.detach().reshape(-1);                        // shares storage with the leaf
            var n = (int)flat.numel();
            for (var k = 0; k < n; k += Math.Max(1, n / 25))
            {
                using var e = flat.narrow(0, k, 1);
                var v = e.item<double>();
                using (no_grad()) e.fill_(v + Step);
                var up = Loss(f, outShape);
                using (no_grad()) e.fill_(v - Step);
                var down = Loss(f, outShape);
                using (no_grad()) e.fill_(v);
                var numeric = (up - down) / (2 * Step);
                Assert.True(Math.Abs(numeric - analytic[i][k]) <= 1e-6 + 1e-4 * Math.Abs(numeric),
                    $"d/d{name}[{k}]: finite difference {numeric:G10}, autograd {analytic[i][k]:G10}");
            }
        }
    }

    static double Loss(Func<Tensor> f, long[] shape)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return f().mul(Weights(shape)).sum().item<double>();
    }

    /// <summary>Fixed weights in [0.5, 1.5], different for every output element.</summary>
    static Tensor Weights(long[] shape)
    {
        var n = shape.Aggregate(1L, (a, b) => a * b);
        var w = new double[n];
        for (var k = 0; k < n; k++) w[k] = 1 + 0.5 * Math.Sin(1.7 * k + 0.3);
        return tensor(w, shape);
    }
}
