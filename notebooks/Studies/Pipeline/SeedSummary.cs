using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using PDiff.Storage;

namespace PDiff.Studies;

/// <summary>One group statistic over seeds (e.g. generated · test_mean): the per-seed values and their mean ± std.</summary>
public sealed record SeedGroupRow(string Group, string Statistic, SeedSpread Spread);

/// <summary>
/// A task measured over pipeline seeds: every group statistic (test mean, median, best chosen on validation,
/// best chosen on test; runs of a seed averaged) with its mean ± sample std over seeds, and the comparisons
/// the notebooks state as findings as paired differences with 95 % Student-t intervals. Built from live
/// reports (<see cref="From"/>) or from the per-seed folders on disk (<see cref="Load"/>: each seed's
/// <c>run&lt;r&gt;/groups.json</c> and <c>zoo_manifest.json</c>), so a committed table can be regenerated.
/// </summary>
public sealed class SeedSummary
{
    public const string TestMean = "test_mean", TestMedian = "test_median", BestOnValidation = "best_on_val", BestOnTest = "best_on_test";
    public const string BaseModel = "base model", BaseTest = "test";
    public const string SummaryCsv = "seeds_summary.csv", DifferencesCsv = "seeds_differences.csv", SummaryJson = "seeds_summary.json";
    /// <summary>The files <see cref="Write"/> puts in its folder.</summary>
    public static readonly IReadOnlyList<string> FileNames = new[] { SummaryCsv, DifferencesCsv, SummaryJson };

    /// <summary>The paired comparisons (p-diff minus something, per seed), by name: (label, A group·statistic, B group·statistic).</summary>
    public static readonly IReadOnlyList<(string Name, string Label, string GroupA, string StatA, string GroupB, string StatB)> Comparisons = new[]
    {
        ("pdiff_mean_vs_original_mean", "p-diff mean − originals' mean", Evaluator.Generated, TestMean, Evaluator.Original, TestMean),
        ("pdiff_mean_vs_ensemble", "p-diff mean − weight average", Evaluator.Generated, TestMean, Evaluator.Ensemble, TestMean),
        ("pdiff_mean_vs_average", "p-diff mean − average-of-n-originals baseline's mean", Evaluator.Generated, TestMean, "average*", TestMean),
        ("pdiff_mean_vs_gaussian", "p-diff mean − per-coordinate Gaussian's mean", Evaluator.Generated, TestMean, "gaussian", TestMean),
        ("pdiff_best_val_vs_original_best_val", "p-diff best − best original, both chosen on validation", Evaluator.Generated, BestOnValidation, Evaluator.Original, BestOnValidation),
        ("pdiff_best_test_vs_original_best_test", "p-diff best − best original, both chosen on test (the paper's way)", Evaluator.Generated, BestOnTest, Evaluator.Original, BestOnTest),
    };

    /// <summary>How a sentence names the two sides of each comparison (A − B), by comparison name.</summary>
    static readonly IReadOnlyDictionary<string, (string A, string B)> Sides = new Dictionary<string, (string A, string B)>
    {
        ["pdiff_mean_vs_original_mean"] = ("p-diff mean", "originals' mean"),
        ["pdiff_mean_vs_ensemble"] = ("p-diff mean", "weight average"),
        ["pdiff_mean_vs_average"] = ("p-diff mean", "average-of-n-originals baseline's mean"),
        ["pdiff_mean_vs_gaussian"] = ("p-diff mean", "per-coordinate Gaussian's mean"),
        ["pdiff_best_val_vs_original_best_val"] = ("p-diff best chosen on validation", "best original chosen on validation"),
        ["pdiff_best_test_vs_original_best_test"] = ("p-diff best chosen on test (the paper's way)", "best original chosen on test"),
    };

