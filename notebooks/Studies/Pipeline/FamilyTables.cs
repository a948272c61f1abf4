using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using PDiff.Plots;
using PDiff.Storage;

namespace PDiff.Studies;

/// <summary>
/// A notebook's comparison family over pipeline seeds as a table, a chart and files: every comparison's per-seed
/// differences beside its mean, 95 % interval and verdict (Holm's for the headline comparisons), and the intervals
/// drawn against zero. The verdicts themselves come from <see cref="ComparisonFamily"/>; nothing here decides one.
/// </summary>
public static class FamilyTables
{
    public const string FamilyCsv = "seeds_family.csv", FamilyJson = "seeds_family.json";

    /// <summary>The files <see cref="Write"/> puts in its folder.</summary>
    public static readonly IReadOnlyList<string> FileNames = new[] { FamilyCsv, FamilyJson };

    /// <summary>Headline comparisons first, then the exploratory ones, each with its role.</summary>
    public static IReadOnlyList<(string Role, Comparison Comparison)> Roles(ComparisonFamily family) =>
        family.Headline.Select(c => ("headline", c)).Concat(family.Exploratory.Select(c => ("exploratory", c))).ToList();

    /// <summary>
    /// <see cref="ComparisonFamily.ToDataFrame"/> with one column per seed: that seed's difference A − B, scaled as the
    /// comparison reads (points for accuracies, IoU for similarities). Throws when a comparison has another number of seeds.
    /// </summary>
    public static DataFrame WithSeeds(ComparisonFamily family, IReadOnlyList<int> seeds)
    {
        var all = Roles(family);
        var wrong = all.FirstOrDefault(x => x.Comparison.Difference.Count != seeds.Count);
        if (wrong.Comparison is not null)
            throw new ArgumentException($"'{wrong.Comparison.Label}' has {wrong.Comparison.Difference.Count} seeds; the table has {seeds.Count}.", nameof(seeds));
        var frame = family.ToDataFrame();
        for (var i = 0; i < seeds.Count; i++)
        {
            var at = i;
            frame.Columns.Add(new DoubleDataFrameColumn($"seed{seeds[i]}", all.Select(x => x.Comparison.Scale * x.Comparison.Difference.Differences[at])));
        }
        return frame;
    }

    /// <summary>
    /// Writes <see cref="FamilyCsv"/> (<see cref="WithSeeds"/>) and <see cref="FamilyJson"/> (every comparison unscaled:
    /// per-seed differences, mean, interval, p, Holm's p and verdict for the headline ones) into the claimed folder.
    /// </summary>
    public static void Write(ComparisonFamily family, IReadOnlyList<int> seeds, OwnedFolder folder)
    {
        var w = new ResultsWriter(folder.Directory, folder);
        w.WriteCsv(FamilyCsv, WithSeeds(family, seeds));
        w.WriteJson(FamilyJson, new
        {
            family = family.Name, statement = family.Statement(), alpha = family.Alpha, seeds,
            comparisons = Roles(family).Select(x => new
            {
                role = x.Role, a = x.Comparison.A, b = x.Comparison.B, label = x.Comparison.Label, scale = x.Comparison.Scale, unit = x.Comparison.Unit,
                values = x.Comparison.Difference.Differences, mean = x.Comparison.Difference.Mean, std = x.Comparison.Difference.Std,
                level = x.Comparison.Difference.Level, ci_low = x.Comparison.Difference.Low, ci_high = x.Comparison.Difference.High,
                p = x.Comparison.Difference.P, holm_p = x.Role == "headline" ? family.HolmP(x.Comparison) : (double?)null,
                verdict = VerdictWords.Word(x.Role == "headline" ? family.HolmVerdict(x.Comparison) : x.Comparison.Verdict),
            }),
        });
    }

    /// <summary>
    /// Each comparison's mean difference with its raw 95 % interval as a horizontal bar (none for one seed), headline and
    /// exploratory in two colours, and a line at zero: an interval that crosses it reads "indistinguishable".
    /// </summary>
    public static Figure Intervals(ComparisonFamily family, IEnumerable<Comparison> comparisons, string title, string axisTitle)
    {
        var shown = comparisons.ToList();
        var fig = new Figure();
        foreach (var (role, color) in new[] { ("headline", "#1f77b4"), ("exploratory", "#999999") })
        {
            var these = shown.Where(c => (family.Headline.Contains(c) ? "headline" : "exploratory") == role).ToList();
            if (these.Count == 0) continue;
            fig.Add(new Scatter
            {
                Name = role, Mode = "markers", Y = these.Select(AxisLabel).ToArray(), X = these.Select(c => c.Scale * c.Difference.Mean).ToArray(),
                ErrorX = new ErrorBars { Array = these.Select(c => c.Difference.Count < 2 ? 0 : c.Scale * (c.Difference.High - c.Difference.Mean)).ToArray() },
                Marker = new Marker { Color = color, Size = 9 },
            });
        }
        fig.Layout.XAxis = new Axis { Title = axisTitle, ZeroLine = true, Extra = { ["zerolinecolor"] = "black", ["zerolinewidth"] = 2 } };
        fig.Layout.YAxis = new Axis { Type = "category", AutoRange = "reversed", Extra = { ["automargin"] = true } };
        fig.Layout.Title = title;
        return fig.WithSize(1100, 160 + 46 * shown.Count);
    }

    /// <summary>A comparison's label on the chart's axis: "A −" over "B", so long names keep the plot its width.</summary>
    public static string AxisLabel(Comparison c) => $"{c.A} −<br>{c.B}";
}
