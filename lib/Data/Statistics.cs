using MathNet.Numerics.Distributions;

namespace PDiff.Data;

/// <summary>
/// The statistics every reported spread and interval uses, in one place: mean, sample standard deviation (n − 1,
/// the spread over seeds or runs), population standard deviation (n, numpy's default, which the reference's
/// evaluate.py reports for a group of models), median, paired differences, Student-t intervals and the verdict of
/// an interval. Sums run in the order given, so a caller that passes the same values in the same order gets the
/// same bits as any other caller.
/// </summary>
public static class Statistics
{
    /// <summary>The arithmetic mean; throws on no values.</summary>
    public static double Mean(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("The mean of no values is undefined.", nameof(values));
        return values.Average();
    }

    /// <summary>Σ (v − mean)², summed in the order given.</summary>
    static double SquaredDeviations(IReadOnlyList<double> values, double mean) => values.Sum(v => (v - mean) * (v - mean));

    /// <summary>The sample standard deviation √(Σ(v − mean)² / (n − 1)); NaN for fewer than two values (no spread to estimate).</summary>
    public static double SampleStd(IReadOnlyList<double> values) => SampleStd(values, Mean(values));

    /// <summary><see cref="SampleStd(IReadOnlyList{double})"/> around a mean the caller already has.</summary>
    public static double SampleStd(IReadOnlyList<double> values, double mean) =>
        values.Count < 2 ? double.NaN : Math.Sqrt(SquaredDeviations(values, mean) / (values.Count - 1));

    /// <summary>The population standard deviation √(Σ(v − mean)² / n) (numpy's <c>std</c> default).</summary>
    public static double PopulationStd(IReadOnlyList<double> values) => PopulationStd(values, Mean(values));

    /// <summary><see cref="PopulationStd(IReadOnlyList{double})"/> around a mean the caller already has.</summary>
    public static double PopulationStd(IReadOnlyList<double> values, double mean)
    {
        if (values.Count == 0) throw new ArgumentException("The spread of no values is undefined.", nameof(values));
        return Math.Sqrt(SquaredDeviations(values, mean) / values.Count);
    }

