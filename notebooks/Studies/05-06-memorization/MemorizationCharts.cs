using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using PDiff.Plots;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// Charts and tables of the memorization study (notebooks 05 and 06): IoU heatmaps, accuracy versus
/// maximum similarity, min-L2 histograms, nearest-three heatmaps and latent embeddings, all read from an
/// <see cref="EvaluationReport"/>. Group names are the Evaluator's (original, generated, relnoise_σ,
/// absnoise_σ, finetuned, average16, gaussian); <see cref="Label"/> turns them into legend text.
/// </summary>
public static class MemorizationCharts
{
    /// <summary>One colour per group name, fixed so the same group looks the same in every chart.</summary>
    public static string ColorOf(string group) => group switch
    {
        Evaluator.Original => "#1f77b4",
        Evaluator.Generated => "#d62728",
        Evaluator.Ensemble => "#000000",
        "finetuned" => "#9467bd",
        "gaussian" => "#7f7f7f",
        "relnoise_0.001" or "absnoise_0.06" => "#2ca02c",
        "relnoise_0.05" or "absnoise_0.12" => "#ff7f0e",
        "relnoise_0.15" => "#e377c2",
        _ when group.StartsWith("average", StringComparison.Ordinal) => "#8c564b",
        _ => "#17becf",
    };

    /// <summary>Legend text for a group name.</summary>
    public static string Label(string group)
    {
        if (group == Evaluator.Original) return "training (SGD)";
        if (group == Evaluator.Generated) return "p-diff generated";
        if (group == "finetuned") return "fine-tuned";
        if (group == "gaussian") return "per-coordinate Gaussian";
        if (group.StartsWith("relnoise_", StringComparison.Ordinal)) return $"noise, relative σ {group[9..]}";
        if (group.StartsWith("absnoise_", StringComparison.Ordinal)) return $"noise, absolute σ {group[9..]}";
        if (group.StartsWith("average", StringComparison.Ordinal)) return $"average of {group[7..]}";
        return group;
    }

    /// <summary>The groups of the report, in report order, whose names satisfy <paramref name="keep"/>.</summary>
    public static string[] GroupsWhere(EvaluationReport r, Func<string, bool> keep) => r.Groups.Select(g => g.Name).Where(keep).ToArray();

    /// <summary>The IoU matrix restricted to the given groups (default originals then generated), ordered by group.</summary>
    public static Figure IouHeatmap(EvaluationReport r, params string[] groups)
    {
        if (groups.Length == 0) groups = new[] { Evaluator.Original, Evaluator.Generated };
        var idx = new List<int>();
        var labels = new List<string>();
        foreach (var name in groups)
        {
            var g = Range(r, name);
            for (var i = 0; i < g.Count; i++) { idx.Add(g.Start + i); labels.Add($"{ShortName(name)} {i}"); }
        }
        var z = idx.Select(i => idx.Select(j => r.Iou[i, j]).ToArray()).ToArray();
        var offDiagonal = idx.SelectMany((i, a) => idx.Where((_, b) => b != a).Select(j => r.Iou[i, j])).DefaultIfEmpty(0).ToArray();
        var fig = new Figure(new Heatmap
        {
            Z = z, X = labels, Y = labels, ColorScale = "Viridis", ZMin = offDiagonal.Min(), ZMax = 1,
            HoverTemplate = "%{y} vs %{x}: IoU %{z:.3f}<extra></extra>",
        }).WithTitles($"IoU of wrong-prediction sets ({r.Similarity.Split} split): {string.Join(" + ", groups.Select(Label))}")
          .WithSize(720, 680);
        fig.Layout.YAxis = new Axis { AutoRange = "reversed", ShowGrid = false };
        fig.Layout.XAxis = new Axis { ShowGrid = false };
        // Lines between the groups make the blocks readable.
        var shapes = new List<object>();
        var at = 0;
        foreach (var name in groups.Take(groups.Length - 1))
        {
            at += Range(r, name).Count;
            var p = at - 0.5;
            shapes.Add(new { type = "line", xref = "x", yref = "paper", x0 = p, x1 = p, y0 = 0, y1 = 1, line = new { color = "white", width = 2 } });
            shapes.Add(new { type = "line", xref = "paper", yref = "y", x0 = 0, x1 = 1, y0 = p, y1 = p, line = new { color = "white", width = 2 } });
        }
        fig.Layout.Extra["shapes"] = shapes;
        return fig;
    }

