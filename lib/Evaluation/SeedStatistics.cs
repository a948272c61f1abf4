using System.Globalization;
using PDiff.Data;

namespace PDiff.Evaluation;

/// <summary>
/// One statistic measured once per pipeline seed (a base model, a zoo and p-diff trained anew for each seed):
/// the values, their mean and their sample standard deviation (n − 1). A single seed has no spread (Std NaN).
/// </summary>
public sealed record SeedSpread(IReadOnlyList<double> Values, double Mean, double Std)
{
    public int Count => Values.Count;

    public static SeedSpread Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("A statistic over seeds needs at least one seed.", nameof(values));
        var mean = Statistics.Mean(values);
        return new SeedSpread(values.ToArray(), mean, Statistics.SampleStd(values, mean));
    }

    /// <summary>
    /// Where the mean of <paramref name="newSeeds"/> fresh seeds should land with probability <paramref name="level"/>
    /// if they come from the same distribution as these: mean ± t(df = n − 1)·s·√(1/n + 1/m) (a prediction
    /// interval, wider than the confidence interval of the mean). Null with fewer than two seeds.
    /// </summary>
    public (double Low, double High)? PredictionInterval(int newSeeds = 1, double level = 0.95) =>
        Statistics.PredictionInterval(Values, newSeeds, level) is { } i ? (i.Low, i.High) : null;

    /// <summary>"87.20 ± 0.15" (scaled, e.g. 100 for percent); a single seed prints its value alone.</summary>
    public string Format(double scale = 100, int digits = 2) => Count > 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(scale * Mean).ToString($"F{digits}", CultureInfo.InvariantCulture)} ± {(scale * Std).ToString($"F{digits}", CultureInfo.InvariantCulture)}")
        : (scale * Mean).ToString($"F{digits}", CultureInfo.InvariantCulture);
}

/// <summary>
/// A − B measured on the same seeds (same base model and zoo for both, so the seed-to-seed variation they
/// share cancels): the mean difference, its sample std, and the two-sided Student-t confidence interval of
/// the mean difference at <see cref="Level"/> (df = n − 1). The verdict follows the interval: higher or
/// lower only when it excludes 0.
/// </summary>
public sealed record PairedDifference(string Name, IReadOnlyList<double> Differences, double Mean, double Std, double Low, double High, double Level)
{
    public int Count => Differences.Count;

    public static PairedDifference Of(string name, IReadOnlyList<double> a, IReadOnlyList<double> b, double level = 0.95)
    {
        if (a.Count == 0 && b.Count == 0) throw new ArgumentException($"Paired difference '{name}' has no seeds.");
        var d = Statistics.PairedDifferences(a, b, $"Paired difference '{name}'");
        var mean = Statistics.Mean(d);
        return Statistics.MeanInterval(d, level) is { } i
            ? new PairedDifference(name, d, mean, Statistics.SampleStd(d, mean), i.Low, i.High, level)
            : new PairedDifference(name, d, mean, double.NaN, double.NaN, double.NaN, level);
    }

    public DifferenceVerdict Verdict => Count < 2 ? DifferenceVerdict.OneSeed : new Interval(Low, High, Level).Verdict;

    /// <summary>The two-sided paired t-test's p-value (NaN for one seed): below 1 − <see cref="Level"/> exactly when the interval excludes 0.</summary>
    public double P => Statistics.PairedTTestP(Differences);

    /// <summary>
    /// This difference measured against <paramref name="threshold"/> instead of 0 (every value, the mean and the interval
    /// shifted by it), so the verdict rule decides "above the threshold", "below it" or "cannot tell".
    /// </summary>
    public PairedDifference Minus(double threshold) =>
        new(Name, Differences.Select(d => d - threshold).ToArray(), Mean - threshold, Std, Low - threshold, High - threshold, Level);

    /// <summary>"higher", "lower", "indistinguishable (95 % interval spans 0)" or "one seed: no interval".</summary>
    public string VerdictText => Verdict switch
    {
        DifferenceVerdict.Higher => "higher",
        DifferenceVerdict.Lower => "lower",
        DifferenceVerdict.Indistinguishable => $"indistinguishable ({100 * Level:0} % interval spans 0)",
        _ => "one seed: no interval",
    };

    /// <summary>"+0.07 pt [−0.21, +0.35]" (scaled; percentage points by default).</summary>
    public string Format(double scale = 100, int digits = 2, string unit = "pt")
    {
        var u = unit.Length > 0 ? " " + unit : "";
        return Count < 2
            ? $"{Signed(scale * Mean, digits)}{u} (one seed)"
            : $"{Signed(scale * Mean, digits)}{u} [{Signed(scale * Low, digits)}, {Signed(scale * High, digits)}]";
    }

    /// <summary>
    /// The sentence a notebook prints: "p-diff mean vs originals' mean: +0.07 pt [−0.21, +0.35] over 3 seeds (95 %
    /// interval): indistinguishable (95 % interval spans 0)." <paramref name="what"/> names A and B.
    /// </summary>
    public string Sentence(string? what = null, double scale = 100, string unit = "pt") =>
        $"{what ?? Name}: {Format(scale, 2, unit)}" + (Count < 2 ? "" : $" over {Count} seeds ({100 * Level:0} % interval)") + $": {VerdictText}.";

    public static string Signed(double v, int digits = 2) =>
        (v >= 0 ? "+" : "−") + Math.Abs(v).ToString($"F{digits}", CultureInfo.InvariantCulture);
}
