using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Data;

namespace PDiff.Evaluation;

/// <summary>
/// One comparison a notebook states: A − B over seeds (<see cref="Difference"/>), named by what A and B are, and
/// scaled for reading (100 and "pt" for accuracies held as fractions; 1 and "" for IoUs and distances).
/// </summary>
public sealed record Comparison(string A, string B, PairedDifference Difference, double Scale = 100, string Unit = "pt", int Digits = 2)
{
    /// <summary>"A − B".</summary>
    public string Label => $"{A} − {B}";

    /// <summary>The verdict of the raw 95 % interval: higher / lower only when it excludes 0.</summary>
    public DifferenceVerdict Verdict => Difference.Verdict;

    /// <summary>"+0.14 pt [−0.01, +0.28]".</summary>
    public string Numbers => Difference.Format(Scale, Digits, Unit);

    /// <summary>
    /// The one sentence of the verdict rule: "p-diff's mean is indistinguishable from the originals' mean: +0.14 pt
    /// [−0.01, +0.28] over 3 seeds (95 % interval)". Nothing else may say "higher", "lower", "beats" or "as accurate".
    /// </summary>
    public string Sentence(DifferenceVerdict? verdict = null) =>
        $"{VerdictWords.Phrase(verdict ?? Verdict, A, B)}: {Numbers}" + (Difference.Count < 2 ? "" : $" over {Difference.Count} seeds ({100 * Difference.Level:0} % interval)");
}

/// <summary>The words of the verdict rule, in one place: what a verdict lets a sentence say about A and B.</summary>
public static class VerdictWords
{
    /// <summary>"A is higher than B" / "A is lower than B" / "A is indistinguishable from B" / "A − B: one seed, no verdict".</summary>
    public static string Phrase(DifferenceVerdict verdict, string a, string b) => verdict switch
    {
        DifferenceVerdict.Higher => $"{a} is higher than {b}",
        DifferenceVerdict.Lower => $"{a} is lower than {b}",
        DifferenceVerdict.Indistinguishable => $"{a} is indistinguishable from {b}",
        _ => $"{a} − {b}: one seed, no verdict",
    };

    /// <summary>"higher", "lower", "indistinguishable" or "one seed".</summary>
    public static string Word(DifferenceVerdict verdict) => verdict switch
    {
        DifferenceVerdict.Higher => "higher",
        DifferenceVerdict.Lower => "lower",
        DifferenceVerdict.Indistinguishable => "indistinguishable",
        _ => "one seed",
    };
}

/// <summary>
/// What a notebook claims, stated as a family: its <see cref="Headline"/> comparisons (chosen before the run, read with
/// Holm's correction, so the chance of any false "higher" or "lower" among them is at most α) and the
/// <see cref="Exploratory"/> rest (raw 95 % intervals, labelled as such). Each headline comparison is reported with its raw
/// interval beside its Holm-adjusted p-value and verdict.
/// </summary>
public sealed class ComparisonFamily
{
    readonly double[] holm;

    public ComparisonFamily(string name, IEnumerable<Comparison> headline, IEnumerable<Comparison>? exploratory = null, double alpha = 0.05)
    {
        if (!(alpha > 0 && alpha < 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "α must lie in (0, 1).");
        Name = name;
        Alpha = alpha;
        Headline = headline.ToList();
        Exploratory = (exploratory ?? Array.Empty<Comparison>()).ToList();
        if (Headline.Count == 0) throw new ArgumentException($"Family '{name}' names no headline comparison.", nameof(headline));
        var dup = Headline.Concat(Exploratory).GroupBy(c => c.Label).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"Family '{name}' states '{dup.Key}' twice.");
        holm = Statistics.HolmAdjusted(Headline.Select(c => c.Difference.P).ToList());
    }

    public string Name { get; }
    public double Alpha { get; }
    public IReadOnlyList<Comparison> Headline { get; }
    public IReadOnlyList<Comparison> Exploratory { get; }

    /// <summary>A headline comparison's Holm-adjusted p-value (NaN for one seed).</summary>
    public double HolmP(Comparison c) => holm[IndexOf(c)];

    /// <summary>A headline comparison's verdict after Holm's correction.</summary>
    public DifferenceVerdict HolmVerdict(Comparison c) => Statistics.Verdict(c.Difference.Mean, HolmP(c), Alpha);

