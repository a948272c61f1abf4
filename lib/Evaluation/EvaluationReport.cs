using System.Text;
using Microsoft.Data.Analysis;

namespace PDiff.Evaluation;

/// <summary>
/// One scored model: its group and index in the group, accuracies, its largest IoU with any original
/// (leave-one-out for originals) and which original, its L2 distance to the nearest original (same rule)
/// and which, and the originals it was built from (baselines; empty otherwise).
/// </summary>
public sealed record ModelRow(string Group, int Index, double ValAcc, double TestAcc, double MaxIouToOriginals, int MostSimilarOriginal,
    double MinL2ToOriginals, int NearestOriginal, int[] Sources);

/// <summary>A 2-D embedding with, for each point, the group and the index in the group it shows.</summary>
public sealed record EmbeddingResult(Embedding2D Embedding, string Space, string[] Group, int[] Index)
{
    public TextTable ToTable()
    {
        var t = new TextTable($"{Embedding.Method} of {Space}", new[]
        {
            TableColumn.Text("group"), new TableColumn("index"), TableColumn.Number("x"), TableColumn.Number("y"),
        });
        for (var i = 0; i < Group.Length; i++) t.Add(Group[i], Index[i], Embedding.X[i], Embedding.Y[i]);
        return t;
    }

    /// <summary>The embedding_&lt;method&gt;.csv columns: group, index, x, y.</summary>
    public DataFrame ToDataFrame() => ToTable().ToDataFrame();
}

/// <summary>
/// Everything <see cref="Evaluator.Evaluate"/> found, for notebooks (typed, in memory) and for the results
/// folder (<see cref="Write"/>). Owns the baseline vectors; dispose it to free them early.
/// </summary>
public sealed class EvaluationReport : IDisposable
{
    internal EvaluationReport(string task, EvaluationOptions options, IReadOnlyDictionary<string, ulong> seeds,
        IReadOnlyDictionary<string, object> inputs, IReadOnlyList<string> notes, IReadOnlyDictionary<string, double> seconds,
        IReadOnlyList<GroupRange> groups, IReadOnlyList<ModelRow> models, IReadOnlyList<GroupSummary> summaries, PaperTable table,
        SimilarityStats similarity, IouMatrix iou, Histogram minL2Histogram, NearestNeighbours nearestOfGenerated,
        IReadOnlyList<EmbeddingResult> embeddings, IReadOnlyList<BaselineGroup> baselines)
    {
        (Task, Options, Seeds, Inputs, Notes, Seconds) = (task, options, seeds, inputs, notes, seconds);
        (Groups, Models, Summaries, Table, Similarity, Iou) = (groups, models, summaries, table, similarity, iou);
        (MinL2Histogram, NearestOriginalsOfGenerated, Embeddings, Baselines) = (minL2Histogram, nearestOfGenerated, embeddings, baselines);
    }

    public string Task { get; }
    public EvaluationOptions Options { get; }
    /// <summary>Every seed used: one per baseline group, the embedding subsample and t-SNE.</summary>
    public IReadOnlyDictionary<string, ulong> Seeds { get; }
    public IReadOnlyDictionary<string, object> Inputs { get; }
    /// <summary>What was skipped or adjusted, in words.</summary>
    public IReadOnlyList<string> Notes { get; }
    public IReadOnlyDictionary<string, double> Seconds { get; }
    /// <summary>Where each group's models sit in <see cref="Models"/> and the rows / columns of <see cref="Iou"/>.</summary>
    public IReadOnlyList<GroupRange> Groups { get; }
    public IReadOnlyList<ModelRow> Models { get; }
    public IReadOnlyList<GroupSummary> Summaries { get; }
    public PaperTable Table { get; }
    public SimilarityStats Similarity { get; }
    public IouMatrix Iou { get; }
    public Histogram MinL2Histogram { get; }
    public NearestNeighbours NearestOriginalsOfGenerated { get; }
    public IReadOnlyList<EmbeddingResult> Embeddings { get; }
    public IReadOnlyList<BaselineGroup> Baselines { get; }

    public GroupSummary Summary(string group) => Summaries.FirstOrDefault(s => s.Group == group)
        ?? throw new KeyNotFoundException($"No group '{group}'; the groups are {string.Join(", ", Summaries.Select(s => s.Group))}.");

    public IEnumerable<ModelRow> ModelsOf(string group) => Models.Where(m => m.Group == group);

