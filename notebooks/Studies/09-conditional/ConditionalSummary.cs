using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using PDiff.Storage;

namespace PDiff.Studies;

/// <summary>One (target, w) over seeds: requested and obtained accuracies, the spread among a seed's models, novelty.</summary>
public sealed record ConditionalOverSeeds(string Setting, double TargetZ, double Guidance, SeedSpread Requested, SeedSpread ObtainedVal,
    SeedSpread ObtainedTest, SeedSpread ModelSpread, SeedSpread BestOnValTest, SeedSpread MaxIou);

/// <summary>
/// A conditional study over pipeline seeds: every setting's statistics as mean ± sample std over seeds, and the
/// comparisons the notebook states, each paired over seeds with its 95 % Student-t interval and read by the verdict
/// rule (<see cref="Family"/>). Calibration slope: per seed, the least-squares slope of obtained test accuracy on
/// requested accuracy over the calibration targets (1 = the model delivers what is asked, 0 = it ignores the request).
/// </summary>
public sealed class ConditionalSummary
{
    public const string SlopeVsZero = "calibration slope − 0", SlopeVsOne = "calibration slope − 1";

    public IReadOnlyList<ConditionalSeedResult> Seeds { get; }
    public ConditionalPlan Plan { get; }
    public IReadOnlyList<ConditionalOverSeeds> Settings { get; }

    /// <summary>Every comparison, in the order of <c>seeds_differences.csv</c>: per target, then the guidance sweep, then the slope's.</summary>
    public IReadOnlyList<Comparison> Comparisons { get; }

    /// <summary>Each comparison's paired difference (named as in <c>seeds_differences.csv</c>).</summary>
    public IReadOnlyList<PairedDifference> Differences => Comparisons.Select(c => c.Difference).ToList();

    /// <summary>
    /// The claims: the calibration slope against 0 and, per calibration target, the best generated model against the best
    /// original (both chosen on validation) are headline (Holm); every other comparison is exploratory.
    /// </summary>
    public ComparisonFamily Family { get; }

    public SeedSpread CalibrationSlope { get; }

    ConditionalSummary(IReadOnlyList<ConditionalSeedResult> seeds, ConditionalPlan plan, IReadOnlyList<ConditionalOverSeeds> settings,
        IReadOnlyList<Comparison> comparisons, IReadOnlyList<Comparison> headline, SeedSpread slope)
    {
        (Seeds, Plan, Settings, Comparisons, CalibrationSlope) = (seeds, plan, settings, comparisons, slope);
        Family = new ComparisonFamily("Conditional p-diff (the calibration slope against 0; each target's best on validation against the best original)",
            headline, comparisons.Where(c => !headline.Contains(c)));
    }

    public SeedSpread Zoo(Func<ConditionalZooRow, double> f) => SeedSpread.Of(Seeds.Select(s => f(s.Zoo)).ToList());

    public ConditionalOverSeeds? Setting(string name) => Settings.FirstOrDefault(s => s.Setting == name);

    public PairedDifference? Difference(string name) => ComparisonNamed(name)?.Difference;

    /// <summary>The comparison whose paired difference is named <paramref name="name"/> (as in <c>seeds_differences.csv</c>).</summary>
    public Comparison? ComparisonNamed(string name) => Comparisons.FirstOrDefault(c => c.Difference.Name == name);

    /// <summary>Calibration targets that lie above the best original's validation accuracy on every seed.</summary>
    public IReadOnlyList<double> AboveBest => Plan.TargetZ.Where(z => Seeds.All(s => Target(s, z) > s.Zoo.ValMax)).ToList();

    /// <summary>Calibration targets that lie below the worst original's validation accuracy on every seed.</summary>
    public IReadOnlyList<double> BelowWorst => Plan.TargetZ.Where(z => Seeds.All(s => Target(s, z) < s.Zoo.ValMin)).ToList();

    static double Target(ConditionalSeedResult s, double z) => s.Zoo.ValMean + z * s.Zoo.ValStd;

