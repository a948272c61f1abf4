using PDiff.Data;
using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using PDiff.Plots;
using PDiff.Storage;

namespace PDiff.Studies;

/// <summary>
/// A candidate against a baseline, paired seed by seed: test accuracy, mean max IoU and mean min L2 to the originals,
/// each a <see cref="Comparison"/>. Every conclusion is a verdict's: the candidate is <see cref="MoreAccurate"/> when the
/// accuracy verdict its family reads (<see cref="AccuracyVerdict"/>: Holm's for a candidate, the raw interval's for
/// plain p-diff) is "higher", <see cref="Closer"/> when a novelty interval says so (max IoU higher or min L2 lower than
/// the baseline's), and it <see cref="Beats"/> the baseline when it is more accurate and not closer.
/// </summary>
public sealed record CandidateVerdict(string Candidate, string Baseline, Comparison Accuracy, Comparison MaxIou, Comparison MinL2)
{
    /// <summary>The accuracy verdict the report's family reads (Holm's for a headline comparison); the raw interval's until set.</summary>
    public DifferenceVerdict AccuracyVerdict { get; init; } = Accuracy.Verdict;

    public bool MoreAccurate => AccuracyVerdict == DifferenceVerdict.Higher;

    /// <summary>A novelty interval places the candidate nearer the originals: its max IoU higher, or its min L2 lower, than the baseline's.</summary>
    public bool Closer => MaxIou.Verdict == DifferenceVerdict.Higher || MinL2.Verdict == DifferenceVerdict.Lower;

    public bool NoCloser => !Closer;
    public bool Beats => MoreAccurate && NoCloser;

    /// <summary>What the verdicts conclude, e.g. "beats it: accuracy higher, and no novelty interval places it closer to the originals".</summary>
    public string Conclusion =>
        Beats ? "beats it: accuracy higher, and no novelty interval places it closer to the originals"
        : MoreAccurate ? "does not beat it: accuracy higher, but closer to the originals"
        : "does not beat it: " + (AccuracyVerdict == DifferenceVerdict.OneSeed ? "one seed gives no accuracy verdict" : $"accuracy {VerdictWords.Word(AccuracyVerdict)}")
          + (Closer ? ", and closer to the originals" : "");
}

/// <summary>
/// Notebook 10 over pipeline seeds: each group's mean test accuracy with its 95 % Student-t interval over seeds,
/// validation accuracy and the novelty columns, the paired differences of every candidate (and plain p-diff)
/// against both baselines, the chart of accuracy against max IoU, and the files of the top-level results folder.
/// </summary>
public sealed class BeyondReport
{
    public BeyondReport(IReadOnlyList<BeyondSeed> seeds, string averageGroup)
    {
        if (seeds is null || seeds.Count == 0) throw new ArgumentException("The report needs at least one seed.", nameof(seeds));
        Seeds = seeds;
        AverageGroup = averageGroup;
        // Groups every seed has, in the first seed's order (a candidate skipped on one seed is left out).
        Groups = seeds[0].Groups.Select(g => g.Group).Where(g => seeds.All(s => s.Groups.Any(x => x.Group == g))).ToList();
        if (!Groups.Contains(averageGroup) || !Groups.Contains(BeyondBaselines.Gaussian))
            throw new ArgumentException($"Every seed needs the baselines '{averageGroup}' and '{BeyondBaselines.Gaussian}'; the groups are {string.Join(", ", Groups)}.", nameof(seeds));
        var challengers = new[] { BeyondBaselines.PDiffGroup }.Concat(BeyondBaselines.Candidates).Where(Groups.Contains);
        var raw = challengers.SelectMany(c => new[] { averageGroup, BeyondBaselines.Gaussian }.Select(b => Compare(c, b))).ToList();
        Family = FamilyOf(raw);
        Verdicts = raw.Select(v => v with { AccuracyVerdict = Family.Verdict(v.Accuracy) }).ToList();
    }

    public IReadOnlyList<BeyondSeed> Seeds { get; }
    public string AverageGroup { get; }
    public IReadOnlyList<string> Groups { get; }
    public IReadOnlyList<CandidateVerdict> Verdicts { get; }

    /// <summary>
    /// What the notebook claims: each candidate's accuracy against each baseline is a headline comparison (Holm's
    /// correction over all of them); plain p-diff's accuracy and every novelty comparison are exploratory.
    /// </summary>
    public ComparisonFamily Family { get; }