    /// <summary>The paper table, the group table and the similarity table, for a console.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine(Table.ToPlain());
        sb.AppendLine(GroupSummary.ToTable(Summaries).ToPlain());
        sb.AppendLine(Similarity.ToTable().ToPlain());
        foreach (var n in Notes) sb.Append("note: ").AppendLine(n);
        return sb.ToString();
    }

    public override string ToString() => ToText();

    public static TextTable ScoresTable(IEnumerable<ModelRow> models)
    {
        var t = new TextTable("Scores of every model", new[]
        {
            TableColumn.Text("group"), new TableColumn("index"),
            TableColumn.Percent("val_acc", "val %"), TableColumn.Percent("test_acc", "test %"),
            TableColumn.Number("max_iou_to_originals"), new TableColumn("most_similar_original"),
            TableColumn.Number("min_l2_to_originals"), new TableColumn("nearest_original"),
            TableColumn.Text("sources"),
        });
        foreach (var m in models)
            t.Add(m.Group, m.Index, m.ValAcc, m.TestAcc, m.MaxIouToOriginals, m.MostSimilarOriginal, m.MinL2ToOriginals, m.NearestOriginal,
                string.Join(";", m.Sources));
        return t;
    }

    /// <summary>The scores.csv columns, one row per model (accuracies as fractions, sources joined with ';').</summary>
    public static DataFrame ScoresDataFrame(IEnumerable<ModelRow> models) => ScoresTable(models).ToDataFrame();

    public const string IouMatrixFile = "iou_matrix.csv";

    /// <summary>
    /// Every name <see cref="Write"/> may put in its folder ('*' for the embedding method): a folder's writer claims
    /// them before any work, so a user's file at one of them is refused then, not written over at the end.
    /// </summary>
    public static readonly IReadOnlyList<string> FileNames = new[]
    {
        "table.csv", "table.json", "table.md", "groups.csv", "groups.json", "scores.csv", "iou_stats.json", IouMatrixFile,
        "novelty.csv", "novelty_histogram.csv", "embedding_*.csv", "embeddings.json", "baselines.json", "summary.txt", "run.json",
    };

    /// <summary>Six decimals in iou_matrix.csv: the file grows as (models)².</summary>
    const string IouMatrixFormat = "0.######";

    const string NoveltyQuantity = "min L2 to originals";

    /// <summary>
    /// Every results table as a DataFrame, keyed by the CSV file <see cref="Write"/> puts it in, in that order:
    /// table.csv, groups.csv, scores.csv, iou_matrix.csv (when <see cref="EvaluationOptions.WriteIouMatrix"/>),
    /// novelty.csv, novelty_histogram.csv, embedding_&lt;method&gt;.csv. The similarity table, written as
    /// iou_stats.json, is <c>Similarity.ToDataFrame()</c>; the full IoU matrix is always <see cref="IouDataFrame"/>.
    /// </summary>
    public IReadOnlyDictionary<string, DataFrame> ToDataFrames()
    {
        var frames = new OrderedDictionary<string, DataFrame>
        {
            ["table.csv"] = Table.ToDataFrame(),
            ["groups.csv"] = GroupSummary.ToDataFrame(Summaries),
            ["scores.csv"] = ScoresDataFrame(Models),
        };
        if (Options.WriteIouMatrix) frames[IouMatrixFile] = IouDataFrame();
        frames["novelty.csv"] = NoveltyTable().ToDataFrame();
        frames["novelty_histogram.csv"] = MinL2Histogram.ToDataFrame(NoveltyQuantity);
        foreach (var e in Embeddings) frames[$"embedding_{e.Embedding.Method}.csv"] = e.ToDataFrame();
        return frames;
    }

    /// <summary>The IoU matrix: a "model" column of labels (group:index), then one column per model, in <see cref="Models"/> order.</summary>
    public DataFrame IouDataFrame()
    {
        var labels = Models.Select(m => $"{m.Group}:{m.Index}").ToArray();
        var columns = new List<DataFrameColumn> { new StringDataFrameColumn("model", labels) };
        // Symmetric: column j is row j.
        for (var j = 0; j < Iou.Count; j++) columns.Add(new DoubleDataFrameColumn(labels[j], Iou.Row(j).ToArray()));
        return new DataFrame(columns);
    }

    /// <summary>
    /// Writes the results folder: table.csv/.json/.md, groups.csv/.json, scores.csv, iou_stats.json,
    /// iou_matrix.csv (optional), novelty.csv (nearest originals of each generated vector),
    /// novelty_histogram.csv, embedding_pca.csv / embedding_tsne.csv, embeddings.json, baselines.json,
    /// summary.txt, and last run.json with the configuration, seeds and file list. Returns run.json's path.
    /// </summary>
    /// <param name="owner">The claimed results folder this one lies in: each file is listed there before it is written.</param>
    public string Write(string folder, PDiff.Storage.OwnedFolder? owner = null)
    {
        var w = new ResultsWriter(folder, owner);
        foreach (var (file, frame) in ToDataFrames())
        {
            w.WriteCsv(file, frame, file == IouMatrixFile ? IouMatrixFormat : null);
            // JSON and markdown twins follow their table, in the order the folder has always listed them.
            switch (file)
            {
                case "table.csv": w.WriteText("table.json", Table.ToJson()); w.WriteText("table.md", Table.ToMarkdown()); break;
                case "groups.csv": w.WriteJson("groups.json", Summaries); break;
                case "scores.csv": w.WriteJson("iou_stats.json", Similarity); break;
            }
        }
        if (Embeddings.Count > 0)
            w.WriteJson("embeddings.json", Embeddings.Select(e => new { method = e.Embedding.Method, space = e.Space, points = e.Embedding.Count, diagnostics = e.Embedding.Diagnostics }));
        w.WriteJson("baselines.json", Baselines.Select(b => new { name = b.Name, kind = b.Kind, count = b.Count, seed = b.Seed, settings = b.Settings, sources = b.Sources }));
        w.WriteText("summary.txt", ToText());
        return w.WriteRun("PDiff.Evaluation.Evaluator", Options, Seeds, Inputs, Notes, Seconds);
    }

    TextTable NoveltyTable()
    {
        var t = new TextTable("Nearest originals of each generated vector (L2)", new[]
        {
            new TableColumn("generated_index"), new TableColumn("rank"), new TableColumn("original_index"), TableColumn.Number("distance"),
        });
        var nn = NearestOriginalsOfGenerated;
        for (var g = 0; g < nn.Indices.Length; g++)
            for (var r = 0; r < nn.Indices[g].Length; r++) t.Add(g, r + 1, nn.Indices[g][r], nn.Distances[g][r]);
        return t;
    }

    public void Dispose()
    {
        foreach (var b in Baselines) b.Dispose();
    }
}
