using System.Text;
using PDiff.TorchFixes;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// float32 convolutions against float64 over channel counts 1–33, kernels 1/3/7, strides 1/2, batch 1/4,
/// 1-D and 2-D: libtorch 2.10's own kernels (which are wrong for some shapes on our AVX-512 CPU; the
/// failures are printed) and <see cref="SafeConv"/> (which must always match). Every failure of the raw
/// kernels must be a shape that <see cref="SafeConv.SafeChannels"/> pads, so the rule is the evidence.
/// On a machine whose kernels are right, only the SafeConv half asserts anything.
/// </summary>
public class SafeConvTests(ITestOutputHelper output)
{
    const double Tolerance = 1e-4;   // float32 sums of a few hundred terms: ~1e-6; the failures: 1e-2 to NaN

    sealed record Case(int Dims, long Cin, long Cout, long K, long Stride, long Batch);

    /// <summary>
    /// Every input count against a few output counts and every output count against a few input counts:
    /// the failures depend on each count separately (multiples of 16, above 16, blocks of 16).
    /// </summary>
    static IEnumerable<Case> Cases(int dims)
    {
        var pairs = new HashSet<(long, long)>();
        for (long c = 1; c <= 33; c++)
        {
            foreach (var other in new long[] { 3, 8, 16, 20 }) { pairs.Add((c, other)); pairs.Add((other, c)); }
        }
        foreach (var k in new long[] { 1, 3, 7 })
            foreach (var s in new long[] { 1, 2 })
                foreach (var b in new long[] { 1, 4 })
                    foreach (var (cin, cout) in pairs.OrderBy(p => p))
                        yield return new Case(dims, cin, cout, k, s, b);
    }