    /// <summary>The median; of an even count the mean of the two middle values (numpy), not the lower one (torch.median).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("The median of no values is undefined.", nameof(values));
        var sorted = values.Order().ToArray();
        var n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    }

    /// <summary>a[i] − b[i], seed by seed; throws when the counts differ.</summary>
    public static double[] PairedDifferences(IReadOnlyList<double> a, IReadOnlyList<double> b, string what = "paired difference")
    {
        if (a.Count != b.Count) throw new ArgumentException($"{what}: {a.Count} values against {b.Count}; pair them seed by seed.");
        return a.Zip(b, (x, y) => x - y).ToArray();
    }

    /// <summary>The p-quantile of Student's t with <paramref name="df"/> degrees of freedom (t(0.975, 2) = 4.303).</summary>
    public static double TQuantile(double p, int df)
    {
        if (df < 1) throw new ArgumentOutOfRangeException(nameof(df), df, "Student's t needs at least one degree of freedom (two values).");
        return StudentT.InvCDF(0, 1, df, p);
    }

    /// <summary>
    /// The half-width of the two-sided Student-t confidence interval of the mean at <paramref name="level"/>:
    /// t((1 + level)/2, n − 1)·s/√n. NaN for fewer than two values (no spread to estimate).
    /// </summary>
    public static double MeanHalfWidth(IReadOnlyList<double> values, double level = 0.95)
    {
        CheckLevel(level);
        return values.Count < 2 ? double.NaN : MeanHalfWidth(values, Mean(values), level);
    }

    /// <summary>
    /// The two-sided Student-t confidence interval of the mean at <paramref name="level"/>: mean ± t((1 + level)/2, n − 1)·s/√n.
    /// Null for fewer than two values.
    /// </summary>
    public static Interval? MeanInterval(IReadOnlyList<double> values, double level = 0.95)
    {
        CheckLevel(level);
        if (values.Count < 2) return null;
        var mean = Mean(values);
        var half = MeanHalfWidth(values, mean, level);
        return new Interval(mean - half, mean + half, level);
    }

    /// <summary>
    /// Where the mean of <paramref name="newValues"/> fresh draws should land with probability <paramref name="level"/> if they
    /// come from the same distribution: mean ± t((1 + level)/2, n − 1)·s·√(1/n + 1/m), wider than the confidence interval.
    /// Null for fewer than two values or no new ones.
    /// </summary>
    public static Interval? PredictionInterval(IReadOnlyList<double> values, int newValues = 1, double level = 0.95)
    {
        CheckLevel(level);
        if (values.Count < 2 || newValues < 1) return null;
        var mean = Mean(values);
        var half = TwoSidedT(level, values.Count) * SampleStd(values, mean) * Math.Sqrt(1.0 / values.Count + 1.0 / newValues);
        return new Interval(mean - half, mean + half, level);
    }

    /// <summary>
    /// The two-sided p-value of Student's one-sample t-test that the mean of <paramref name="values"/> is 0 (for paired
    /// differences: that A and B do not differ): 2·(1 − F(|mean|·√n / s; n − 1)). It is below 1 − level exactly when
    /// <see cref="MeanInterval"/> at that level excludes 0. NaN for fewer than two values; with no spread, 0 when the
    /// mean is not 0 and 1 when it is.
    /// </summary>
    public static double PairedTTestP(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return double.NaN;
        var mean = Mean(values);
        var std = SampleStd(values, mean);
        if (std == 0) return mean == 0 ? 1 : 0;
        var t = Math.Abs(mean) * Math.Sqrt(values.Count) / std;
        return 2 * StudentT.CDF(0, 1, values.Count - 1, -t);
    }

    /// <summary>
    /// Holm's step-down adjustment of a family of p-values, returned in the order given: with the m values sorted
    /// ascending, the i-th (from 1) becomes max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎). Rejecting where the adjusted value
    /// is below α keeps the chance of any false "higher" or "lower" in the family at most α. NaN entries (one seed) stay
    /// NaN and do not count in m.
    /// </summary>
    public static double[] HolmAdjusted(IReadOnlyList<double> pValues)
    {
        var adjusted = pValues.ToArray();
        var order = Enumerable.Range(0, adjusted.Length).Where(i => !double.IsNaN(adjusted[i])).OrderBy(i => adjusted[i]).ToArray();
        foreach (var i in order)
            if (!(adjusted[i] >= 0 && adjusted[i] <= 1)) throw new ArgumentOutOfRangeException(nameof(pValues), adjusted[i], "A p-value must lie in [0, 1].");
        var running = 0.0;
        for (var rank = 0; rank < order.Length; rank++)
        {
            running = Math.Max(running, Math.Min(1, (order.Length - rank) * pValues[order[rank]]));
            adjusted[order[rank]] = running;
        }
        return adjusted;
    }

    /// <summary>
    /// The verdict rule for a comparison: "higher" or "lower" when its (adjusted) p-value is below
    /// <paramref name="alpha"/>, by the sign of the mean difference; "indistinguishable" otherwise; one seed gives no verdict.
    /// </summary>
    public static DifferenceVerdict Verdict(double mean, double p, double alpha = 0.05)
    {
        if (!(alpha > 0 && alpha < 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "α must lie in (0, 1).");
        if (double.IsNaN(p)) return DifferenceVerdict.OneSeed;
        return p < alpha && mean > 0 ? DifferenceVerdict.Higher : p < alpha && mean < 0 ? DifferenceVerdict.Lower : DifferenceVerdict.Indistinguishable;
    }

    /// <summary>t·s/√n, evaluated left to right so that every caller of a mean interval gets the same bits.</summary>
    static double MeanHalfWidth(IReadOnlyList<double> values, double mean, double level) =>
        TwoSidedT(level, values.Count) * SampleStd(values, mean) / Math.Sqrt(values.Count);

    /// <summary>The t quantile of a two-sided interval at <paramref name="level"/> over <paramref name="count"/> values (df = n − 1).</summary>
    static double TwoSidedT(double level, int count) => TQuantile((1 + level) / 2, count - 1);

    static void CheckLevel(double level)
    {
        if (!(level > 0 && level < 1)) throw new ArgumentOutOfRangeException(nameof(level), level, "An interval's level must lie in (0, 1).");
    }
}

/// <summary>What an interval of a difference says about its sign.</summary>
public enum DifferenceVerdict { Higher, Lower, Indistinguishable, OneSeed }

/// <summary>A two-sided interval at <see cref="Level"/> (e.g. 0.95).</summary>
public readonly record struct Interval(double Low, double High, double Level)
{
    /// <summary>Higher when the interval lies above 0, lower when below, indistinguishable when it holds 0.</summary>
    public DifferenceVerdict Verdict => Low > 0 ? DifferenceVerdict.Higher : High < 0 ? DifferenceVerdict.Lower : DifferenceVerdict.Indistinguishable;

    /// <summary>Whether <paramref name="value"/> lies inside, ends included.</summary>
    public bool Contains(double value) => value >= Low && value <= High;
}
