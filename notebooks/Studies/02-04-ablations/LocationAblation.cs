using PDiff.Diffusion;
using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>One location (parameter subset) on one pipeline seed: the size of the subset, the base model's test accuracy and its runs' reports.</summary>
public sealed record LocationSeed(int Seed, string Subset, long Parameters, double BaseTest, IReadOnlyList<EvaluationReport> Reports) : IDisposable
{
    /// <summary>The runs of this seed summarised as one ablation row (runs averaged).</summary>
    public AblationRow Row => AblationRow.From(Subset, Reports);

    public void Dispose()
    {
        foreach (var r in Reports) r.Dispose();
    }
}

/// <summary>
/// Notebook 03: where the generated parameters sit. Every location is its own task (one zoo per subset, trained from
/// the seed's one base model), so each location's generated models are compared with its own originals. Per pipeline
/// seed, every location's zoo (cached under its task's name, so seed 0 reuses the single-seed zoos and last-two-norms
/// shares notebook 01's zoos and p-diff models), p-diff trained <c>runs</c> times and evaluated without baselines.
/// </summary>
public static class LocationAblation
{
    /// <summary>
    /// Runs every location on every seed (<see cref="SeedRunner"/>; seeds outer, so a seed's zoos share its base model) and
    /// writes <c>&lt;results&gt;/&lt;subset&gt;/seed&lt;s&gt;/run&lt;i&gt;/</c>, each location's spread over seeds beside its seed folders
    /// (<see cref="SeedSummary"/> files) and the location family (<see cref="FamilyTables"/> files) in <c>&lt;results&gt;/</c>.
    /// The folders are claimed before any training. <paramref name="task"/> gives the dataset and architecture; its subset is ignored.
    /// </summary>
    public static LocationSweep RunSeeds(TaskSpec task, IReadOnlyList<string> subsets, PDiffConfig preset, Profile profile, int runs, IReadOnlyList<int> seeds,
        string resultsDir, TextWriter? log = null, int? generate = null)
    {
        SeedRunner.Check(seeds);
        if (subsets.Count == 0 || subsets.Distinct().Count() != subsets.Count)
            throw new ArgumentException("A location ablation needs at least one subset, each named once.", nameof(subsets));
        var options = Ablation.EvaluationFor(profile);
        string Fingerprint(object what) => ResultsFolders.Fingerprint(new
        {
            layout = "location-seeds", what, dataset = task.Dataset, arch = task.Arch, profile = profile.Name(), preset = ConfigText.ToJson(preset),
            runs, generate, evaluation = options.ToString(),
        });
        using var top = ResultsFolders.Claim(resultsDir, Fingerprint(subsets), log: log, planned: subsets.Select(s => $"{s}/").Concat(FamilyTables.FileNames));
        var folders = new List<PDiff.Storage.OwnedFolder>();
        try
        {
            foreach (var s in subsets)
                folders.Add(ResultsFolders.Claim(top.Sub(s), Fingerprint(s), log: log, planned: seeds.Select(x => $"seed{x}/").Concat(SeedSummary.FileNames)));
            var perSeed = SeedRunner.Run(seeds, seed => RunSeed(task.WithSeed(seed), subsets, folders, preset, profile, runs, log, generate), log);
            var sweep = new LocationSweep(subsets, seeds, perSeed) { Folder = top.Directory };
            try
            {
                for (var i = 0; i < subsets.Count; i++) sweep.Summary(subsets[i], task, profile).Write(folders[i]);
                FamilyTables.Write(sweep.Gaps.Family, seeds, top);
                return sweep;
            }
            catch
            {
                sweep.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var f in folders) f.Dispose();
        }
    }

    /// <summary>One seed: every location's zoo (cached), context and runs, each written into its claimed folder's <c>seed&lt;s&gt;/</c>.</summary>
    static IReadOnlyList<LocationSeed> RunSeed(TaskSpec seeded, IReadOnlyList<string> subsets, IReadOnlyList<PDiff.Storage.OwnedFolder> folders, PDiffConfig preset,
        Profile profile, int runs, TextWriter? log, int? generate)
    {
        var done = new List<LocationSeed>();
        try
        {
            for (var i = 0; i < subsets.Count; i++)
            {
                log?.WriteLine($"=== seed {seeded.Seed}, {subsets[i]} ===");
                var zoo = ZooCache.Ensure(seeded with { Subset = subsets[i] }, profile, log);
                using var ctx = TaskContext.Open(zoo);
                var reports = Ablation.RunSetting(ctx, preset, profile, runs, folders[i].Sub($"seed{seeded.Seed}"), log, generate: generate, seed: seeded.Seed);
                done.Add(new LocationSeed(seeded.Seed, subsets[i], zoo.Layout.Length, zoo.Manifest.BaseTestAccuracy ?? double.NaN, reports));
            }
            return done;
        }
        catch
        {
            foreach (var d in done) d.Dispose();
            throw;
        }
    }
}