    /// <summary>
    /// The headline comparisons of the main result, fixed before any run: the claims the paper and its critique make
    /// (p-diff's mean against the originals', p-diff's best against the best original with both chosen on validation,
    /// p-diff's mean against the two simplest baselines). They are read with Holm's correction; every other comparison
    /// is exploratory.
    /// </summary>
    public static readonly IReadOnlyList<string> HeadlineComparisons = new[]
    {
        "pdiff_mean_vs_original_mean", "pdiff_best_val_vs_original_best_val", "pdiff_mean_vs_average", "pdiff_mean_vs_gaussian",
    };

    public const string Headline = "headline", Exploratory = "exploratory";

    /// <summary>"headline" or "exploratory": the role of a comparison in <see cref="Family"/>.</summary>
    public static string RoleOf(string name) => HeadlineComparisons.Contains(name) ? Headline : Exploratory;

    public string Task { get; }
    public string Profile { get; }
    public IReadOnlyList<int> Seeds { get; }
    /// <summary>Each seed's folder, relative to the summary's folder.</summary>
    public IReadOnlyList<string> Folders { get; }
    public IReadOnlyList<SeedGroupRow> Rows { get; }
    public IReadOnlyList<PairedDifference> Differences { get; }

    SeedSummary(string task, string profile, IReadOnlyList<int> seeds, IReadOnlyList<string> folders, IReadOnlyList<SeedGroupRow> rows, IReadOnlyList<PairedDifference> differences)
    {
        (Task, Profile, Seeds, Folders, Rows, Differences) = (task, profile, seeds, folders, rows, differences);
    }

    /// <summary>The row of a group statistic; a group name ending in '*' matches by prefix (e.g. "average*" for average16).</summary>
    public SeedGroupRow? Row(string group, string statistic) =>
        Rows.FirstOrDefault(r => r.Statistic == statistic && (group.EndsWith('*') ? r.Group.StartsWith(group[..^1], StringComparison.Ordinal) : r.Group == group));

    public PairedDifference? Difference(string name) => Differences.FirstOrDefault(d => d.Name == name);

    /// <summary>The label of a comparison name (<see cref="Comparisons"/>).</summary>
    public static string LabelOf(string name) => Comparisons.FirstOrDefault(c => c.Name == name).Label ?? name;

    /// <param name="runsPerSeed">For each seed, each run's group summaries (the runs of a seed are averaged).</param>
    /// <param name="baseTest">For each seed, the base model's test accuracy.</param>
    public static SeedSummary From(string task, string profile, IReadOnlyList<int> seeds, IReadOnlyList<IReadOnlyList<IReadOnlyList<GroupSummary>>> runsPerSeed,
        IReadOnlyList<double> baseTest, IReadOnlyList<string>? folders = null)
    {
        if (seeds.Count == 0 || runsPerSeed.Count != seeds.Count || baseTest.Count != seeds.Count)
            throw new ArgumentException($"{seeds.Count} seeds, {runsPerSeed.Count} sets of runs and {baseTest.Count} base accuracies: one of each per seed.");
        if (runsPerSeed.Any(r => r.Count == 0)) throw new ArgumentException("A seed without runs cannot be summarised.");
        // Groups present in every run of every seed, in the first run's order.
        var groups = runsPerSeed[0][0].Select(g => g.Group)
            .Where(g => runsPerSeed.All(runs => runs.All(run => run.Any(x => x.Group == g)))).ToList();
        var stats = new (string Name, Func<GroupSummary, double> Of)[]
        {
            (TestMean, g => g.Test.Mean), (TestMedian, g => g.Test.Median),
            (BestOnValidation, g => g.BestOnValidation.TestAccuracy), (BestOnTest, g => g.BestOnTest.TestAccuracy),
        };
        var rows = new List<SeedGroupRow> { new(BaseModel, BaseTest, SeedSpread.Of(baseTest)) };
        foreach (var g in groups)
            foreach (var (name, of) in stats)
                rows.Add(new SeedGroupRow(g, name, SeedSpread.Of(runsPerSeed.Select(runs => runs.Average(run => of(run.First(x => x.Group == g)))).ToList())));
        var partial = new SeedSummary(task, profile, seeds, folders ?? seeds.Select(s => $"seed{s}").ToList(), rows, Array.Empty<PairedDifference>());
        var diffs = new List<PairedDifference>();
        foreach (var c in Comparisons)
            if (partial.Row(c.GroupA, c.StatA) is { } a && partial.Row(c.GroupB, c.StatB) is { } b)
                diffs.Add(PairedDifference.Of(c.Name, a.Spread.Values, b.Spread.Values));
        return new SeedSummary(task, profile, seeds, partial.Folders, rows, diffs);
    }

