using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Plots;

namespace PDiff.Studies;

/// <summary>
/// One setting of an ablation (a K, a subset, a noise amount) summarised over its p-diff runs: test
/// accuracy of the best generated model (chosen on test = the paper's way, chosen on validation = ours),
/// the mean and median over all generated models, and the originals' mean for reference. Fractions.
/// </summary>
public sealed record AblationRow(string Setting, int Runs, double OriginalMean, double OriginalBestOnTest, double OriginalBestOnValidation,
    double BestOnTest, double BestOnValidation, double Mean, double Median, double MeanSpread)
{
    /// <summary>Averages a setting's runs (as the paper's "average in three runs"); spread = sample std of the mean.</summary>
    public static AblationRow From(string setting, IReadOnlyList<EvaluationReport> reports)
    {
        if (reports.Count == 0) throw new ArgumentException($"Ablation setting '{setting}' has no runs to summarise.", nameof(reports));
        var o = reports[0].Summary(Evaluator.Original);
        var g = reports.Select(r => r.Summary(Evaluator.Generated)).ToList();
        var means = g.Select(s => s.Test.Mean).ToList();
        var m = Statistics.Mean(means);
        var spread = means.Count > 1 ? Statistics.SampleStd(means, m) : 0;
        return new AblationRow(setting, reports.Count, o.Test.Mean, o.BestOnTest.TestAccuracy, o.BestOnValidation.TestAccuracy,
            g.Average(s => s.BestOnTest.TestAccuracy), g.Average(s => s.BestOnValidation.TestAccuracy),
            m, g.Average(s => s.Test.Median), spread);
    }

    /// <summary>The rows in percent, for <see cref="Table.From{T}"/>.</summary>
    public static Table ToTable(IEnumerable<AblationRow> rows, string title) => Table.From(rows.Select(r => new
    {
        setting = r.Setting, runs = r.Runs,
        orig_mean = Pct(r.OriginalMean), orig_best_test = Pct(r.OriginalBestOnTest), orig_best_val = Pct(r.OriginalBestOnValidation),
        best_on_test = Pct(r.BestOnTest), best_on_val = Pct(r.BestOnValidation),
        mean = Pct(r.Mean), median = Pct(r.Median), mean_spread = Pct(r.MeanSpread),
    }), title);

    /// <summary>The columns of <see cref="ToTable"/> as a DataFrame: percentages at full precision (the Table rounds to two decimals).</summary>
    public static DataFrame ToDataFrame(IEnumerable<AblationRow> rows) => Tables.ToDataFrame(rows.Select(r => new
    {
        setting = r.Setting, runs = r.Runs,
        orig_mean = 100 * r.OriginalMean, orig_best_test = 100 * r.OriginalBestOnTest, orig_best_val = 100 * r.OriginalBestOnValidation,
        best_on_test = 100 * r.BestOnTest, best_on_val = 100 * r.BestOnValidation,
        mean = 100 * r.Mean, median = 100 * r.Median, mean_spread = 100 * r.MeanSpread,
    }));

    static string Pct(double v) => (100 * v).ToString("F2", CultureInfo.InvariantCulture);
}

/// <summary>A row of a paper ablation table (§5.1 of the reference): best / avg / median, in %.</summary>
public sealed record PaperAblationRow(string Setting, double? Best, double? Avg, double? Median);

/// <summary>Min, quartiles and max of a set of values (e.g. generated models' max IoU to the originals).</summary>
public sealed record Spread(double Min, double Q1, double Median, double Q3, double Max)
{
    /// <summary>Quartiles by linear interpolation between order statistics (numpy's default).</summary>
    public static Spread Of(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).OrderBy(x => x).ToArray();
        if (v.Length == 0) throw new ArgumentException("Spread of an empty set of values.", nameof(values));
        double Q(double p)
        {
            var pos = p * (v.Length - 1);
            var lo = (int)Math.Floor(pos);
            var hi = Math.Min(lo + 1, v.Length - 1);
            return v[lo] + (pos - lo) * (v[hi] - v[lo]);
        }
        return new Spread(v[0], Q(0.25), Q(0.5), Q(0.75), v[^1]);
    }

    /// <summary>Generated models' max IoU to the originals, over every run's report.</summary>
    public static Spread OfMaxSimilarity(IEnumerable<EvaluationReport> reports) =>
        Of(reports.SelectMany(r => r.ModelsOf(Evaluator.Generated)).Select(m => m.MaxIouToOriginals));
}

/// <summary>The charts of the results and ablation notebooks: accuracy strips and sweeps against the paper.</summary>
public static class ResultCharts
{
    static readonly string[] Palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b" };