    /// <summary>A statistic of a group, one value per seed.</summary>
    public SeedSpread Over(string group, Func<NoveltyGroup, double> stat) => SeedSpread.Of(Seeds.Select(s => stat(s.Group(group))).ToList());

    /// <summary>The verdict of <paramref name="candidate"/> against <paramref name="baseline"/>, as the family reads it.</summary>
    public CandidateVerdict Verdict(string candidate, string baseline) =>
        Verdicts.FirstOrDefault(v => v.Candidate == candidate && v.Baseline == baseline)
        ?? throw new KeyNotFoundException($"No comparison of '{candidate}' with '{baseline}'.");

    /// <summary>The family's sentences of one verdict (accuracy, max IoU, min L2) and its conclusion.</summary>
    public string Sentence(CandidateVerdict v) =>
        $"{Family.Sentence(v.Accuracy)} {Family.Sentence(v.MaxIou)} {Family.Sentence(v.MinL2)} → {BeyondBaselines.Name(v.Candidate)} {v.Conclusion}.";

    CandidateVerdict Compare(string candidate, string baseline)
    {
        var (a, b) = (BeyondBaselines.Name(candidate), BeyondBaselines.Name(baseline));
        Comparison C(string quantity, Func<NoveltyGroup, double> f, double scale, string unit, int digits) =>
            new($"{quantity} of {a}", $"that of {b}", PairedDifference.Of($"{candidate} − {baseline}, {quantity}",
                Seeds.Select(s => f(s.Group(candidate))).ToList(), Seeds.Select(s => f(s.Group(baseline))).ToList()), scale, unit, digits);
        return new CandidateVerdict(candidate, baseline,
            C("mean test accuracy", g => g.TestMean, 100, "pt", 2),
            C("mean max IoU to the originals", g => g.MeanMaxIou, 1, "", 3),
            C("mean min L2 to the originals", g => g.MeanMinL2, 1, "", 2));
    }

    static ComparisonFamily FamilyOf(IReadOnlyList<CandidateVerdict> verdicts)
    {
        bool IsCandidate(CandidateVerdict v) => BeyondBaselines.Candidates.Contains(v.Candidate);
        var headline = verdicts.Where(IsCandidate).Select(v => v.Accuracy).ToList();
        var exploratory = verdicts.Where(v => !IsCandidate(v)).Select(v => v.Accuracy)
            .Concat(verdicts.SelectMany(v => new[] { v.MaxIou, v.MinL2 })).ToList();
        // Without a candidate (all skipped), plain p-diff's accuracy comparisons are the claim.
        if (headline.Count == 0) (headline, exploratory) = (exploratory.Take(2).ToList(), exploratory.Skip(2).ToList());
        return new ComparisonFamily("Beyond the baselines (each candidate's mean test accuracy against the average and the Gaussian)", headline, exploratory);
    }

    /// <summary>The candidates (not plain p-diff) that beat both baselines.</summary>
    public IReadOnlyList<string> Winners => BeyondBaselines.Candidates.Where(c => Groups.Contains(c) &&
        Verdicts.Where(v => v.Candidate == c).All(v => v.Beats) && Verdicts.Any(v => v.Candidate == c)).ToList();

    /// <summary>Half-width of the 95 % Student-t interval of the mean over seeds (NaN for one seed).</summary>
    public static double HalfWidth(SeedSpread s, double level = 0.95) =>
        Statistics.MeanHalfWidth(s.Values, level);

    static string Pct(double v) => (100 * v).ToString("F2", CultureInfo.InvariantCulture);
    static string Num(double v, string f = "F3") => double.IsNaN(v) ? "–" : v.ToString(f, CultureInfo.InvariantCulture);