    public static ConditionalSummary From(IReadOnlyList<ConditionalSeedResult> seeds, ConditionalPlan plan)
    {
        if (seeds.Count == 0) throw new ArgumentException("A conditional summary needs at least one seed.", nameof(seeds));
        var names = seeds[0].Settings.Select(s => s.Setting).Where(n => seeds.All(x => x.Settings.Any(s => s.Setting == n))).ToList();
        ConditionalSettingRow Row(ConditionalSeedResult s, string n) => s.Settings.First(x => x.Setting == n);
        SeedSpread Over(string n, Func<ConditionalSettingRow, double> f) => SeedSpread.Of(seeds.Select(s => f(Row(s, n))).ToList());
        var settings = names.Select(n => new ConditionalOverSeeds(n, Row(seeds[0], n).TargetZ, Row(seeds[0], n).Guidance,
            Over(n, r => r.Target), Over(n, r => r.ValMean), Over(n, r => r.TestMean), Over(n, r => r.TestStd), Over(n, r => r.BestOnValTest),
            Over(n, r => r.MaxIouMean))).ToList();
        var (comparisons, headline) = Compare(seeds, plan, names);
        var slope = SeedSpread.Of(seeds.Select(s => Slope(s, plan)).ToList());
        var zeros = slope.Values.Select(_ => 0.0).ToList();
        var slopeVsZero = new Comparison("calibration slope", "0", PairedDifference.Of(SlopeVsZero, slope.Values, zeros), 1, "", 2);
        comparisons.Add(slopeVsZero);
        comparisons.Add(new Comparison("calibration slope", "1", PairedDifference.Of(SlopeVsOne, slope.Values, zeros.Select(_ => 1.0).ToList()), 1, "", 2));
        headline.Insert(0, slopeVsZero);
        return new ConditionalSummary(seeds, plan, settings, comparisons, headline, slope);
    }

    /// <summary>
    /// The paired comparisons per calibration target (against the originals, z = 0 and the unconditional model) and
    /// across the guidance sweep, and which of them are headline (each target's best on validation − best original).
    /// </summary>
    static (List<Comparison> All, List<Comparison> Headline) Compare(IReadOnlyList<ConditionalSeedResult> seeds, ConditionalPlan plan, IReadOnlyList<string> names)
    {
        var all = new List<Comparison>();
        var headline = new List<Comparison>();
        IReadOnlyList<double> Of(string n, Func<ConditionalSettingRow, double> f) => seeds.Select(s => f(s.Settings.First(x => x.Setting == n))).ToList();
        IReadOnlyList<double> ZooOf(Func<ConditionalZooRow, double> f) => seeds.Select(s => f(s.Zoo)).ToList();
        Comparison Add(string a, string b, string name, IReadOnlyList<double> x, IReadOnlyList<double> y)
        {
            var c = new Comparison(a, b, PairedDifference.Of(name, x, y));
            all.Add(c);
            return c;
        }
        var mid = ConditionalStudy.SettingName(0, plan.Guidance);
        foreach (var z in plan.TargetZ)
        {
            var n = ConditionalStudy.SettingName(z, plan.Guidance);
            if (!names.Contains(n)) continue;
            Add($"mean at {n}", "the originals' mean", $"{n}: mean − originals' mean", Of(n, r => r.TestMean), ZooOf(r => r.TestMean));
            headline.Add(Add($"best on validation at {n}", "the best original on validation", $"{n}: best on val − best original on val",
                Of(n, r => r.BestOnValTest), ZooOf(r => r.BestOnValTest)));
            if (z != 0 && names.Contains(mid))
                Add($"mean at {n}", $"the mean at {mid}", $"{n}: mean − mean at z 0", Of(n, r => r.TestMean), Of(mid, r => r.TestMean));
            if (names.Contains(ConditionalStudy.Unconditional))
                Add($"mean at {n}", "the unconditional p-diff mean", $"{n}: mean − unconditional p-diff mean", Of(n, r => r.TestMean), Of(ConditionalStudy.Unconditional, r => r.TestMean));
        }
        // Guidance: how far apart the lowest and highest sweep targets land at each w (0 at w = 0 by construction).
        if (plan.SweepTargetZ.Count >= 2)
        {
            var (lo, hi) = (plan.SweepTargetZ.Min(), plan.SweepTargetZ.Max());
            foreach (var w in plan.SweepGuidance.Append(plan.Guidance).Distinct().Where(w => w > 0).OrderBy(w => w))
            {
                var (a, b) = (ConditionalStudy.SettingName(hi, w), ConditionalStudy.SettingName(lo, w));
                if (names.Contains(a) && names.Contains(b))
                    Add($"mean at {a}", $"the mean at {b}", FormattableString.Invariant($"w {w:0.##}: mean at z {hi:+0.##;-0.##} − mean at z {lo:+0.##;-0.##}"),
                        Of(a, r => r.TestMean), Of(b, r => r.TestMean));
            }
        }
        return (all, headline);
    }