    /// <summary>
    /// Test accuracy (%) of every original, the ensemble and every generated model (all runs pooled), as
    /// boxes with their points; the best generated model of each run chosen on validation is a red star.
    /// </summary>
    public static Figure AccuracyStrip(IReadOnlyList<EvaluationReport> reports, string title)
    {
        if (reports.Count == 0) throw new ArgumentException("AccuracyStrip needs at least one evaluation report.", nameof(reports));
        double[] Acc(IEnumerable<ModelRow> rows) => rows.Select(m => 100 * m.TestAcc).ToArray();
        var fig = new Figure();
        var groups = new[]
        {
            ("original", Acc(reports[0].ModelsOf(Evaluator.Original)), Palette[0]),
            ("ensemble", Acc(reports[0].ModelsOf(Evaluator.Ensemble)), Palette[1]),
            ("generated", Acc(reports.SelectMany(r => r.ModelsOf(Evaluator.Generated))), Palette[2]),
        };
        foreach (var (name, y, color) in groups)
            fig.Add(new Box
            {
                Name = name, Y = y, X = Enumerable.Repeat(name, y.Length).ToArray(), BoxPoints = "all", Jitter = 0.4, PointPos = 0,
                Marker = new Marker { Color = color, Size = 4, Opacity = 0.6 }, Line = new Line { Color = color, Width = 1 },
            });
        var picks = reports.Select(r => r.Summary(Evaluator.Generated).BestOnValidation).ToList();
        fig.Add(new Scatter
        {
            Name = "generated: best on validation", Mode = "markers",
            X = picks.Select(_ => "generated").ToArray(), Y = picks.Select(p => 100 * p.TestAccuracy).ToArray(),
            Marker = new Marker { Color = "#d62728", Size = 14, Symbol = "star", Line = new Line { Color = "black", Width = 1 } },
        });
        return fig.WithTitles(title, null, "test accuracy (%)").WithSize(700, 420);
    }

    /// <summary>
    /// best (chosen on test and on validation), mean and median of the generated models per setting (%),
    /// ours as solid lines and the paper's as dotted lines on a second axis (different dataset, so a
    /// different scale); with <paramref name="originalMean"/> drawn as a grey line.
    /// </summary>
    public static Figure AblationSweep(IReadOnlyList<AblationRow> ours, IReadOnlyList<PaperAblationRow>? paper, string title, string xTitle)
    {
        var x = ours.Select(r => r.Setting).ToArray();
        var fig = new Figure();
        void Ours(string name, Func<AblationRow, double> f, int c, string dash = "solid") => fig.Add(new Scatter
        {
            Name = "ours: " + name, X = x, Y = ours.Select(r => 100 * f(r)).ToArray(), Mode = "lines+markers",
            Line = new Line { Color = Palette[c], Dash = dash }, Marker = new Marker { Color = Palette[c], Size = 8 },
        });
        Ours("best (on val)", r => r.BestOnValidation, 0);
        Ours("best (on test)", r => r.BestOnTest, 0, "dash");
        Ours("mean", r => r.Mean, 1);
        Ours("median", r => r.Median, 2);
        fig.Add(new Scatter
        {
            Name = "ours: originals' mean", X = x, Y = ours.Select(r => 100 * r.OriginalMean).ToArray(), Mode = "lines",
            Line = new Line { Color = "grey", Dash = "dot" },
        });
        if (paper is { Count: > 0 })
        {
            var px = paper.Select(p => p.Setting).ToArray();
            void Paper(string name, Func<PaperAblationRow, double?> f, int c) => fig.Add(new Scatter
            {
                Name = "paper (CIFAR-100): " + name, X = px, Y = paper.Select(p => f(p) is double v ? v : (double?)null).ToArray(),
                Mode = "lines+markers", XAxis = "x2", YAxis = "y2", Opacity = 0.7,
                Line = new Line { Color = Palette[c], Dash = "dot" }, Marker = new Marker { Color = Palette[c], Size = 6, Symbol = "diamond" },
            });
            Paper("best", p => p.Best, 0);
            Paper("avg", p => p.Avg, 1);
            Paper("median", p => p.Median, 2);
            fig.Layout.Title = title;
            fig.Layout.XAxis = new Axis { Title = xTitle + " (ours)", Type = "category", Domain = new[] { 0.0, 0.46 } };
            fig.Layout.YAxis = new Axis { Title = "test accuracy (%), ours" };
            fig.Layout.XAxis2 = new Axis { Title = xTitle + " (paper)", Type = "category", Domain = new[] { 0.56, 1.0 }, Anchor = "y2" };
            fig.Layout.YAxis2 = new Axis { Title = "CIFAR-100 test acc. (%), paper", Anchor = "x2" };
            fig.Layout.Legend = new Legend { Orientation = "h", Y = -0.22 };
            return fig.WithSize(1000, 560);
        }
        return fig.WithTitles(title, xTitle, "test accuracy (%)").WithSize(800, 450);
    }
}