    /// <summary>The notebook's table: per group, test accuracy mean [95 % interval] over seeds, validation mean, and the novelty means ± std.</summary>
    public DataFrame ToDisplayFrame()
    {
        string Acc(string g)
        {
            var s = Over(g, x => x.TestMean);
            var h = HalfWidth(s);
            return double.IsNaN(h) ? Pct(s.Mean) : $"{Pct(s.Mean)} [{Pct(s.Mean - h)}, {Pct(s.Mean + h)}]";
        }
        string Spread(string g, Func<NoveltyGroup, double> f) { var s = Over(g, f); return s.Count > 1 ? $"{Num(s.Mean)} ± {Num(s.Std)}" : Num(s.Mean); }
        return new DataFrame(
            new StringDataFrameColumn("group", Groups.Select(BeyondBaselines.Label)),
            new Int32DataFrameColumn("models / seed", Groups.Select(g => Seeds[0].Group(g).Count)),
            new StringDataFrameColumn($"test acc % [95 % CI, {Seeds.Count} seeds]", Groups.Select(Acc)),
            new StringDataFrameColumn("val acc %", Groups.Select(g => Pct(Over(g, x => x.ValMean).Mean))),
            new StringDataFrameColumn("mean max IoU to originals", Groups.Select(g => Spread(g, x => x.MeanMaxIou))),
            new StringDataFrameColumn("mean min L2 to originals", Groups.Select(g => Spread(g, x => x.MeanMinL2))));
    }

    /// <summary>One row per group and statistic: every seed's value, mean, std and the 95 % interval of the mean.</summary>
    public DataFrame ToSummaryFrame()
    {
        var stats = new (string Name, Func<NoveltyGroup, double> Of)[]
        {
            ("test_mean", g => g.TestMean), ("val_mean", g => g.ValMean), ("mean_max_iou", g => g.MeanMaxIou), ("mean_min_l2", g => g.MeanMinL2),
        };
        var rows = Groups.SelectMany(g => stats.Select(st => (Group: g, Stat: st.Name, Spread: Over(g, st.Of)))).ToList();
        var columns = new List<DataFrameColumn>
        {
            new StringDataFrameColumn("group", rows.Select(r => r.Group)),
            new StringDataFrameColumn("statistic", rows.Select(r => r.Stat)),
        };
        for (var i = 0; i < Seeds.Count; i++) columns.Add(new DoubleDataFrameColumn($"seed{Seeds[i].Seed}", rows.Select(r => r.Spread.Values[i])));
        columns.Add(new DoubleDataFrameColumn("mean", rows.Select(r => r.Spread.Mean)));
        columns.Add(new DoubleDataFrameColumn("std", rows.Select(r => r.Spread.Std)));
        columns.Add(new DoubleDataFrameColumn("ci_low", rows.Select(r => r.Spread.Mean - HalfWidth(r.Spread))));
        columns.Add(new DoubleDataFrameColumn("ci_high", rows.Select(r => r.Spread.Mean + HalfWidth(r.Spread))));
        return new DataFrame(columns);
    }

    /// <summary>
    /// Every paired difference: candidate, baseline, quantity, per-seed values, mean, 95 % interval, the raw verdict, whether
    /// the candidate beats the baseline, and the family's reading: role (headline / exploratory), p, Holm's p and verdict.
    /// </summary>
    public DataFrame ToDifferencesFrame()
    {
        var rows = Verdicts.SelectMany(v => new[] { ("test_acc", v.Accuracy), ("mean_max_iou", v.MaxIou), ("mean_min_l2", v.MinL2) }
            .Select(q => (Verdict: v, Quantity: q.Item1, C: q.Item2, Diff: q.Item2.Difference))).ToList();
        var columns = new List<DataFrameColumn>
        {
            new StringDataFrameColumn("candidate", rows.Select(r => r.Verdict.Candidate)),
            new StringDataFrameColumn("baseline", rows.Select(r => r.Verdict.Baseline)),
            new StringDataFrameColumn("quantity", rows.Select(r => r.Quantity)),
        };
        for (var i = 0; i < Seeds.Count; i++) columns.Add(new DoubleDataFrameColumn($"seed{Seeds[i].Seed}", rows.Select(r => r.Diff.Differences[i])));
        columns.Add(new DoubleDataFrameColumn("mean", rows.Select(r => r.Diff.Mean)));
        columns.Add(new DoubleDataFrameColumn("ci_low", rows.Select(r => r.Diff.Low)));
        columns.Add(new DoubleDataFrameColumn("ci_high", rows.Select(r => r.Diff.High)));
        columns.Add(new StringDataFrameColumn("verdict", rows.Select(r => r.Diff.VerdictText)));
        columns.Add(new BooleanDataFrameColumn("beats_baseline", rows.Select(r => r.Verdict.Beats)));
        columns.Add(new StringDataFrameColumn("role", rows.Select(r => Role(r.C))));
        columns.Add(new DoubleDataFrameColumn("p", rows.Select(r => r.Diff.P)));
        columns.Add(new DoubleDataFrameColumn("holm_p", rows.Select(r => Family.IsHeadline(r.C) ? Family.HolmP(r.C) : double.NaN)));
        columns.Add(new StringDataFrameColumn("family_verdict", rows.Select(r => VerdictWords.Word(Family.Verdict(r.C)))));
        return new DataFrame(columns);
    }