    /// <summary>Relative max errors (output, input gradient, weight gradient) of raw and SafeConv float32 against float64.</summary>
    static ((double Y, double Dx, double Dw) Raw, (double Y, double Dx, double Dw) Safe) Errors(Case c, Generator gen)
    {
        using var scope = NewDisposeScope();
        var size = c.Dims == 1 ? new[] { c.Batch, c.Cin, 16L } : new[] { c.Batch, c.Cin, 7L, 7L };
        var kernel = c.Dims == 1 ? new[] { c.Cout, c.Cin, c.K } : new[] { c.Cout, c.Cin, c.K, c.K };
        var x64 = randn(size, ScalarType.Float64, generator: gen);
        var w64 = randn(kernel, ScalarType.Float64, generator: gen);
        var b64 = randn(new[] { c.Cout }, ScalarType.Float64, generator: gen);
        var p = c.K / 2;
        Tensor Op(Tensor x, Tensor w, Tensor b, bool safe) => (c.Dims, safe) switch
        {
            (1, false) => F.conv1d(x, w, b, c.Stride, p),
            (1, true) => SafeConv.Conv(x, w, b, c.Stride, p, 1, 1),
            (_, false) => F.conv2d(x, w, b, new[] { c.Stride, c.Stride }, new[] { p, p }),
            _ => SafeConv.Conv2d(x, w, b, new[] { c.Stride, c.Stride }, new[] { p, p }, new[] { 1L, 1L }, 1),
        };
        Tensor? upstream = null;
        (Tensor Y, Tensor Dx, Tensor Dw) Run(ScalarType dt, bool safe)
        {
            var x = x64.to(dt).detach().requires_grad_(true);
            var w = w64.to(dt).detach().requires_grad_(true);
            if (dt == ScalarType.Float32) ConvCheck.DirtyHeap();   // failures read memory the kernels did not write
            var y = Op(x, w, b64.to(dt), safe);
            upstream ??= randn(y.shape, ScalarType.Float64, generator: gen);
            y.mul(upstream.to(dt)).sum().backward();
            return (y.detach(), x.grad!, w.grad!);
        }
        var reference = Run(ScalarType.Float64, false);
        double Err(Tensor a, Tensor r)
        {
            var e = a.to(ScalarType.Float64).sub(r).abs().max().item<double>() / r.abs().max().item<double>();
            return double.IsNaN(e) ? double.PositiveInfinity : e;
        }
        (double, double, double) Compare((Tensor Y, Tensor Dx, Tensor Dw) a) => (Err(a.Y, reference.Y), Err(a.Dx, reference.Dx), Err(a.Dw, reference.Dw));
        var raw = Compare(Run(ScalarType.Float32, false));
        // Where SafeConv pads nothing it is the raw op: no second run.
        var padded = SafeConv.SafeChannels(c.Cin, c.Cout, c.K == 1, c.Stride > 1, inputGrad: true) != (c.Cin, c.Cout);
        return (raw, padded ? Compare(Run(ScalarType.Float32, true)) : raw);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SafeConvMatchesFloat64WhereverTheKernelsFail(int dims)
    {
        // One thread: OpenMP's waiting threads make thousands of tiny ops crawl on a busy machine. libtorch
        // picks oneDNN for these shapes either way (kernels wider than 1 always; the sweep at two threads agreed).
        var threads = get_num_threads();
        set_num_threads(1);
        try { Sweep(dims); }
        finally { set_num_threads(threads); }
    }

    void Sweep(int dims)
    {
        NotRescuedByTheProbe();
        using var gen = new Generator(17);
        var failures = new List<string>();
        var unpredicted = new List<string>();
        var unsafeResults = new List<string>();
        var n = 0;
        foreach (var c in Cases(dims))
        {
            n++;
            var (raw, safe) = Errors(c, gen);
            var what = $"conv{dims}d {c.Cin}→{c.Cout} k{c.K} s{c.Stride} batch {c.Batch}";
            if (Math.Max(safe.Y, Math.Max(safe.Dx, safe.Dw)) >= Tolerance)
                unsafeResults.Add($"{what}: output {safe.Y:G2}, input grad {safe.Dx:G2}, weight grad {safe.Dw:G2}");
            if (Math.Max(raw.Y, Math.Max(raw.Dx, raw.Dw)) < Tolerance) continue;
            failures.Add($"{what}: output {raw.Y:G2}, input grad {raw.Dx:G2}, weight grad {raw.Dw:G2}");
            // What the rule pads for a forward only, and for a forward with an input gradient.
            var forwardSafe = SafeConv.SafeChannels(c.Cin, c.Cout, c.K == 1, c.Stride > 1, inputGrad: false) != (c.Cin, c.Cout);
            var backwardSafe = SafeConv.SafeChannels(c.Cin, c.Cout, c.K == 1, c.Stride > 1, inputGrad: true) != (c.Cin, c.Cout);
            if ((raw.Y >= Tolerance && !forwardSafe) || (raw.Dx >= Tolerance && !backwardSafe) || raw.Dw >= Tolerance)
                unpredicted.Add(what);
        }
        output.WriteLine($"{n} shapes; libtorch's float32 kernels were wrong for {failures.Count}:");
        output.WriteLine(Summarize(failures));
        Assert.True(unsafeResults.Count == 0, $"SafeConv differs from float64 for {unsafeResults.Count} shapes:\n{string.Join("\n", unsafeResults.Take(20))}");
        Assert.True(unpredicted.Count == 0, $"failures that SafeConv.SafeChannels does not pad for:\n{string.Join("\n", unpredicted.Take(20))}");
    }

    /// <summary>
    /// Where SafeConv's own padding fails the probe, ConvCheck switches oneDNN off for the process, and every
    /// convolution here would match float64 whatever the rule: these tests are about the rule, so it must have passed.
    /// </summary>
    static void NotRescuedByTheProbe()
    {
        Assert.True(ConvCheck.SafeConvIsExact, ConvCheck.Describe());
        Assert.True(ConvKernels.OneDnnEnabled, "oneDNN is off in this process: the sweep would not see libtorch's own kernels");
    }

    static string Summarize(List<string> failures)
    {
        var sb = new StringBuilder();
        foreach (var line in failures.Take(400)) sb.AppendLine("  " + line);
        if (failures.Count > 400) sb.AppendLine($"  … and {failures.Count - 400} more");
        return sb.ToString();
    }

    /// <summary>
    /// The transposed convolutions and the [B, C, 1, L] layout (lib/Diffusion's channels-last path) through
    /// SafeConv, against float64, at the channel counts where the raw kernels failed.
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void TransposedAndChannelsLastMatchFloat64(int rank)
    {
        using var scope = NewDisposeScope();
        using var gen = new Generator(5);
        var bad = new List<string>();
        foreach (var (cin, cout) in new (long, long)[] { (1, 8), (8, 8), (8, 1), (8, 2), (20, 8), (8, 20), (16, 40), (40, 16), (33, 3), (3, 33), (1, 1), (16, 16) })
            foreach (var (k, s) in new (long, long)[] { (3, 1), (7, 1), (3, 2), (4, 2), (5, 5), (1, 1), (1, 2) })
                foreach (var transposed in new[] { false, true })
                {
                    using var inner = NewDisposeScope();
                    var x64 = randn(new long[] { 4, cin, 24 }, ScalarType.Float64, generator: gen);
                    var w64 = randn(transposed ? new[] { cin, cout, k } : new[] { cout, cin, k }, ScalarType.Float64, generator: gen);
                    var b64 = randn(new[] { cout }, ScalarType.Float64, generator: gen);
                    var (p, op) = (k / 2, s > 1 ? s - 1 : 0);
                    Tensor? up = null;
                    (Tensor, Tensor, Tensor) Run(ScalarType dt)
                    {
                        var x = x64.to(dt).detach().requires_grad_(true);
                        var w = w64.to(dt).detach().requires_grad_(true);
                        var h = rank == 3 || dt == ScalarType.Float64 ? x : PDiff.TorchFixes.ChannelsLast.From3d(x);
                        if (dt == ScalarType.Float32) ConvCheck.DirtyHeap();
                        var y = transposed ? SafeConv.ConvTranspose(h, w, b64.to(dt), s, p, op, 1, 1) : SafeConv.Conv(h, w, b64.to(dt), s, p, 1, 1);
                        if (y.dim() == 4) y = y.squeeze(2);
                        up ??= randn(y.shape, ScalarType.Float64, generator: gen);
                        y.mul(up.to(dt)).sum().backward();
                        return (y.detach(), x.grad!, w.grad!);
                    }
                    var (y64, dx64, dw64) = Run(ScalarType.Float64);
                    var (y32, dx32, dw32) = Run(ScalarType.Float32);
                    foreach (var (name, a, r) in new[] { ("output", y32, y64), ("input grad", dx32, dx64), ("weight grad", dw32, dw64) })
                    {
                        var e = a.to(ScalarType.Float64).sub(r).abs().max().item<double>() / r.abs().max().item<double>();
                        if (!(e < Tolerance)) bad.Add($"{(transposed ? "conv_transpose" : "conv")} {cin}→{cout} k{k} s{s} rank {rank}: {name} off by {e:G2}");
                    }
                }
        Assert.True(bad.Count == 0, string.Join("\n", bad));
    }

    /// <summary>
    /// Inference on channels-last activations (how our classifiers score: SafeConv runs float32 inference channels-last),
    /// 2-D and as [B, C, 1, L], against float64 over input counts 2–40 and output counts up to 80, kernels 1 and 3,
    /// strides 1 and 2, batch 4 and 32. libtorch's own channels-last kernels fail only with 1×1 kernels (printed), which
    /// SafeConv runs on [B, C, H, W] memory instead; SafeConv must match everywhere.
    /// </summary>
    [Fact]
    public void ChannelsLastInferenceMatchesFloat64()
    {
        NotRescuedByTheProbe();
        var threads = get_num_threads();
        set_num_threads(1);
        try
        {
            using var gen = new Generator(23);
            var pairs = new HashSet<(long, long)>();
            for (long c = 2; c <= 40; c++)
                foreach (var other in new long[] { 3, 16, 24 }) { pairs.Add((c, other)); pairs.Add((other, c)); }
            foreach (var cout in new long[] { 48, 56, 65, 72, 80 }) pairs.Add((16, cout));
            var rawWrong = new List<string>();
            var safeWrong = new List<string>();
            var n = 0;
            foreach (var k in new long[] { 1, 3 })
                foreach (var s in new long[] { 1, 2 })
                    foreach (var b in new long[] { 4, 32 })
                        foreach (var (cin, cout) in pairs.OrderBy(p => p))
                        {
                            using var scope = NewDisposeScope();
                            n++;
                            var what = $"{cin}→{cout} k{k} s{s} batch {b}";
                            var x64 = randn(new long[] { b, cin, 7, 7 }, ScalarType.Float64, generator: gen);
                            var w64 = randn(new long[] { cout, cin, k, k }, ScalarType.Float64, generator: gen);
                            var b64 = randn(new[] { cout }, ScalarType.Float64, generator: gen);
                            var (st, pd) = (new[] { s, s }, new[] { k / 2, k / 2 });
                            var reference = F.conv2d(x64, w64, b64, st, pd);
                            double Err(Tensor y) { var e = y.to(ScalarType.Float64).sub(reference).abs().max().item<double>() / reference.abs().max().item<double>(); return double.IsNaN(e) ? double.PositiveInfinity : e; }
                            using (inference_mode())
                            {
                                var x = PDiff.TorchFixes.ChannelsLast.Contiguous(x64.to(ScalarType.Float32));
                                var (w, bias) = (w64.to(ScalarType.Float32), b64.to(ScalarType.Float32));
                                ConvCheck.DirtyHeap();
                                var raw = Err(F.conv2d(x, w, bias, st, pd));
                                if (raw >= Tolerance)
                                {
                                    rawWrong.Add($"{what}: {raw:G2}");
                                    if (k != 1) safeWrong.Add($"{what}: a raw failure with a kernel wider than 1, which SafeConv runs channels-last");
                                }
                                ConvCheck.DirtyHeap();
                                var safe = Err(SafeConv.Conv2d(x, w, bias, st, pd, new long[] { 1, 1 }, 1));
                                if (safe >= Tolerance) safeWrong.Add($"{what}: SafeConv off by {safe:G2}");
                                if (k == 1)
                                {
                                    // The same 1×1 convolution as a 1-D one on [B, C, 1, L] (lib/Diffusion's layout).
                                    using var x1 = x64.flatten(2).to(ScalarType.Float32);
                                    using var cl = PDiff.TorchFixes.ChannelsLast.From3d(x1);
                                    using var w1 = w64.flatten(2).to(ScalarType.Float32);
                                    using var r1 = F.conv1d(x64.flatten(2), w64.flatten(2), b64, s);
                                    using var y1 = SafeConv.Conv(cl, w1, bias, s, 0, 1, 1).squeeze(2).to(ScalarType.Float64);
                                    var e1 = y1.sub(r1).abs().max().item<double>() / r1.abs().max().item<double>();
                                    if (!(e1 < Tolerance)) safeWrong.Add($"{what} as [B, C, 1, L]: SafeConv off by {e1:G2}");
                                }
                            }
                        }
            output.WriteLine($"{n} shapes; libtorch's channels-last float32 inference was wrong for {rawWrong.Count}:");
            output.WriteLine(Summarize(rawWrong));
            Assert.True(safeWrong.Count == 0, string.Join("\n", safeWrong.Take(30)));
        }
        finally
        {
            set_num_threads(threads);
        }
    }
}