    /// <summary>A seed's least-squares slope of obtained test accuracy on requested accuracy over the calibration targets (NaN with one target).</summary>
    static double Slope(ConditionalSeedResult s, ConditionalPlan plan)
    {
        var pts = plan.TargetZ.Select(z => s.Settings.First(x => x.Setting == ConditionalStudy.SettingName(z, plan.Guidance))).Select(r => (X: r.Target, Y: r.TestMean)).ToList();
        var (mx, my) = (pts.Average(p => p.X), pts.Average(p => p.Y));
        var sxx = pts.Sum(p => (p.X - mx) * (p.X - mx));
        return sxx > 0 ? pts.Sum(p => (p.X - mx) * (p.Y - my)) / sxx : double.NaN;
    }

    /// <summary>One row per setting: mean and std over seeds of requested, obtained (val, test), model spread, best on val, max IoU (fractions).</summary>
    public DataFrame ToDataFrame() => Tables.ToDataFrame(Settings.Select(s => new
    {
        setting = s.Setting, target_z = s.TargetZ, guidance = s.Guidance, seeds = s.ObtainedTest.Count,
        requested_mean = s.Requested.Mean, obtained_val_mean = s.ObtainedVal.Mean, obtained_val_std = s.ObtainedVal.Std,
        obtained_test_mean = s.ObtainedTest.Mean, obtained_test_std = s.ObtainedTest.Std,
        model_spread_mean = s.ModelSpread.Mean, best_on_val_test_mean = s.BestOnValTest.Mean, best_on_val_test_std = s.BestOnValTest.Std,
        max_iou_mean = s.MaxIou.Mean, max_iou_std = s.MaxIou.Std,
    }));

    /// <summary>
    /// One row per comparison: its name, seeds, mean, std, raw interval and raw verdict (fractions; the slope's unscaled),
    /// then the family's reading: role (headline / exploratory), p, Holm's p (headline only) and the verdict it reads.
    /// </summary>
    public DataFrame DifferencesDataFrame() => Tables.ToDataFrame(Comparisons.Select(c => (c, d: c.Difference)).Select(x => new
    {
        comparison = x.d.Name, seeds = x.d.Count, mean = x.d.Mean, std = x.d.Std, ci_low = x.d.Low, ci_high = x.d.High, verdict = x.d.Verdict.ToString(),
        role = Family.IsHeadline(x.c) ? "headline" : "exploratory", p = x.d.P, holm_p = Family.IsHeadline(x.c) ? Family.HolmP(x.c) : double.NaN,
        family_verdict = Family.Verdict(x.c).ToString(),
    }));

    public DataFrame ZooDataFrame() => Tables.ToDataFrame(Seeds.Select(s => s.Zoo));

    /// <summary>seeds_summary.csv, seeds_differences.csv, zoos.csv and seeds_summary.json (slope, plan) in the results folder.</summary>
    public void Write(OwnedFolder results)
    {
        var w = new ResultsWriter(results.Directory, results);
        w.WriteCsv("seeds_summary.csv", ToDataFrame());
        w.WriteCsv("seeds_differences.csv", DifferencesDataFrame());
        w.WriteCsv("zoos.csv", ZooDataFrame());
        w.WriteJson("seeds_summary.json", new
        {
            seeds = Seeds.Select(s => s.Seed), folders = Seeds.Select(s => $"seed{s.Seed}"), plan = Plan,
            calibration_slope = new { values = CalibrationSlope.Values, mean = CalibrationSlope.Mean, std = CalibrationSlope.Std },
            seconds = Seeds.Select(s => new { s.Seed, train = s.TrainSeconds, generate = s.GenerateSeconds, score = s.ScoreSeconds }),
        });
    }
}