    /// <summary>
    /// Accuracy (test, %) against maximum IoU with any original (leave-one-out for the originals), one
    /// colour a group; at most <paramref name="maxPerGroup"/> points of each group, chosen with a seeded
    /// shuffle (Zeng et al. plot 100 random points a group).
    /// </summary>
    public static Figure AccuracyVsMaxSimilarity(EvaluationReport r, IEnumerable<string> groups, string? title = null, int? maxPerGroup = null, int seed = 0)
    {
        var fig = new Figure();
        foreach (var name in groups)
        {
            var rows = Subsample(r.ModelsOf(name).ToList(), maxPerGroup, seed);
            if (rows.Count == 0) continue;
            fig.Add(new Scatter
            {
                Name = $"{Label(name)} ({rows.Count})", Mode = "markers",
                X = rows.Select(m => m.MaxIouToOriginals).ToArray(), Y = rows.Select(m => 100 * m.TestAcc).ToArray(),
                Text = rows.Select(m => $"{name} {m.Index}").ToArray(),
                Marker = new Marker { Color = ColorOf(name), Size = 7, Opacity = 0.75, Symbol = name == Evaluator.Generated ? "diamond" : "circle" },
                HoverTemplate = "%{text}: IoU %{x:.3f}, acc %{y:.2f}%<extra></extra>",
            });
        }
        return fig.WithTitles(title ?? "Accuracy vs maximum similarity to the training models", "max IoU with any training model (training: leave-one-out)", "test accuracy (%)")
            .WithSize(760, 480);
    }

    /// <summary>
    /// Histograms of each model's L2 distance to its nearest original (training: leave-one-out), over
    /// <paramref name="bins"/> equal bins shared by the groups shown, as "% of models" (Zeng et al.'s plot).
    /// </summary>
    public static Figure MinL2Histogram(EvaluationReport r, IEnumerable<string> groups, int bins = 15, string? title = null)
    {
        var h = MinL2HistogramOf(r, groups, bins);
        var centres = Enumerable.Range(0, bins).Select(b => (h.Edges[b] + h.Edges[b + 1]) / 2).ToArray();
        var fig = new Figure();
        foreach (var s in h.Series)
            fig.Add(new Bar
            {
                Name = $"{Label(s.Group)} ({s.Count})", X = centres, Y = s.Percent, Opacity = 0.6,
                Marker = new Marker { Color = ColorOf(s.Group) },
                Extra = { ["width"] = (h.Edges[1] - h.Edges[0]) * 0.95 },
            });
        fig.Layout.BarMode = "overlay";
        return fig.WithTitles(title ?? "Distance to the nearest training model", "min L2 distance to the training set (training: leave-one-out)", "% of models")
            .WithSize(760, 440);
    }

    public static PDiff.Evaluation.Histogram MinL2HistogramOf(EvaluationReport r, IEnumerable<string> groups, int bins = 15) =>
        Novelty.Histogram(groups.Select(g => (g, r.ModelsOf(g).Select(m => m.MinL2ToOriginals).ToArray())).Where(g => g.Item2.Length > 0).ToList(), bins);

