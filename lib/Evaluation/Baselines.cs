using System.Globalization;
using PDiff.Models;
using PDiff.TorchFixes;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>What absolute noise does with BatchNorm running variances, which raw noise can make negative.</summary>
public enum RunningVarPolicy
{
    /// <summary>Refuse, as Zeng et al.'s baseline script asserts (memorization-protocol §3.2).</summary>
    Reject,
    /// <summary>Copy running_var unchanged from the original and noise everything else.</summary>
    LeaveUnchanged,
}

/// <summary>
/// A baseline group: vectors [B, N] made from the originals, with the seed that made them, the settings,
/// and for each vector the originals it came from (one for noise and fine-tuning, sixteen for the
/// average, none for the Gaussian). The group owns <see cref="Vectors"/>.
/// </summary>
public sealed record BaselineGroup(string Name, string Kind, Tensor Vectors, IReadOnlyList<int[]> Sources, ulong Seed,
    IReadOnlyDictionary<string, object> Settings) : IDisposable
{
    public int Count => (int)Vectors.size(0);
    public void Dispose() => Vectors.Dispose();
}

/// <summary>
/// Vector constructors for the baselines of memorization-protocol §3.2–3.3 and reference §4.5–4.6.
/// Every one draws only from a <see cref="Generator"/> seeded with the seed it records.
/// </summary>
public static class Baselines
{
    static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// Originals to perturb: a seeded random permutation of 0..K-1 taken cyclically (p-diff V2 shuffles the
    /// checkpoints and cycles through them), so count ≤ K uses each original at most once.
    /// </summary>
    public static int[] PickCyclic(int k, int count, Generator g)
    {
        if (k < 1) throw new ArgumentException("There are no originals to pick from.");
        using var perm = torch.randperm(k, generator: g);
        var p = perm.data<long>().ToArray();
        return Enumerable.Range(0, count).Select(i => (int)p[i % k]).ToArray();
    }

