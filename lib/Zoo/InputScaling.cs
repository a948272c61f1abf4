using System.Globalization;
using PDiff.Data;
using PDiff.TorchFixes;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>One input scaling the base model was scored with: its <see cref="ModelSpec.Input"/> form, the pixels' scaling, the accuracy.</summary>
public sealed record ScalingScore(string Input, Normalization Normalization, double Accuracy);

/// <summary>
/// What <see cref="InputScaling.Compare"/> found on a sample of validation images: the chosen scaling first, then
/// the others; <see cref="Warning"/> is set when another scores clearly better than the chosen one.
/// </summary>
public sealed record ScalingCheck(IReadOnlyList<ScalingScore> Scores, int Images, string? Warning)
{
    public ScalingScore Chosen => Scores[0];
}

/// <summary>
/// Where a model spec's input scaling (<see cref="ModelSpec.Input"/>) meets the data: shipped networks are
/// trained on standardised pixels (mean and std of the train split); a user's network may expect raw b/255
/// ("unit") or the values of its own <c>Normalize(mean, std)</c> ("mean=…,std=…"). The split records the
/// normalisation it used, so a zoo rebuilds its data scaled the same way.
/// </summary>
public static class InputScaling
{
    /// <summary>
    /// How much better (in accuracy, 0.05 = 5 points) another scaling must score than the chosen one for
    /// <see cref="Compare"/> to warn. On a few hundred images, scalings a network tolerates score within a
    /// point or two of each other (the same images, mostly the same predictions), while the one it was not
    /// trained for costs it ten points or more when it matters at all (a network with BatchNorm right after
    /// its first layer absorbs most rescaling): 5 points separates the two without crying wolf.
    /// </summary>
    public const double WarningMargin = 0.05;

    /// <summary>Validation images <see cref="Compare"/> scores each scaling on (one forward pass each).</summary>
    public const int SampleImages = 500;

    /// <summary>
    /// <paramref name="options"/> (or the defaults) with the normalisation <paramref name="spec"/> expects:
    /// unchanged for standardised input; <see cref="Normalization.Unit"/> for "unit"; the given values for
    /// "mean=…,std=…". Explicit statistics in <paramref name="options"/> that contradict the spec are an
    /// error, not silently replaced.
    /// </summary>
    public static DataOptions Apply(ModelSpec spec, DataOptions? options)
    {
        options ??= new DataOptions();
        var wanted = Wanted(ModelRegistry.CanonicalInput(spec.Input, spec.InChannels));
        if (wanted is null) return options;
        if (options.Normalization is { } n && n != wanted)
            throw new ArgumentException($"The model expects its pixels scaled as Input = \"{spec.Input}\" ({Describe(wanted)}) but the data options ask for " +
                $"normalisation mean {n.Mean} std {n.Std}; leave DataOptions.Normalization unset (or change ModelSpec.Input).");
        return options with { Normalization = wanted };
    }

    /// <summary>The normalisation a canonical input form fixes; null for "standardize" (measured on the train split).</summary>
    static Normalization? Wanted(string? canonicalInput)
    {
        if (canonicalInput is null) return null;
        if (canonicalInput == ModelSpec.UnitInput) return Normalization.Unit;
        var stats = InputStatistics.Parse(canonicalInput);
        if (stats.Channels != 1)
            throw new ArgumentException($"ModelSpec.Input '{canonicalInput}' gives statistics for {stats.Channels} channels, but the datasets PDiff loads " +
                "(MNIST, Fashion-MNIST) have one channel: a network scored on them takes one (ModelSpec.InChannels = 1, one mean and one std).");
        return new Normalization(stats.Mean[0], stats.Std[0]);
    }

    /// <summary>"raw pixels b/255" or "standardised (mean m, std s of the train split)", for logs.</summary>
    public static string Describe(Normalization n) =>
        n.IsUnit ? "raw pixels b/255" : FormattableString.Invariant($"standardised (mean {n.Mean:F4}, std {n.Std:F4})");