    /// <summary>
    /// Zeng et al.'s visual check: for each chosen generated vector, the vector as a row with its nearest
    /// originals (L2) under it, all on one colour scale. <paramref name="generated"/> [M, N] and
    /// <paramref name="originals"/> [K, N] are the vectors the report compared.
    /// </summary>
    public static Figure NearestHeatmap(EvaluationReport r, Tensor generated, Tensor originals, IReadOnlyList<int> which, int maxColumns = 512)
    {
        var nn = r.NearestOriginalsOfGenerated;
        var n = (int)generated.size(1);
        var cols = Math.Min(n, maxColumns);
        var rows = new List<double[]>();
        var labels = new List<string>();
        double[] Row(Tensor m, int i)
        {
            using var scope = NewDisposeScope();
            return m.select(0, i).narrow(0, 0, cols).to(ScalarType.Float64).contiguous().data<double>().ToArray();
        }
        foreach (var g in which)
        {
            rows.Add(Row(generated, g));
            labels.Add($"generated {g}");
            for (var k = 0; k < nn.Indices[g].Length; k++)
            {
                rows.Add(Row(originals, nn.Indices[g][k]));
                labels.Add($"  g{g} nn{k + 1}: training {nn.Indices[g][k]} (L2 {nn.Distances[g][k].ToString("G3", CultureInfo.InvariantCulture)})");
            }
        }
        var all = rows.SelectMany(x => x).ToArray();
        var fig = new Figure(new Heatmap
        {
            Z = rows, Y = labels, X = Enumerable.Range(0, cols).ToArray(), ColorScale = "RdBu", ReverseScale = true,
            ZMin = all.Min(), ZMax = all.Max(), HoverTemplate = "%{y}<br>coordinate %{x}: %{z:.4f}<extra></extra>",
        }).WithTitles($"Generated vectors and their {nn.Indices[0].Length} nearest training vectors" + (cols < n ? $" (first {cols} of {n} coordinates)" : ""), "parameter coordinate")
          .WithSize(900, 120 + 22 * rows.Count);
        fig.Layout.YAxis = new Axis { AutoRange = "reversed" };
        fig.Layout.Margin = new Margin { L = 330 };
        var per = 1 + nn.Indices[0].Length;
        fig.Layout.Extra["shapes"] = Enumerable.Range(1, which.Count - 1).Select(b => (object)new
        {
            type = "line", xref = "paper", yref = "y", x0 = 0, x1 = 1, y0 = b * per - 0.5, y1 = b * per - 0.5, line = new { color = "black", width = 2 },
        }).ToList();
        return fig;
    }

    /// <summary>The report's 2-D embedding ("pca" or "tsne") of the groups it holds, one colour a group.</summary>
    public static Figure EmbeddingScatter(EvaluationReport r, string method, IEnumerable<string>? groups = null)
    {
        var e = r.Embeddings.FirstOrDefault(x => x.Embedding.Method.Equals(method, StringComparison.OrdinalIgnoreCase))
            ?? throw new KeyNotFoundException($"The report has no '{method}' embedding (it has: {string.Join(", ", r.Embeddings.Select(x => x.Embedding.Method))}); set EvaluationOptions.Pca / Tsne.");
        var keep = groups?.ToHashSet();
        var fig = new Figure();
        foreach (var name in e.Group.Distinct())
        {
            if (keep is not null && !keep.Contains(name)) continue;
            var at = Enumerable.Range(0, e.Group.Length).Where(i => e.Group[i] == name).ToArray();
            fig.Add(new Scatter
            {
                Name = $"{Label(name)} ({at.Length})", Mode = "markers",
                X = at.Select(i => e.Embedding.X[i]).ToArray(), Y = at.Select(i => e.Embedding.Y[i]).ToArray(),
                Text = at.Select(i => $"{name} {e.Index[i]}").ToArray(),
                Marker = new Marker { Color = ColorOf(name), Size = 7, Opacity = 0.75, Symbol = name == Evaluator.Generated ? "diamond" : "circle" },
                HoverTemplate = "%{text}<extra></extra>",
            });
        }
        var m = e.Embedding.Method.Equals("tsne", StringComparison.OrdinalIgnoreCase) ? "t-SNE" : e.Embedding.Method.ToUpperInvariant();
        return fig.WithTitles($"{m} of the {e.Space}s", $"{m} 1", $"{m} 2").WithSize(720, 520);
    }