    /// <summary>
    /// Rebuilds the summary from a folder written by <see cref="TaskRunner.RunSeeds"/>: the seeds and their folders
    /// listed in <c>seeds_summary.json</c> (or every <c>seed&lt;s&gt;/</c> when it is missing), and from each seed
    /// folder its runs' <c>groups.json</c> and <c>zoo_manifest.json</c>. The numbers come from the per-seed files only.
    /// </summary>
    public static SeedSummary Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"No results folder at {dir}.");
        string task = "", profile = "";
        List<(int Seed, string Folder)> seedFolders;
        var json = Path.Combine(dir, SummaryJson);
        if (File.Exists(json))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            task = doc.RootElement.GetProperty("task").GetString() ?? "";
            profile = doc.RootElement.GetProperty("profile").GetString() ?? "";
            var seeds = doc.RootElement.GetProperty("seeds").EnumerateArray().Select(e => e.GetInt32()).ToList();
            var folders = doc.RootElement.GetProperty("folders").EnumerateArray().Select(e => e.GetString()!).ToList();
            seedFolders = seeds.Zip(folders).ToList();
        }
        else
        {
            seedFolders = Directory.GetDirectories(dir, "seed*")
                .Select(d => (Name: Path.GetFileName(d), Dir: d))
                .Where(x => int.TryParse(x.Name.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out _))
                .Select(x => (int.Parse(x.Name.AsSpan(4), CultureInfo.InvariantCulture), x.Name)).OrderBy(x => x.Item1).ToList();
        }
        if (seedFolders.Count == 0) throw new FileNotFoundException($"{dir} holds no per-seed results (seed<s>/ folders).");
        var runsPerSeed = new List<IReadOnlyList<IReadOnlyList<GroupSummary>>>();
        var baseTest = new List<double>();
        foreach (var (seed, folder) in seedFolders)
        {
            var seedDir = Path.Combine(dir, folder);
            var runs = Directory.GetDirectories(seedDir, "run*").Where(d => File.Exists(Path.Combine(d, "groups.json")))
                .OrderBy(d => d, StringComparer.Ordinal)
                .Select(d => (IReadOnlyList<GroupSummary>)ResultsWriter.ReadJson<List<GroupSummary>>(Path.Combine(d, "groups.json"))).ToList();
            if (runs.Count == 0) throw new FileNotFoundException($"{seedDir} holds no run<i>/groups.json: seed {seed} is incomplete.");
            runsPerSeed.Add(runs);
            using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(seedDir, "zoo_manifest.json")));
            baseTest.Add(manifest.RootElement.TryGetProperty("baseTestAccuracy", out var b) && b.ValueKind == JsonValueKind.Number ? b.GetDouble() : double.NaN);
        }
        return From(task, profile, seedFolders.Select(x => x.Seed).ToList(), runsPerSeed, baseTest, seedFolders.Select(x => x.Folder).ToList());
    }

    /// <summary>One row per group statistic: the value of every seed, the mean and the std over seeds (fractions).</summary>
    public DataFrame ToDataFrame()
    {
        var columns = new List<DataFrameColumn>
        {
            new StringDataFrameColumn("group", Rows.Select(r => r.Group)),
            new StringDataFrameColumn("statistic", Rows.Select(r => r.Statistic)),
        };
        for (var i = 0; i < Seeds.Count; i++)
            columns.Add(new DoubleDataFrameColumn($"seed{Seeds[i]}", Rows.Select(r => r.Spread.Values[i])));
        columns.Add(new DoubleDataFrameColumn("mean", Rows.Select(r => r.Spread.Mean)));
        columns.Add(new DoubleDataFrameColumn("std", Rows.Select(r => r.Spread.Std)));
        columns.Add(new Int32DataFrameColumn("seeds", Rows.Select(r => r.Spread.Count)));
        return new DataFrame(columns);
    }

    /// <summary>The comparison a sentence states for one of <see cref="Differences"/>, its sides named as in <see cref="Sides"/>.</summary>
    public static Comparison ComparisonOf(PairedDifference d) =>
        Sides.TryGetValue(d.Name, out var sides) ? new Comparison(sides.A, sides.B, d) : throw new KeyNotFoundException($"'{d.Name}' is not a comparison of the main result.");

    /// <summary>
    /// The main result as a family: the <see cref="HeadlineComparisons"/> this summary holds, read with Holm's correction,
    /// and the other paired differences as exploratory intervals.
    /// </summary>
    public ComparisonFamily Family() => FamilyOrNull()
        ?? throw new InvalidOperationException($"{Task}: no headline comparison could be computed (the summary lacks p-diff's or the originals' groups).");

    /// <summary><see cref="Family"/>, or null when the summary holds no headline comparison (no p-diff group: nothing to claim).</summary>
    ComparisonFamily? FamilyOrNull()
    {
        var headline = Differences.Where(d => RoleOf(d.Name) == Headline).Select(ComparisonOf).ToList();
        var exploratory = Differences.Where(d => RoleOf(d.Name) == Exploratory).Select(ComparisonOf).ToList();
        return headline.Count == 0 ? null
            : new ComparisonFamily($"{Task}, the main result over {Seeds.Count} seed{(Seeds.Count == 1 ? "" : "s")}", headline, exploratory);
    }

    /// <summary>
    /// The paired differences: per-seed differences, mean, std, the 95 % interval and the verdict (fractions), then what
    /// the family adds: the p-value, the role, and for headline comparisons the Holm-adjusted p-value and verdict.
    /// </summary>
    public DataFrame DifferencesDataFrame()
    {
        var columns = new List<DataFrameColumn>
        {
            new StringDataFrameColumn("comparison", Differences.Select(d => d.Name)),
            new StringDataFrameColumn("label", Differences.Select(d => LabelOf(d.Name))),
        };
        for (var i = 0; i < Seeds.Count; i++)
            columns.Add(new DoubleDataFrameColumn($"seed{Seeds[i]}", Differences.Select(d => d.Differences[i])));
        columns.Add(new DoubleDataFrameColumn("mean", Differences.Select(d => d.Mean)));
        columns.Add(new DoubleDataFrameColumn("std", Differences.Select(d => d.Std)));
        columns.Add(new DoubleDataFrameColumn("ci_low", Differences.Select(d => d.Low)));
        columns.Add(new DoubleDataFrameColumn("ci_high", Differences.Select(d => d.High)));
        columns.Add(new StringDataFrameColumn("verdict", Differences.Select(d => d.VerdictText)));
        var family = FamilyOrNull();
        columns.Add(new DoubleDataFrameColumn("p", Differences.Select(d => d.P)));
        columns.Add(new StringDataFrameColumn("role", Differences.Select(d => RoleOf(d.Name))));
        columns.Add(new DoubleDataFrameColumn("holm_p", Differences.Select(d => HolmP(family, d))));
        columns.Add(new StringDataFrameColumn("holm_verdict", Differences.Select(d => HolmWord(family, d))));
        return new DataFrame(columns);
    }

    /// <summary>
    /// The table a notebook shows: per group, each statistic as "mean ± std" over seeds in % next to seed 0's single-run value.
    /// </summary>
    public DataFrame ToDisplayFrame()
    {
        var groups = Rows.Select(r => r.Group).Distinct().ToList();
        string Cell(string g, string stat) => Row(g, stat) is { } r ? r.Spread.Format() : "";
        string First(string g, string stat) => Row(g, stat) is { } r ? (100 * r.Spread.Values[0]).ToString("F2", CultureInfo.InvariantCulture) : "";
        var stat0 = (string g) => g == BaseModel ? BaseTest : TestMean;
        return new DataFrame(
            new StringDataFrameColumn("group", groups),
            new StringDataFrameColumn($"mean (seed {Seeds[0]})", groups.Select(g => First(g, stat0(g)))),
            new StringDataFrameColumn($"mean ± std ({Seeds.Count} seeds)", groups.Select(g => Cell(g, stat0(g)))),
            new StringDataFrameColumn("median ± std", groups.Select(g => Cell(g, TestMedian))),
            new StringDataFrameColumn($"best on val (seed {Seeds[0]})", groups.Select(g => First(g, BestOnValidation))),
            new StringDataFrameColumn("best on val ± std", groups.Select(g => Cell(g, BestOnValidation))),
            new StringDataFrameColumn("best on test ± std", groups.Select(g => Cell(g, BestOnTest))));
    }

    /// <summary>A headline comparison's Holm-adjusted p-value in <paramref name="family"/>; NaN for an exploratory one.</summary>
    static double HolmP(ComparisonFamily? family, PairedDifference d) =>
        family is not null && RoleOf(d.Name) == Headline ? family.HolmP(family.Headline.First(c => ReferenceEquals(c.Difference, d))) : double.NaN;

    /// <summary>A headline comparison's verdict after Holm's correction ("higher", "lower", ...); empty for an exploratory one.</summary>
    static string HolmWord(ComparisonFamily? family, PairedDifference d) =>
        family is not null && RoleOf(d.Name) == Headline ? VerdictWords.Word(family.HolmVerdict(family.Headline.First(c => ReferenceEquals(c.Difference, d)))) : "";

    /// <summary>The family's sentences: its statement, each headline comparison with its Holm verdict, then the exploratory ones.</summary>
    public IEnumerable<string> Sentences() => FamilyOrNull()?.Sentences() ?? Enumerable.Empty<string>();

    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{Task}, profile {Profile}, seeds {string.Join(", ", Seeds)} (test accuracy %, mean ± sample std over seeds)");
        foreach (var r in Rows)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {r.Group,-24} {r.Statistic,-13} {r.Spread.Format(),-16} per seed {string.Join(" / ", r.Spread.Values.Select(v => (100 * v).ToString("F2", CultureInfo.InvariantCulture)))}");
        foreach (var s in Sentences()) sb.AppendLine("  " + s);
        return sb.ToString();
    }

    /// <summary>Writes seeds_summary.csv, seeds_differences.csv and seeds_summary.json into the claimed folder.</summary>
    public void Write(OwnedFolder folder)
    {
        var w = new ResultsWriter(folder.Directory, folder);
        w.WriteCsv(SummaryCsv, ToDataFrame());
        w.WriteCsv(DifferencesCsv, DifferencesDataFrame());
        var family = FamilyOrNull();
        w.WriteJson(SummaryJson, new
        {
            task = Task, profile = Profile, seeds = Seeds, folders = Folders,
            rows = Rows.Select(r => new { group = r.Group, statistic = r.Statistic, values = r.Spread.Values, mean = r.Spread.Mean, std = r.Spread.Std }),
            differences = Differences.Select(d => new
            {
                comparison = d.Name, label = LabelOf(d.Name), values = d.Differences, mean = d.Mean, std = d.Std,
                level = d.Level, ci_low = d.Low, ci_high = d.High, verdict = d.VerdictText,
                p = d.P, role = RoleOf(d.Name), holm_p = HolmP(family, d), holm_verdict = HolmWord(family, d),
            }),
        });
    }
}