    /// <summary>
    /// p-diff V2's noise-added models (reference §4.5): each tensor of a picked original is z-scored with its
    /// own mean and unbiased std, σ·N(0, 1) is added, and the z-score is undone; running_var is first mapped
    /// to y = ln(v / (0.95·mean v) + 0.05) and back with v = max(e^y − 0.05, 0.001)·0.95·mean v.
    /// ((θ − m)/s + σε)·s + m is computed as θ + σ·s·ε, equal in exact arithmetic and exactly θ at σ = 0.
    /// Tensors with one element are left alone, as V2's vectorisation skips them.
    /// </summary>
    public static BaselineGroup RelativeNoise(Tensor originals, SubsetLayout layout, double sigma, int count, ulong seed)
    {
        var (k, n) = CheckOriginals(originals, layout);
        if (sigma < 0 || double.IsNaN(sigma)) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "Noise σ must be ≥ 0.");
        CheckCount(count);
        using var g = new Generator(seed);
        var picks = PickCyclic(k, count, g);
        Tensor result;
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var x = Pick(originals, picks).to(ScalarType.Float64);
            var eps = torch.randn(new long[] { count, n }, ScalarType.Float64, generator: g);   // one draw, whatever the layout
            var offsets = layout.Offsets();
            var parts = new List<Tensor>();
            for (var t = 0; t < layout.Tensors.Count; t++)
            {
                var spec = layout.Tensors[t];
                var len = spec.Numel;
                var seg = x.narrow(1, offsets[t], len);
                if (len < 2) { parts.Add(seg); continue; }
                var e = eps.narrow(1, offsets[t], len);
                using Scalar scale = sigma;
                if (spec.IsRunningVar)
                {
                    using Scalar meanFactor = 0.95, offset = 0.05, minusOffset = -0.05, floor = 0.001;
                    var p = seg.mean(new long[] { 1 }, keepdim: true).mul(meanFactor);
                    if (p.min().item<double>() <= 0)
                        throw new ArgumentException($"Tensor '{spec.Name}' is a running variance whose mean is not positive in some original: the log-space noise of reference §4.5 is undefined for it.");
                    var y = seg.div(p).add(offset, SafeOps.One).log();
                    var s = y.std(new long[] { 1 }, unbiased: true, keepdim: true);
                    var yNoised = y.Plus(e.mul(s).mul(scale));
                    parts.Add(yNoised.exp().add(minusOffset, SafeOps.One).clamp(min: floor).mul(p));
                }
                else
                {
                    var s = seg.std(new long[] { 1 }, unbiased: true, keepdim: true);
                    parts.Add(seg.Plus(e.mul(s).mul(scale)));
                }
            }
            result = torch.cat(parts, 1).to(originals.dtype).DetachFromDisposeScope();
        }
        return new BaselineGroup($"relnoise_{Num(sigma)}", "relative_noise", result, picks.Select(i => new[] { i }).ToList(), seed,
            new Dictionary<string, object> { ["sigma"] = sigma, ["count"] = count, ["space"] = "per-tensor z-score; running_var in log space" });
    }

    /// <summary>
    /// Zeng et al.'s noise baseline (memorization-protocol §3.2): picked original + σ·N(0, 1) on every
    /// coordinate, in raw parameter space. Their script asserts the subset has no running_var;
    /// <paramref name="runningVar"/> chooses between that and leaving running variances untouched.
    /// </summary>
    public static BaselineGroup AbsoluteNoise(Tensor originals, SubsetLayout layout, double sigma, int count, ulong seed,
        RunningVarPolicy runningVar = RunningVarPolicy.Reject)
    {
        var (k, n) = CheckOriginals(originals, layout);
        if (sigma < 0 || double.IsNaN(sigma)) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "Noise σ must be ≥ 0.");
        CheckCount(count);
        var runningVars = layout.Tensors.Where(t => t.IsRunningVar).Select(t => t.Name).ToList();
        if (runningVars.Count > 0 && runningVar == RunningVarPolicy.Reject)
            throw new ArgumentException($"Absolute noise would make running variances negative; the subset holds {string.Join(", ", runningVars)}. " +
                $"Use RunningVarPolicy.LeaveUnchanged (EvaluationOptions.Baselines.AbsoluteNoiseRunningVar) to keep them as they are, or use relative noise.");
        using var g = new Generator(seed);
        var picks = PickCyclic(k, count, g);
        Tensor result;
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var x = Pick(originals, picks);
            using Scalar scale = sigma;
            var noise = torch.randn(new long[] { count, n }, originals.dtype, generator: g).mul(scale);
            if (runningVars.Count > 0)
            {
                var mask = new float[n];
                var offsets = layout.Offsets();
                for (var t = 0; t < layout.Tensors.Count; t++)
                    if (!layout.Tensors[t].IsRunningVar)
                        for (var i = offsets[t]; i < offsets[t] + layout.Tensors[t].Numel; i++) mask[i] = 1f;
                noise = noise.mul(torch.tensor(mask).to(originals.dtype));
            }
            result = x.Plus(noise).DetachFromDisposeScope();
        }
        return new BaselineGroup($"absnoise_{Num(sigma)}", "absolute_noise", result, picks.Select(i => new[] { i }).ToList(), seed,
            new Dictionary<string, object> { ["sigma"] = sigma, ["count"] = count, ["running_var"] = runningVars.Count == 0 ? "none in subset" : "unchanged" });
    }

    /// <summary>
    /// "Fine-tuned" originals (reference §4.6, an inferred construction): picked originals trained on for a
    /// few more steps with the collection recipe. The recipe is the zoo's, passed in as
    /// <paramref name="fineTune"/>(start [N], steps, generator) → [N]; model i gets its own generator,
    /// seeded from this group's seed, so one model's draws do not shift the others'.
    /// </summary>
    public static BaselineGroup FineTuned(Tensor originals, Func<Tensor, int, Generator, Tensor> fineTune, int count, int steps, ulong seed)
    {
        var (k, n) = CheckOriginals(originals, null);
        CheckCount(count);
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "Fine-tuning needs at least one step.");
        using var g = new Generator(seed);
        var picks = PickCyclic(k, count, g);
        var seeds = picks.Select(_ => PDiff.Models.Seeds.Next(g)).ToArray();
        var rows = new List<Tensor>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                using var scope = torch.NewDisposeScope();
                using var gi = new Generator(seeds[i]);
                var start = originals[picks[i]].clone();
                var tuned = fineTune(start, steps, gi);
                if (tuned.numel() != n)
                    throw new InvalidOperationException($"The fine-tune delegate returned a tensor of shape {EvaluationTorch.Shape(tuned)} for a start vector of {n} values; it must return [{n}].");
                using (torch.no_grad()) rows.Add(tuned.detach().reshape(n).to(originals.dtype).DetachFromDisposeScope());
            }
            var result = torch.stack(rows).DetachFromDisposeScope();
            return new BaselineGroup("finetuned", "fine_tuned", result, picks.Select(i => new[] { i }).ToList(), seed,
                new Dictionary<string, object> { ["count"] = count, ["steps"] = steps, ["model_seeds"] = seeds });
        }
        finally { foreach (var r in rows) r.Dispose(); }
    }

    /// <summary>
    /// Weight-space interpolation (memorization-protocol §3.2 "average"): each model is the uniform mean of
    /// <paramref name="of"/> distinct originals drawn at random. (Zeng et al.'s script accumulates into the
    /// first sampled checkpoint in place, so later averages can include earlier ones; ours do not.)
    /// </summary>
    public static BaselineGroup Average(Tensor originals, int count = 100, int of = 16, ulong seed = 0)
    {
        var (k, _) = CheckOriginals(originals, null);
        CheckCount(count);
        if (of < 1 || of > k) throw new ArgumentOutOfRangeException(nameof(of), of, $"Each average takes between 1 and K = {k} distinct originals.");
        using var g = new Generator(seed);
        var sources = new List<int[]>();
        Tensor result;
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var rows = new List<Tensor>();
            for (var i = 0; i < count; i++)
            {
                using var perm = torch.randperm(k, generator: g);
                var idx = perm.data<long>().ToArray().Take(of).Select(v => (int)v).ToArray();
                sources.Add(idx);
                rows.Add(Pick(originals, idx).to(ScalarType.Float64).mean(new long[] { 0 }));
            }
            result = torch.stack(rows).to(originals.dtype).DetachFromDisposeScope();
        }
        return new BaselineGroup($"average{of}", "average", result, sources, seed,
            new Dictionary<string, object> { ["count"] = count, ["of"] = of });
    }

    /// <summary>
    /// Independent per-coordinate normal fitted to the originals (memorization-protocol §3.2 "gaussian"):
    /// mean and unbiased std of each coordinate over the K vectors (torch.std, as their script), then
    /// mean + std·N(0, 1).
    /// </summary>
    public static BaselineGroup Gaussian(Tensor originals, int count = 100, ulong seed = 0)
    {
        var (k, n) = CheckOriginals(originals, null);
        CheckCount(count);
        if (k < 2) throw new ArgumentException("Fitting a per-coordinate Gaussian needs at least 2 originals (unbiased std).");
        using var g = new Generator(seed);
        Tensor result;
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var x = originals.to(ScalarType.Float64);
            var mean = x.mean(new long[] { 0 }, keepdim: true);
            var std = x.std(new long[] { 0 }, unbiased: true, keepdim: true);
            var z = torch.randn(new long[] { count, n }, ScalarType.Float64, generator: g);
            result = z.mul(std).Plus(mean).to(originals.dtype).DetachFromDisposeScope();
        }
        return new BaselineGroup("gaussian", "gaussian", result, Enumerable.Range(0, count).Select(_ => Array.Empty<int>()).ToList(), seed,
            new Dictionary<string, object> { ["count"] = count, ["std"] = "unbiased, per coordinate" });
    }

    /// <summary>The uniform weight average of the originals (reference §4.3 "ensemble"), [1, N].</summary>
    public static Tensor WeightAverage(Tensor originals)
    {
        CheckOriginals(originals, null);
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            return originals.to(ScalarType.Float64).mean(new long[] { 0 }, keepdim: true).to(originals.dtype).DetachFromDisposeScope();
    }

    static Tensor Pick(Tensor originals, int[] idx)
    {
        using var i = torch.tensor(idx.Select(v => (long)v).ToArray());
        return originals.index_select(0, i);
    }

    static void CheckCount(int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "A baseline group needs at least one model.");
    }

    internal static (int K, long N) CheckOriginals(Tensor originals, SubsetLayout? layout)
    {
        if (originals.dim() != 2)
            throw new ArgumentException($"Originals must be a [K, N] matrix of subset vectors; got shape {EvaluationTorch.Shape(originals)}.", nameof(originals));
        if (!originals.is_floating_point())
            throw new ArgumentException($"Originals must be floating point; got {originals.dtype.ToString().ToLowerInvariant()}.", nameof(originals));
        var (k, n) = ((int)originals.size(0), originals.size(1));
        if (k < 1) throw new ArgumentException("There are no originals (K = 0).", nameof(originals));
        if (layout is not null && layout.Length != n)
            throw new ArgumentException($"Originals have {n} values per vector but the subset layout describes {layout.Length} ({string.Join(", ", layout.Tensors.Select(t => t.Name))}).", nameof(originals));
        return (k, n);
    }
}