    string Role(Comparison c) => Family.IsHeadline(c) ? "headline" : "exploratory";

    /// <summary>
    /// Accuracy against max IoU to the originals, one point a group: the mean over seeds of the group's mean test
    /// accuracy (error bar: 95 % interval over seeds) and of its mean max IoU (error bar: std over seeds).
    /// </summary>
    public Figure AccuracyVsMaxIou(string? title = null)
    {
        var fig = new Figure();
        foreach (var g in Groups)
        {
            var acc = Over(g, x => x.TestMean);
            var iou = Over(g, x => x.MeanMaxIou);
            var h = HalfWidth(acc);
            var candidate = BeyondBaselines.Candidates.Contains(g);
            fig.Add(new Scatter
            {
                Name = BeyondBaselines.Label(g), Mode = "markers",
                X = new[] { iou.Mean }, Y = new[] { 100 * acc.Mean },
                ErrorY = double.IsNaN(h) ? null : new ErrorBars { Array = new[] { 100 * h } },
                ErrorX = double.IsNaN(iou.Std) ? null : new ErrorBars { Array = new[] { iou.Std } },
                Marker = new Marker { Color = ColorOf(g), Size = 12, Symbol = candidate ? "diamond" : g == GroupNovelty.Originals ? "square" : "circle" },
                HoverTemplate = $"{BeyondBaselines.Label(g)}: max IoU %{{x:.3f}}, acc %{{y:.2f}}%<extra></extra>",
            });
        }
        return fig.WithTitles(title ?? $"Accuracy vs max IoU to the originals ({Seeds.Count} seeds; bars: 95 % CI of accuracy, std of IoU)",
            "mean max IoU with any original (originals: leave-one-out)", "mean test accuracy (%)").WithSize(820, 500);
    }

    static string ColorOf(string group) => group switch
    {
        BeyondBaselines.PDiffGroup => MemorizationCharts.ColorOf(Evaluator.Generated),
        BeyondBaselines.SwaPDiff => "#e377c2",
        BeyondBaselines.FineTuned => "#9467bd",
        BeyondBaselines.LatentAverageOriginals => "#bcbd22",
        BeyondBaselines.LatentAverageGenerated => "#17becf",
        _ => MemorizationCharts.ColorOf(group),
    };

    /// <summary>Writes summary.csv, differences.csv and summary.json (seeds, groups, every verdict) into the claimed folder.</summary>
    public void Write(OwnedFolder folder)
    {
        var w = new ResultsWriter(folder.Directory, folder);
        w.WriteCsv("summary.csv", ToSummaryFrame());
        w.WriteCsv("differences.csv", ToDifferencesFrame());
        w.WriteJson("summary.json", new
        {
            seeds = Seeds.Select(s => s.Seed), folders = Seeds.Select(s => $"seed{s.Seed}"), groups = Groups, average_group = AverageGroup,
            winners = Winners, family = Family.Statement(),
            verdicts = Verdicts.Select(v => new
            {
                candidate = v.Candidate, baseline = v.Baseline, more_accurate = v.MoreAccurate, no_closer = v.NoCloser, beats = v.Beats,
                accuracy = Json(v.Accuracy), max_iou = Json(v.MaxIou), min_l2 = Json(v.MinL2),
            }),
        });
    }

    /// <summary>One comparison in summary.json: mean, raw interval and verdict, and the family's reading of it.</summary>
    object Json(Comparison c) => new
    {
        mean = c.Difference.Mean, ci_low = c.Difference.Low, ci_high = c.Difference.High, verdict = c.Difference.VerdictText,
        role = Role(c), p = c.Difference.P, holm_p = Family.IsHeadline(c) ? Family.HolmP(c) : double.NaN, family_verdict = VerdictWords.Word(Family.Verdict(c)),
    };
}
