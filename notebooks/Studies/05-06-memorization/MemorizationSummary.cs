using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Storage;

namespace PDiff.Studies;

/// <summary>One group of one seed's report: its size, mean test accuracy, best model chosen on validation (test accuracy) and mean max IoU to the originals.</summary>
public sealed record GroupNumbers(string Group, int Count, double TestMean, double BestOnValidation, double MaxIouToOriginals);

/// <summary>
/// How far the generated models keep to themselves in a t-SNE plane: the share of generated points whose nearest
/// other point (among the groups embedded together) is also generated, and the share random mixing would give,
/// (generated − 1) / (points − 1).
/// </summary>
public sealed record TsneMixing(double Share, double Chance)
{
    /// <summary>The mixing of <paramref name="target"/> among <paramref name="groups"/> in the report's t-SNE; null without a t-SNE or with fewer than two target points.</summary>
    public static TsneMixing? Of(EvaluationReport report, IEnumerable<string> groups, string target = Evaluator.Generated) =>
        report.Embeddings.FirstOrDefault(e => e.Embedding.Method == "tsne") is { } tsne ? Of(tsne, groups, target) : null;

    public static TsneMixing? Of(EmbeddingResult e, IEnumerable<string> groups, string target = Evaluator.Generated)
    {
        var keep = groups.ToHashSet();
        var pts = Enumerable.Range(0, e.Group.Length).Where(i => keep.Contains(e.Group[i])).ToArray();
        var targets = pts.Where(i => e.Group[i] == target).ToArray();
        if (targets.Length < 2) return null;
        double D(int i, int j) => Math.Pow(e.Embedding.X[i] - e.Embedding.X[j], 2) + Math.Pow(e.Embedding.Y[i] - e.Embedding.Y[j], 2);
        // The first point at the least distance, in embedding order.
        int Nearest(int i) => pts.Where(j => j != i).OrderBy(j => D(i, j)).First();
        var share = targets.Average(i => e.Group[Nearest(i)] == target ? 1.0 : 0.0);
        return new TsneMixing(share, (targets.Length - 1.0) / (pts.Length - 1.0));
    }
}

/// <summary>
/// One seed's numbers that the memorization and import notebooks compare, read from its evaluation report: the IoU
/// similarity summary (test wrong-prediction sets), the originals' leave-one-out max IoU, every group's accuracies and
/// max IoU, and (when measured) the t-SNE mixing of the generated models.
/// </summary>
public sealed record MemorizationNumbers(int Seed, double OriginOrigin, double GeneratedGenerated, double OriginGenerated, double OriginGeneratedMax,
    double OriginalsLeaveOneOutMax, IReadOnlyList<GroupNumbers> Groups, TsneMixing? Tsne = null)
{
    /// <param name="tsneGroups">The groups whose t-SNE points count for <see cref="TsneMixing"/>; null: no mixing.</param>
    public static MemorizationNumbers Of(int seed, EvaluationReport r, IEnumerable<string>? tsneGroups = null)
    {
        var s = r.Similarity;
        var groups = r.Summaries.Select(g => new GroupNumbers(g.Group, g.Count, g.Test.Mean, g.BestOnValidation.TestAccuracy,
            s.Groups.FirstOrDefault(x => x.Group == g.Group)?.ToOriginalsMaxMean ?? double.NaN)).ToList();
        return new MemorizationNumbers(seed, s.OriginOrigin, s.GeneratedGenerated, s.OriginGenerated, s.OriginGeneratedMax,
            s.Groups.First(x => x.Group == Evaluator.Original).ToOriginalsMaxMean, groups, tsneGroups is null ? null : TsneMixing.Of(r, tsneGroups));
    }

    /// <summary>The group named <paramref name="name"/>; a name ending in '*' matches by prefix (e.g. "average*").</summary>
    public GroupNumbers? Group(string name) => Groups.FirstOrDefault(g => name.EndsWith('*') ? g.Group.StartsWith(name[..^1], StringComparison.Ordinal) : g.Group == name);
}

/// <summary>One statistic over seeds, with the scale it reads in (100 for accuracies in %, 1 for IoUs) and the paper's values where it has them.</summary>
public sealed record SeedStatistic(string Name, SeedSpread Spread, double Scale = 1, int Digits = 3, double PaperV1 = double.NaN, double V2Log = double.NaN);