/// <summary>Every location on every seed: seed 0's rows (the chart against the paper), the spread over seeds, and the gaps' family.</summary>
public sealed class LocationSweep : IDisposable
{
    public LocationSweep(IReadOnlyList<string> subsets, IReadOnlyList<int> seeds, IReadOnlyList<IReadOnlyList<LocationSeed>> perSeed)
    {
        if (perSeed.Count != seeds.Count || perSeed.Any(s => s.Count != subsets.Count))
            throw new ArgumentException($"{seeds.Count} seeds × {subsets.Count} locations expected.", nameof(perSeed));
        (Subsets, Seeds, PerSeed) = (subsets, seeds, perSeed);
        Gaps = LocationGaps.From(subsets, perSeed.Select(s => (IReadOnlyList<AblationRow>)s.Select(x => x.Row).ToList()).ToList());
    }

    public IReadOnlyList<string> Subsets { get; }
    public IReadOnlyList<int> Seeds { get; }
    /// <summary>For each seed (in <see cref="Seeds"/>' order), every location in <see cref="Subsets"/>' order.</summary>
    public IReadOnlyList<IReadOnlyList<LocationSeed>> PerSeed { get; }
    public LocationGaps Gaps { get; }

    /// <summary>The results folder holding the locations' folders and the family files.</summary>
    public string? Folder { get; init; }

    /// <summary>The path to write a file of ours (a chart) into the results folder, listed in its marker first.</summary>
    public string Writable(string name)
    {
        using var folder = PDiff.Storage.OwnedFolder.Claim(Folder ?? throw new InvalidOperationException("No results folder."), ResultsFolders.Kind);
        return folder.Writable(name);
    }

    /// <summary>The number of generated parameters of each location.</summary>
    public IReadOnlyDictionary<string, long> Parameters => PerSeed[0].ToDictionary(x => x.Subset, x => x.Parameters);

    /// <summary>One row per location, the first seed alone (the chart against the paper).</summary>
    public IReadOnlyList<AblationRow> FirstSeedRows() => PerSeed[0].Select(x => x.Row).ToList();

    /// <summary>One row per location over every seed.</summary>
    public IReadOnlyList<AblationSeedRow> SeedRows() =>
        Subsets.Select((s, i) => AblationSeedRow.From(s, PerSeed.Select(seed => seed[i].Reports).ToList())).ToList();

    /// <summary>A location's group statistics over seeds with the standard paired differences (written beside its seed folders).</summary>
    public SeedSummary Summary(string subset, TaskSpec task, Profile profile)
    {
        var i = Subsets.ToList().IndexOf(subset);
        if (i < 0) throw new KeyNotFoundException($"No location '{subset}' in this sweep.");
        return SeedSummary.From((task with { Subset = subset, Seed = 0 }).ToString(), profile.Name(), Seeds,
            PerSeed.Select(seed => (IReadOnlyList<IReadOnlyList<GroupSummary>>)seed[i].Reports.Select(r => r.Summaries).ToList()).ToList(),
            PerSeed.Select(seed => seed[i].BaseTest).ToList());
    }

    public void Dispose()
    {
        foreach (var x in PerSeed.SelectMany(s => s)) x.Dispose();
    }
}

/// <summary>
/// The comparisons notebook 03 states, paired over seeds. Headline (Holm): at each location, the generated mean minus
/// its own originals' mean (the gap). Exploratory: at each location, the best generated model minus the best original
/// (both chosen on validation), and each pair of locations' gaps against each other (the paper's ordering of locations).
/// </summary>
public sealed class LocationGaps
{
    public const string FamilyName = "Notebook 03 (location)";

    readonly IReadOnlyList<(string A, string B)> pairs;

    LocationGaps(IReadOnlyList<string> subsets, IReadOnlyList<Comparison> gaps, IReadOnlyList<Comparison> bests, IReadOnlyList<(string A, string B)> pairs,
        IReadOnlyList<Comparison> contrasts)
    {
        (Subsets, MeanGaps, BestGaps, this.pairs, Contrasts) = (subsets, gaps, bests, pairs, contrasts);
        Family = new ComparisonFamily(FamilyName, gaps, bests.Concat(contrasts));
    }

    public IReadOnlyList<string> Subsets { get; }
    /// <summary>Per location (in <see cref="Subsets"/>' order): generated mean − its own originals' mean.</summary>
    public IReadOnlyList<Comparison> MeanGaps { get; }
    /// <summary>Per location: best generated model − best original, both chosen on validation, on test.</summary>
    public IReadOnlyList<Comparison> BestGaps { get; }
    /// <summary>For each pair of locations (earlier in the list first): the earlier one's gap − the later one's.</summary>
    public IReadOnlyList<Comparison> Contrasts { get; }
    public ComparisonFamily Family { get; }