    /// <summary>Whether <paramref name="c"/> is one of the headline comparisons (read with Holm's correction).</summary>
    public bool IsHeadline(Comparison c) => Headline.Contains(c);

    /// <summary>The verdict this family reads for <paramref name="c"/>: Holm's for a headline comparison, the raw interval's for an exploratory one.</summary>
    public DifferenceVerdict Verdict(Comparison c) =>
        IsHeadline(c) ? HolmVerdict(c) : Exploratory.Contains(c) ? c.Verdict : throw new ArgumentException($"'{c.Label}' is not a comparison of family '{Name}'.", nameof(c));

    /// <summary>
    /// The family's sentence of one comparison: "[headline] … ; p = …, Holm-adjusted p = …." with the Holm verdict, or
    /// "[exploratory] … ." with the raw one.
    /// </summary>
    public string Sentence(Comparison c) => IsHeadline(c)
        ? $"[headline] {c.Sentence(HolmVerdict(c))}; p {Is(c.Difference.P)}, Holm-adjusted p {Is(HolmP(c))}."
        : $"[exploratory] {c.Sentence(Verdict(c))}.";

    /// <summary>The comparison of a headline or exploratory label ("A − B").</summary>
    public Comparison this[string label] =>
        Headline.Concat(Exploratory).FirstOrDefault(c => c.Label == label) ?? throw new KeyNotFoundException($"Family '{Name}' has no comparison '{label}'.");

    /// <summary>"Headline family (Holm, α = 0.05): 3 comparisons; 5 more intervals are exploratory (uncorrected)."</summary>
    public string Statement() =>
        $"{Name}: {Headline.Count} headline comparison{(Headline.Count == 1 ? "" : "s")}, read with Holm's correction at α = {Alpha.ToString("0.##", CultureInfo.InvariantCulture)}; "
        + (Exploratory.Count == 0 ? "no other interval is shown." : $"{Exploratory.Count} more interval{(Exploratory.Count == 1 ? " is" : "s are")} exploratory (raw {100 * (1 - Alpha):0} %, uncorrected).");

    /// <summary>
    /// The sentences: the statement, then each headline comparison (its Holm verdict, the raw interval and both p-values),
    /// then each exploratory one (its raw verdict, labelled).
    /// </summary>
    public IEnumerable<string> Sentences()
    {
        yield return Statement();
        foreach (var c in Headline.Concat(Exploratory))
            yield return Sentence(c);
    }

    /// <summary>One row per comparison: role, label, mean, raw interval, p, Holm p (headline only), raw and Holm verdicts.</summary>
    public DataFrame ToDataFrame()
    {
        var all = Headline.Select(c => (Role: "headline", C: c)).Concat(Exploratory.Select(c => (Role: "exploratory", C: c))).ToList();
        return new DataFrame(
            new StringDataFrameColumn("role", all.Select(x => x.Role)),
            new StringDataFrameColumn("comparison", all.Select(x => x.C.Label)),
            new StringDataFrameColumn("mean [95 % interval]", all.Select(x => x.C.Numbers)),
            new StringDataFrameColumn("p", all.Select(x => P(x.C.Difference.P))),
            new StringDataFrameColumn("Holm p", all.Select(x => x.Role == "headline" ? P(HolmP(x.C)) : "")),
            new StringDataFrameColumn("raw verdict", all.Select(x => VerdictWords.Word(x.C.Verdict))),
            new StringDataFrameColumn("verdict", all.Select(x => VerdictWords.Word(x.Role == "headline" ? HolmVerdict(x.C) : x.C.Verdict)
                + (x.Role == "headline" ? " (Holm)" : " (exploratory)"))));
    }

    int IndexOf(Comparison c)
    {
        var i = Headline.ToList().IndexOf(c);
        return i >= 0 ? i : throw new ArgumentException($"'{c.Label}' is not a headline comparison of family '{Name}'.", nameof(c));
    }

    /// <summary>"= 0.035", "< 0.001" or "= –" (one seed): how a sentence gives a p-value.</summary>
    static string Is(double p) => p < 0.001 ? "< 0.001" : "= " + P(p);

    static string P(double p) => double.IsNaN(p) ? "–" : p < 0.001 ? "< 0.001" : p.ToString("F3", CultureInfo.InvariantCulture);
}