/// <summary>
/// The memorization statistics over pipeline seeds and the comparisons built from them, each A − B paired by seed
/// (the same seed's zoo and p-diff model for both sides). Which comparisons are a notebook's headline is the notebook's
/// family (<see cref="MemorizationFamily"/> for 05, <see cref="ImportFamily"/> for 07).
/// </summary>
public sealed class MemorizationSummary
{
    public const string SimilarityCsv = "seeds_similarity.csv", GroupsCsv = "seeds_groups.csv", SummaryJson = "seeds_summary.json";
    /// <summary>The files <see cref="Write"/> puts in its folder.</summary>
    public static readonly IReadOnlyList<string> FileNames = new[] { SimilarityCsv, GroupsCsv, SummaryJson };

    public const string GeneratedMaxIou = "the generated models' max IoU to the originals";
    public const string GeneratedAccuracy = "the generated models' mean accuracy";

    MemorizationSummary(IReadOnlyList<MemorizationNumbers> seeds, IReadOnlyList<string> groups) => (Seeds, Groups) = (seeds, groups);

    public IReadOnlyList<MemorizationNumbers> Seeds { get; }
    public IReadOnlyList<int> SeedList => Seeds.Select(s => s.Seed).ToList();
    /// <summary>The groups present in every seed, in the first seed's order.</summary>
    public IReadOnlyList<string> Groups { get; }

    public static MemorizationSummary From(IReadOnlyList<MemorizationNumbers> seeds)
    {
        if (seeds.Count == 0) throw new ArgumentException("A summary over seeds needs at least one seed.", nameof(seeds));
        if (seeds.Select(s => s.Seed).Distinct().Count() != seeds.Count) throw new ArgumentException("Each seed may appear once.", nameof(seeds));
        var groups = seeds[0].Groups.Select(g => g.Group).Where(g => seeds.All(s => s.Group(g) is not null)).ToList();
        foreach (var needed in new[] { Evaluator.Original, Evaluator.Generated })
            if (!groups.Contains(needed)) throw new ArgumentException($"Every seed needs a '{needed}' group.", nameof(seeds));
        return new MemorizationSummary(seeds, groups);
    }

    IReadOnlyList<double> Of(Func<MemorizationNumbers, double> f) => Seeds.Select(f).ToList();
    IReadOnlyList<double> OfGroup(string g, Func<GroupNumbers, double> f) => Seeds.Select(s => f(s.Group(g)!)).ToList();

    /// <summary>The similarity statistics over seeds, beside paper v1's CIFAR-100 figure and the V2-final log where they have one.</summary>
    public IReadOnlyList<SeedStatistic> Similarity()
    {
        var rows = new List<SeedStatistic>
        {
            new("origin–origin (mean IoU)", SeedSpread.Of(Of(s => s.OriginOrigin)), PaperV1: 0.968, V2Log: 0.784),
            new("generated–generated (mean IoU)", SeedSpread.Of(Of(s => s.GeneratedGenerated)), PaperV1: 0.912, V2Log: 0.880),
            new("origin–generated (mean IoU)", SeedSpread.Of(Of(s => s.OriginGenerated)), PaperV1: 0.921, V2Log: 0.819),
            new("origin–generated (mean of max IoU)", SeedSpread.Of(Of(s => s.OriginGeneratedMax)), PaperV1: 0.933, V2Log: 0.848),
            new("originals' max IoU to the other originals (leave-one-out)", SeedSpread.Of(Of(s => s.OriginalsLeaveOneOutMax))),
        };
        if (Seeds.All(s => s.Tsne is not null))
        {
            rows.Add(new("t-SNE: generated points with a generated nearest neighbour (%)", SeedSpread.Of(Of(s => s.Tsne!.Share)), 100, 1));
            rows.Add(new("t-SNE: the same share under random mixing (%)", SeedSpread.Of(Of(s => s.Tsne!.Chance)), 100, 1));
        }
        return rows;
    }

    /// <summary>Per group present in every seed: mean test accuracy (%), best chosen on validation (%) and mean max IoU to the originals.</summary>
    public IReadOnlyList<(string Group, SeedSpread Accuracy, SeedSpread BestOnValidation, SeedSpread MaxIou)> GroupSpreads() =>
        Groups.Select(g => (g, SeedSpread.Of(OfGroup(g, x => x.TestMean)), SeedSpread.Of(OfGroup(g, x => x.BestOnValidation)), SeedSpread.Of(OfGroup(g, x => x.MaxIouToOriginals)))).ToList();

    /// <summary>Generated max IoU to the originals − the originals' leave-one-out max IoU: the paper's "not memorizing" reads "lower".</summary>
    public Comparison MaxIouVersusOriginals() => new(GeneratedMaxIou, "the originals' max IoU to the other originals (leave-one-out)",
        PairedDifference.Of("generated max IoU − originals' leave-one-out max IoU", Of(s => s.OriginGeneratedMax), Of(s => s.OriginalsLeaveOneOutMax)), 1, "", 3);