    /// <summary>Our similarity statistics beside paper v1's figure (CIFAR-100 R18) and the V2-final log (reference §7 C, E).</summary>
    public static Table SimilarityVersusPaper(EvaluationReport r) =>
        Table.From(SimilarityVersusPaperRows(r), $"IoU similarity: ours ({r.Task}, {r.Similarity.Split} split) vs paper v1 and the V2-final log (CIFAR-100 ResNet-18)", "F3");

    /// <summary>The rows of <see cref="SimilarityVersusPaper"/> as a DataFrame (columns Statistic, Ours, PaperV1, V2Log).</summary>
    public static DataFrame SimilarityVersusPaperDataFrame(EvaluationReport r) => Tables.ToDataFrame(SimilarityVersusPaperRows(r));

    /// <summary>One line of <see cref="SimilarityVersusPaper"/>: a mean IoU, ours beside paper v1's and the V2-final log's.</summary>
    public sealed record SimilarityComparison(string Statistic, double Ours, double PaperV1, double V2Log);

    static SimilarityComparison[] SimilarityVersusPaperRows(EvaluationReport r)
    {
        var s = r.Similarity;
        return new[]
        {
            new SimilarityComparison("origin–origin (mean IoU)", s.OriginOrigin, 0.968, 0.784),
            new SimilarityComparison("generated–generated (mean IoU)", s.GeneratedGenerated, 0.912, 0.880),
            new SimilarityComparison("origin–generated (mean IoU)", s.OriginGenerated, 0.921, 0.819),
            new SimilarityComparison("origin–generated (mean of max IoU)", s.OriginGeneratedMax, 0.933, 0.848),
        };
    }

    /// <summary>Per group: count, test accuracy mean / max, mean IoU within and to the originals, mean max IoU, mean min L2.</summary>
    public static Table GroupTable(EvaluationReport r, IEnumerable<string>? groups = null) =>
        Table.From(GroupRows(r, groups), "Per group (test split; training rows are leave-one-out)", "0.####");

    /// <summary>The rows of <see cref="GroupTable"/> as a DataFrame (same columns, full precision; undefined IoUs are missing).</summary>
    public static DataFrame GroupDataFrame(EvaluationReport r, IEnumerable<string>? groups = null) => Tables.ToDataFrame(GroupRows(r, groups));

    /// <summary>One line of <see cref="GroupTable"/>; the group is its legend label.</summary>
    public sealed record GroupRow(string Group, int Models, double TestMeanPct, double TestMaxPct,
        double IouWithin, double IouToTrainingMean, double IouToTrainingMax, double MinL2Mean);

    static List<GroupRow> GroupRows(EvaluationReport r, IEnumerable<string>? groups)
    {
        var names = groups?.ToArray() ?? r.Groups.Select(g => g.Name).ToArray();
        return names.Select(n =>
        {
            var sim = r.Similarity.Groups.First(g => g.Group == n);
            var ms = r.ModelsOf(n).ToList();
            return new GroupRow(Label(n), ms.Count, 100 * ms.Average(m => m.TestAcc), 100 * ms.Max(m => m.TestAcc),
                sim.Within, sim.ToOriginalsMean, sim.ToOriginalsMaxMean, ms.Average(m => m.MinL2ToOriginals));
        }).ToList();
    }

    static GroupRange Range(EvaluationReport r, string name) => r.Groups.FirstOrDefault(g => g.Name == name)
        ?? throw new KeyNotFoundException($"No group '{name}' in the report; it has {string.Join(", ", r.Groups.Select(g => g.Name))}.");

    static string ShortName(string group) => group == Evaluator.Original ? "o" : group == Evaluator.Generated ? "g" : group;

    static List<ModelRow> Subsample(List<ModelRow> rows, int? max, int seed)
    {
        if (max is not int m || rows.Count <= m) return rows;
        var rng = new Random(seed);
        return rows.OrderBy(_ => rng.Next()).Take(m).OrderBy(x => x.Index).ToList();
    }
}
