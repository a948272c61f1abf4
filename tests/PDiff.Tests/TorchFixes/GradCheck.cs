using System.Globalization;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Tests.TorchFixes;

/// <summary>One float64 input of a gradient check: its values, its shape, and whether to check its gradient.</summary>
public sealed record GradInput(double[] Data, long[] Shape, bool Check = true);

/// <summary>Raised when autograd's gradient disagrees with the finite-difference one.</summary>
public sealed class GradCheckException(string message) : Exception(message);

/// <summary>
/// Compares autograd (libtorch's, through TorchSharp) with central finite differences, in float64, for
/// our own layers and composite functions. The function's output is
/// reduced to a scalar with fixed, non-uniform weights (a plain sum would hide errors that cancel, e.g. in
/// softmax, whose rows sum to one), then for every element x_k of every checked input:
///   numeric_k = (L(x + h e_k) − L(x − h e_k)) / 2h   versus   analytic_k = ∂L/∂x_k from backward().
/// With h = 1e-6 in float64 the truncation error is ~1e-12 and the rounding error ~1e-10, so a tolerance
/// of 1e-6 + 1e-4·|numeric| only lets real mistakes through. Inputs must stay away from kinks (relu at 0,
/// max-pool ties, clamp bounds) by more than h; the helpers below make such data.
/// </summary>
public static class GradCheck
{
    public const double Step = 1e-6;

    public static void Run(Func<Tensor[], Tensor> f, params GradInput[] inputs) => Run(f, inputs, 1e-6, 1e-4);

    public static void Run(Func<Tensor[], Tensor> f, GradInput[] inputs, double atol, double rtol)
    {
        double[][] analytic;
        long[] outShape;
        using (var scope = torch.NewDisposeScope())
        {
            var xs = inputs.Select(i => torch.tensor(i.Data, i.Shape).requires_grad_(i.Check)).ToArray();
            var y = f(xs);
            if (y.dtype != ScalarType.Float64)
                throw new GradCheckException($"the checked function returned {y.dtype}; gradient checks need float64 outputs.");
            if (!y.requires_grad)
                throw new GradCheckException("the output does not require grad: no autograd graph was built.");
            outShape = y.shape;
            var loss = y.mul(Weights(outShape)).sum();
            loss.backward();
            analytic = new double[inputs.Length][];
            for (var i = 0; i < inputs.Length; i++)
            {
                if (!inputs[i].Check) continue;
                var g = xs[i].grad;
                // No gradient at all means autograd thinks the output ignores this input.
                analytic[i] = g is null ? new double[inputs[i].Data.Length] : g.data<double>().ToArray();
            }
        }

        var errors = new StringBuilder();
        var bad = 0;
        using (torch.no_grad())
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                if (!inputs[i].Check) continue;
                var data = (double[])inputs[i].Data.Clone();
                for (var k = 0; k < data.Length; k++)
                {
                    var x0 = data[k];
                    data[k] = x0 + Step;
                    var plus = Eval(f, inputs, i, data, outShape);
                    data[k] = x0 - Step;
                    var minus = Eval(f, inputs, i, data, outShape);
                    data[k] = x0;
                    var numeric = (plus - minus) / (2 * Step);
                    var a = analytic[i][k];
                    if (!(Math.Abs(a - numeric) <= atol + rtol * Math.Abs(numeric)))
                    {
                        if (bad++ < 8)
                            errors.AppendLine(string.Create(CultureInfo.InvariantCulture,
                                $"  input {i} {"[" + string.Join(", ", inputs[i].Shape) + "]"} element {k}: autograd {a:G10}, finite difference {numeric:G10}"));
                    }
                }
            }
        }
        if (bad > 0) throw new GradCheckException($"{bad} gradient element(s) disagree:\n{errors}");
    }

    static double Eval(Func<Tensor[], Tensor> f, GradInput[] inputs, int changed, double[] changedData, long[] outShape)
    {
        using var scope = torch.NewDisposeScope();
        var xs = inputs.Select((inp, j) => torch.tensor(j == changed ? changedData : inp.Data, inp.Shape)).ToArray();
        var y = f(xs);
        return y.mul(Weights(outShape)).sum().item<double>();
    }

    /// <summary>Fixed weights in [0.5, 1.5], different for every output element.</summary>
    static Tensor Weights(long[] shape)
    {
        long n = 1;
        foreach (var s in shape) n *= s;
        var w = new double[n];
        for (var k = 0; k < n; k++) w[k] = 1 + 0.5 * Math.Sin(1.7 * k + 0.3);
        return torch.tensor(w, shape.Length == 0 ? Array.Empty<long>() : shape);
    }

    // ---- data ----
    static long Count(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Uniform values in [lo, hi), from a fixed seed.</summary>
    public static GradInput Uniform(int seed, long[] shape, double lo = -1, double hi = 1, bool check = true)
    {
        var r = new Random(seed);
        var d = new double[Count(shape)];
        for (var k = 0; k < d.Length; k++) d[k] = lo + (hi - lo) * r.NextDouble();
        return new GradInput(d, shape, check);
    }

    /// <summary>Values with |x| in [gap, 1): clear of a kink at zero (relu, leaky_relu, abs).</summary>
    public static GradInput AwayFromZero(int seed, long[] shape, double gap = 0.1)
    {
        var r = new Random(seed);
        var d = new double[Count(shape)];
        for (var k = 0; k < d.Length; k++) d[k] = (r.Next(2) == 0 ? -1 : 1) * (gap + (1 - gap) * r.NextDouble());
        return new GradInput(d, shape);
    }

    /// <summary>A random permutation of 0.1·(0..n−1) − offset: values at least 0.1 apart (no max-pool ties).</summary>
    public static GradInput Distinct(int seed, long[] shape)
    {
        var r = new Random(seed);
        var n = (int)Count(shape);
        var d = Enumerable.Range(0, n).Select(k => 0.1 * k - 0.05 * n).OrderBy(_ => r.Next()).ToArray();
        return new GradInput(d, shape);
    }

    public static GradInput Of(double[] data, params long[] shape) => new(data, shape);
}