    /// <summary>Generated–generated mean IoU − origin–origin mean IoU: "lower" means the generated models differ more among themselves.</summary>
    public Comparison DiversityVersusOriginals() => new("the generated models' mean IoU among themselves", "the originals' mean IoU among themselves",
        PairedDifference.Of("generated–generated − origin–origin IoU", Of(s => s.GeneratedGenerated), Of(s => s.OriginOrigin)), 1, "", 3);

    /// <summary>Generated mean test accuracy − the originals' (or <paramref name="group"/>'s).</summary>
    public Comparison AccuracyVersus(string group = Evaluator.Original) => new(GeneratedAccuracy,
        group == Evaluator.Original ? "the originals' mean accuracy" : $"that of {Named(GroupName(group))}",
        PairedDifference.Of($"generated − {GroupName(group)}, mean test accuracy", OfGroup(Evaluator.Generated, g => g.TestMean), OfGroup(GroupName(group), g => g.TestMean)));

    /// <summary>Generated mean max IoU to the originals − <paramref name="group"/>'s.</summary>
    public Comparison MaxIouVersus(string group) => new(GeneratedMaxIou, $"that of {Named(GroupName(group))}",
        PairedDifference.Of($"generated − {GroupName(group)}, max IoU to the originals", Of(s => s.OriginGeneratedMax), OfGroup(GroupName(group), g => g.MaxIouToOriginals)), 1, "", 3);

    /// <summary>The best generated model − the best original, both chosen on validation, on test.</summary>
    public Comparison BestOnValidationVersusOriginals() => new("the best generated model (chosen on validation)", "the best original (chosen on validation)",
        PairedDifference.Of("generated − original, best on validation", OfGroup(Evaluator.Generated, g => g.BestOnValidation), OfGroup(Evaluator.Original, g => g.BestOnValidation)));

    /// <summary>The t-SNE share of generated points with a generated nearest neighbour − random mixing's; null when some seed has no t-SNE.</summary>
    public Comparison? TsneVersusChance() => Seeds.All(s => s.Tsne is not null)
        ? new("the share of generated t-SNE points with a generated nearest neighbour", "the share under random mixing",
            PairedDifference.Of("t-SNE mixing − chance", Of(s => s.Tsne!.Share), Of(s => s.Tsne!.Chance)))
        : null;

    /// <summary>The exact group a name stands for among <see cref="Groups"/> ('*' matches by prefix); throws when no group matches.</summary>
    public string GroupName(string name) =>
        Groups.FirstOrDefault(g => name.EndsWith('*') ? g.StartsWith(name[..^1], StringComparison.Ordinal) : g == name)
        ?? throw new KeyNotFoundException($"No group '{name}' in every seed; the groups are {string.Join(", ", Groups)}.");

    /// <summary>The baseline groups among <see cref="Groups"/> whose names satisfy <paramref name="keep"/>.</summary>
    public IReadOnlyList<string> GroupsWhere(Func<string, bool> keep) =>
        Groups.Where(g => g is not (Evaluator.Original or Evaluator.Generated) && keep(g)).ToList();

    /// <summary>
    /// Notebook 05's family. Headline (Holm): generated max IoU − the originals' leave-one-out max IoU (the paper's "not
    /// memorizing"), generated–generated − origin–origin IoU, and generated − originals' mean accuracy. Exploratory: for
    /// every relative-noise and fine-tuned group, generated − that group in max IoU and in accuracy, and the t-SNE mixing
    /// against chance.
    /// </summary>
    public ComparisonFamily MemorizationFamily()
    {
        var baselines = GroupsWhere(g => g.StartsWith("relnoise_", StringComparison.Ordinal) || g == "finetuned");
        var exploratory = baselines.SelectMany(b => new[] { MaxIouVersus(b), AccuracyVersus(b) }).ToList();
        if (TsneVersusChance() is { } t) exploratory.Add(t);
        return new ComparisonFamily("Notebook 05 (memorization)", new[] { MaxIouVersusOriginals(), DiversityVersusOriginals(), AccuracyVersus() }, exploratory);
    }

