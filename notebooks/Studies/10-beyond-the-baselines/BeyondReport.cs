using PDiff.Data;
using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using PDiff.Plots;
using PDiff.Storage;

namespace PDiff.Studies;

/// <summary>
/// A candidate against a baseline, paired seed by seed: accuracy, mean max IoU and mean min L2 to the originals.
/// The candidate <see cref="Beats"/> the baseline when its accuracy is distinguishably higher (95 % interval
/// above 0) while it is no closer to the originals: mean max IoU at most the baseline's and mean min L2 at
/// least the baseline's (point estimates over seeds, the brief's criterion; their intervals are reported too).
/// </summary>
public sealed record CandidateVerdict(string Candidate, string Baseline, PairedDifference Accuracy, PairedDifference MaxIou, PairedDifference MinL2)
{
    public bool MoreAccurate => Accuracy.Verdict == DifferenceVerdict.Higher;
    public bool NoCloser => MaxIou.Mean <= 0 && MinL2.Mean >= 0;
    public bool Beats => MoreAccurate && NoCloser;

    /// <summary>Three sentences, each following its interval, and the verdict.</summary>
    public string Sentence()
    {
        var what = $"{BeyondBaselines.Label(Candidate)} − {BeyondBaselines.Label(Baseline)}";
        return $"{Accuracy.Sentence($"{what}, test accuracy")} {MaxIou.Sentence("max IoU to originals", 1, "")} {MinL2.Sentence("min L2 to originals", 1, "")} " +
            (Beats ? "→ beats the baseline: more accurate at equal or greater novelty."
                : MoreAccurate ? "→ more accurate, but closer to the originals: does not beat it."
                : (NoCloser ? "→ no closer to the originals, but " : "→ closer to the originals, and ") +
                  (Accuracy.Verdict == DifferenceVerdict.Lower ? "less accurate" : "not distinguishably more accurate") + ": does not beat it.");
    }
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
        Verdicts = challengers.SelectMany(c => new[] { averageGroup, BeyondBaselines.Gaussian }.Select(b => Compare(c, b))).ToList();
    }

    public IReadOnlyList<BeyondSeed> Seeds { get; }
    public string AverageGroup { get; }
    public IReadOnlyList<string> Groups { get; }
    public IReadOnlyList<CandidateVerdict> Verdicts { get; }

    /// <summary>A statistic of a group, one value per seed.</summary>
    public SeedSpread Over(string group, Func<NoveltyGroup, double> stat) => SeedSpread.Of(Seeds.Select(s => stat(s.Group(group))).ToList());

    public CandidateVerdict Compare(string candidate, string baseline)
    {
        PairedDifference D(string name, Func<NoveltyGroup, double> f) =>
            PairedDifference.Of(name, Seeds.Select(s => f(s.Group(candidate))).ToList(), Seeds.Select(s => f(s.Group(baseline))).ToList());
        return new CandidateVerdict(candidate, baseline,
            D($"{candidate} − {baseline}, test accuracy", g => g.TestMean),
            D($"{candidate} − {baseline}, mean max IoU", g => g.MeanMaxIou),
            D($"{candidate} − {baseline}, mean min L2", g => g.MeanMinL2));
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

    /// <summary>Every paired difference: candidate, baseline, quantity, per-seed values, mean, 95 % interval, verdict; and whether the candidate beats the baseline.</summary>
    public DataFrame ToDifferencesFrame()
    {
        var rows = Verdicts.SelectMany(v => new[] { ("test_acc", v.Accuracy), ("mean_max_iou", v.MaxIou), ("mean_min_l2", v.MinL2) }
            .Select(q => (Verdict: v, Quantity: q.Item1, Diff: q.Item2))).ToList();
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
        return new DataFrame(columns);
    }

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
            winners = Winners,
            verdicts = Verdicts.Select(v => new
            {
                candidate = v.Candidate, baseline = v.Baseline, more_accurate = v.MoreAccurate, no_closer = v.NoCloser, beats = v.Beats,
                accuracy = new { mean = v.Accuracy.Mean, ci_low = v.Accuracy.Low, ci_high = v.Accuracy.High, verdict = v.Accuracy.VerdictText },
                max_iou = new { mean = v.MaxIou.Mean, ci_low = v.MaxIou.Low, ci_high = v.MaxIou.High, verdict = v.MaxIou.VerdictText },
                min_l2 = new { mean = v.MinL2.Mean, ci_low = v.MinL2.Low, ci_high = v.MinL2.High, verdict = v.MinL2.VerdictText },
            }),
        });
    }
}