    /// <summary>
    /// Scores <paramref name="model"/> on up to <paramref name="sample"/> validation images (evenly spread over the
    /// split, so every class is in) under the scaling <paramref name="spec"/> chose (how <paramref name="data"/> is
    /// scaled) and under the others: "standardize" (the train split's mean and std) and "unit" (b/255). When one
    /// of them beats the chosen scaling by <paramref name="margin"/> or more, <see cref="ScalingCheck.Warning"/>
    /// says so and what to pass; nothing is changed (the user's choice stands). Costs one forward pass of the
    /// sample per scaling.
    /// </summary>
    public static ScalingCheck Compare(nn.Module<Tensor, Tensor> model, ModelSpec spec, DataSplits data, int sample = SampleImages, double margin = WarningMargin)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sample, 1);
        var chosen = data.Info.Normalization;
        var chosenInput = ModelRegistry.CanonicalInput(spec.Input, spec.InChannels) ?? ModelSpec.StandardizedInput;
        var candidates = new List<(string Input, Normalization N)> { (chosenInput, chosen) };
        if (chosenInput != ModelSpec.StandardizedInput) candidates.Add((ModelSpec.StandardizedInput, TrainStatistics(data.Train, chosen)));
        candidates.Add((ModelSpec.UnitInput, Normalization.Unit));
        candidates = candidates.Where((c, i) => i == 0 || !Same(c.N, chosen)).ToList();

        var n = data.Validation.Count;
        var k = (int)Math.Min(sample, n);
        using var scope = NewDisposeScope();
        var rows = tensor(Enumerable.Range(0, k).Select(i => (long)(i * n / k)).ToArray());
        var x = data.Validation.X.index_select(0, rows);
        var y = data.Validation.Y.index_select(0, rows);
        var scores = new List<ScalingScore>();
        foreach (var (input, norm) in candidates)
        {
            // From the chosen scaling back to pixels b/255 and on to this one: x·s0/s + (m0 − m)/s.
            using var a = (chosen.Std / norm.Std).ToScalar();
            using var b = ((chosen.Mean - norm.Mean) / norm.Std).ToScalar();
            using var scaled = x.mul(a).add_(b, SafeOps.One);   // alpha given: TorchSharp's default would be a Scalar left to the finalizer
            scores.Add(new ScalingScore(input, norm, Accuracy.Evaluate(model, new LabeledImages(scaled, y)).Accuracy));
        }
        var best = scores.Skip(1).MaxBy(s => s.Accuracy);
        string? warning = null;
        if (best is not null && best.Accuracy >= scores[0].Accuracy + margin)
            warning = $"the base model scores {P(scores[0].Accuracy)} on {k} validation images with the input scaling asked for, {Name(scores[0])}, " +
                $"but {P(best.Accuracy)} with {Name(best)}: the network was probably trained on pixels scaled that way. The import goes on as asked; " +
                $"if so, import again with --input {best.Input} (ModelSpec.Input = \"{best.Input}\") or with the values of its own Normalize(mean, std), " +
                "--input mean=M,std=S.";
        return new ScalingCheck(scores, k, warning);
    }

    /// <summary>One line for logs: each scaling's accuracy on the sample.</summary>
    public static string Summary(ScalingCheck check) =>
        $"input scaling check on {check.Images} validation images: {string.Join(", ", check.Scores.Select((s, i) => $"{s.Input} {P(s.Accuracy)}{(i == 0 ? " (chosen)" : "")}"))}";

    static string P(double accuracy) => (100 * accuracy).ToString("F1", CultureInfo.InvariantCulture) + " %";

    static string Name(ScalingScore s) => s.Input switch
    {
        ModelSpec.UnitInput => "unit (raw pixels b/255)",
        ModelSpec.StandardizedInput => FormattableString.Invariant($"standardize (the train split's mean {s.Normalization.Mean:F4}, std {s.Normalization.Std:F4})"),
        _ => $"{s.Input} (given values)",
    };

    static bool Same(Normalization a, Normalization b) => Math.Abs(a.Mean - b.Mean) < 1e-9 && Math.Abs(a.Std - b.Std) < 1e-9;

    /// <summary>
    /// The train split's pixel mean and std (population), from its tensor scaled by <paramref name="scaled"/>:
    /// what "standardize" would have measured, to float precision (plenty for a comparison of accuracies).
    /// </summary>
    static Normalization TrainStatistics(ImageDataset train, Normalization scaled)
    {
        using var mean = train.X.mean();
        using var std = train.X.std(unbiased: false);
        return new Normalization(mean.ReadDouble() * scaled.Std + scaled.Mean, std.ReadDouble() * scaled.Std);
    }
}