    /// <summary>
    /// Notebook 07's family. Headline (Holm): generated − originals' mean accuracy, and generated − the average and the
    /// Gaussian baselines' mean accuracy (those present). Exploratory: best on validation against the best original, every
    /// other baseline's accuracy, and the max IoU to the originals against the originals' own and every baseline's.
    /// </summary>
    public ComparisonFamily ImportFamily()
    {
        var named = GroupsWhere(g => g.StartsWith("average", StringComparison.Ordinal) || g == "gaussian");
        var others = GroupsWhere(g => !named.Contains(g));
        var headline = new[] { AccuracyVersus() }.Concat(named.Select(AccuracyVersus));
        var exploratory = new[] { BestOnValidationVersusOriginals() }.Concat(others.Select(AccuracyVersus))
            .Append(MaxIouVersusOriginals()).Concat(named.Concat(others).Select(MaxIouVersus));
        return new ComparisonFamily("Notebook 07 (bring your own)", headline, exploratory);
    }

    /// <summary>
    /// Our verdict beside a single published run's direction (<paramref name="paper"/>, read off its two numbers, which carry
    /// no interval): "the same direction as …", "… put it higher; these seeds cannot tell" or "… put it the other way (higher)".
    /// </summary>
    public static string AgainstPaper(DifferenceVerdict ours, DifferenceVerdict paper, string source) =>
        ours == paper ? $"the same direction as {source}"
        : ours is DifferenceVerdict.Indistinguishable or DifferenceVerdict.OneSeed ? $"{source} put it {VerdictWords.Word(paper)}; these seeds cannot tell"
        : $"{source} put it the other way ({VerdictWords.Word(paper)})";

    /// <summary>A group as the sentences name it: the legend's label, the weight average spelled out.</summary>
    static string Named(string group) => group == Evaluator.Ensemble ? "the weight average (ensemble)" : MemorizationCharts.Label(group);

    /// <summary>The similarity statistics: each seed's value, mean ± sample std, the paper's numbers (scaled as they read).</summary>
    public DataFrame SimilarityDataFrame()
    {
        var rows = Similarity();
        var columns = new List<DataFrameColumn> { new StringDataFrameColumn("statistic", rows.Select(r => r.Name)) };
        for (var i = 0; i < Seeds.Count; i++)
        {
            var at = i;
            columns.Add(new DoubleDataFrameColumn($"seed{Seeds[i].Seed}", rows.Select(r => r.Scale * r.Spread.Values[at])));
        }
        columns.Add(new StringDataFrameColumn($"mean ± std ({Seeds.Count} seeds)", rows.Select(r => r.Spread.Format(r.Scale, r.Digits))));
        columns.Add(new DoubleDataFrameColumn("paper v1 (CIFAR-100)", rows.Select(r => r.PaperV1)));
        columns.Add(new DoubleDataFrameColumn("V2-final log", rows.Select(r => r.V2Log)));
        return new DataFrame(columns);
    }

    /// <summary>Per group: models, mean test accuracy (%), best chosen on validation (%) and mean max IoU to the originals, each mean ± std over seeds with seed 0's value.</summary>
    public DataFrame GroupsDataFrame()
    {
        var rows = GroupSpreads();
        string First(SeedSpread s, double scale, int digits) => (scale * s.Values[0]).ToString($"F{digits}", CultureInfo.InvariantCulture);
        return new DataFrame(
            new StringDataFrameColumn("group", rows.Select(r => Named(r.Group))),
            new Int32DataFrameColumn("models", rows.Select(r => Seeds[0].Group(r.Group)!.Count)),
            new StringDataFrameColumn($"test mean % (seed {Seeds[0].Seed})", rows.Select(r => First(r.Accuracy, 100, 2))),
            new StringDataFrameColumn("test mean % ± std", rows.Select(r => r.Accuracy.Format())),
            new StringDataFrameColumn("best on val % ± std", rows.Select(r => r.BestOnValidation.Format())),
            new StringDataFrameColumn($"max IoU to originals (seed {Seeds[0].Seed})", rows.Select(r => First(r.MaxIou, 1, 3))),
            new StringDataFrameColumn("max IoU ± std", rows.Select(r => r.MaxIou.Format(1, 3))));
    }

    /// <summary>Writes <see cref="SimilarityCsv"/>, <see cref="GroupsCsv"/> and <see cref="SummaryJson"/> (every seed's numbers) into the claimed folder.</summary>
    public void Write(OwnedFolder folder)
    {
        var w = new ResultsWriter(folder.Directory, folder);
        w.WriteCsv(SimilarityCsv, SimilarityDataFrame());
        w.WriteCsv(GroupsCsv, GroupsDataFrame());
        w.WriteJson(SummaryJson, new { seeds = SeedList, folders = SeedList.Select(s => $"seed{s}"), groups = Groups, per_seed = Seeds });
    }
}