    /// <param name="perSeed">For each seed, one row per location in <paramref name="subsets"/>' order.</param>
    public static LocationGaps From(IReadOnlyList<string> subsets, IReadOnlyList<IReadOnlyList<AblationRow>> perSeed)
    {
        if (perSeed.Count == 0 || perSeed.Any(s => s.Count != subsets.Count || s.Select(r => r.Setting).Where((n, i) => n != subsets[i]).Any()))
            throw new ArgumentException("Every seed needs one row per location, in the locations' order.", nameof(perSeed));
        IReadOnlyList<double> Of(int i, Func<AblationRow, double> f) => perSeed.Select(s => f(s[i])).ToList();
        var gaps = subsets.Select((s, i) => new Comparison(GeneratedMean(s), OwnOriginals,
            PairedDifference.Of($"{s}: generated mean − originals' mean", Of(i, r => r.Mean), Of(i, r => r.OriginalMean)))).ToList();
        var bests = subsets.Select((s, i) => new Comparison($"the best generated model at {s} (chosen on validation)", "the best original (chosen on validation)",
            PairedDifference.Of($"{s}: best on val − best original on val", Of(i, r => r.BestOnValidation), Of(i, r => r.OriginalBestOnValidation)))).ToList();
        var pairs = new List<(string A, string B)>();
        var contrasts = new List<Comparison>();
        for (var i = 0; i < subsets.Count; i++)
            for (var j = i + 1; j < subsets.Count; j++)
            {
                pairs.Add((subsets[i], subsets[j]));
                contrasts.Add(new Comparison(GapAt(subsets[i]), GapAt(subsets[j]),
                    PairedDifference.Of($"gap {subsets[i]} − gap {subsets[j]}", gaps[i].Difference.Differences, gaps[j].Difference.Differences)));
            }
        return new LocationGaps(subsets, gaps, bests, pairs, contrasts);
    }

    public const string OwnOriginals = "its own originals' mean";
    public static string GeneratedMean(string subset) => $"the generated mean at {subset}";
    public static string GapAt(string subset) => $"the gap at {subset}";

    /// <summary>
    /// The gap of <paramref name="subset"/> against every other location's, as the verdicts of the exploratory contrasts
    /// read it (a contrast listed the other way round has its verdict turned): higher, indistinguishable or lower.
    /// </summary>
    public IReadOnlyList<(string Other, DifferenceVerdict Verdict)> AgainstOthers(string subset) =>
        pairs.Zip(Contrasts).Where(x => x.First.A == subset || x.First.B == subset)
            .Select(x => x.First.A == subset ? (x.First.B, x.Second.Verdict) : (x.First.A, Turned(x.Second.Verdict))).ToList();

    /// <summary>
    /// The paper's ordering as the verdicts read it: <paramref name="deepest"/> (BN 16–18, our last-two-norms) first needs its
    /// gap higher than every other location's. The sentence lists the verdicts and says which ordering they support.
    /// </summary>
    public string Ordering(string deepest)
    {
        if (!Subsets.Contains(deepest)) return $"{deepest} did not run: no ordering against it to read.";
        var against = AgainstOthers(deepest);
        if (against.Count == 0) return "Only one location ran: no ordering of locations to read.";
        string List(DifferenceVerdict v) => string.Join(", ", against.Where(x => x.Verdict == v).Select(x => x.Other));
        var parts = new[] { DifferenceVerdict.Higher, DifferenceVerdict.Indistinguishable, DifferenceVerdict.Lower, DifferenceVerdict.OneSeed }
            .Where(v => against.Any(x => x.Verdict == v)).Select(v => $"{VerdictWords.Word(v)} against {List(v)}");
        var reading = against.All(x => x.Verdict == DifferenceVerdict.Higher)
            ? $"the verdicts put {deepest} first, as the paper's ordering does"
            : against.Any(x => x.Verdict == DifferenceVerdict.Lower)
                ? $"the verdicts put {List(DifferenceVerdict.Lower)} above {deepest}, unlike the paper's ordering"
                : $"the verdicts do not order {deepest} above the other locations";
        return $"The gap at {deepest} (exploratory contrasts, uncorrected): {string.Join("; ", parts)} — {reading}.";
    }

    static DifferenceVerdict Turned(DifferenceVerdict v) => v switch
    {
        DifferenceVerdict.Higher => DifferenceVerdict.Lower,
        DifferenceVerdict.Lower => DifferenceVerdict.Higher,
        _ => v,
    };
}
