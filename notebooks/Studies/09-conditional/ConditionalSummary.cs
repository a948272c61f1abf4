using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using PDiff.Storage;

namespace PDiff.Studies;

/// <summary>One (target, w) over seeds: requested and obtained accuracies, the spread among a seed's models, novelty.</summary>
public sealed record ConditionalOverSeeds(string Setting, double TargetZ, double Guidance, SeedSpread Requested, SeedSpread ObtainedVal,
    SeedSpread ObtainedTest, SeedSpread ModelSpread, SeedSpread BestOnValTest, SeedSpread MaxIou);

/// <summary>
/// A conditional study over pipeline seeds: every setting's statistics as mean ± sample std over seeds, and the
/// comparisons the notebook states as paired differences with 95 % Student-t intervals (the sentence follows
/// the interval). Calibration slope: per seed, the least-squares slope of obtained test accuracy on requested
/// accuracy over the calibration targets (1 = the model delivers what is asked, 0 = it ignores the request).
/// </summary>
public sealed class ConditionalSummary
{
    public IReadOnlyList<ConditionalSeedResult> Seeds { get; }
    public ConditionalPlan Plan { get; }
    public IReadOnlyList<ConditionalOverSeeds> Settings { get; }
    public IReadOnlyList<PairedDifference> Differences { get; }
    public SeedSpread CalibrationSlope { get; }

    ConditionalSummary(IReadOnlyList<ConditionalSeedResult> seeds, ConditionalPlan plan, IReadOnlyList<ConditionalOverSeeds> settings,
        IReadOnlyList<PairedDifference> differences, SeedSpread slope)
    {
        (Seeds, Plan, Settings, Differences, CalibrationSlope) = (seeds, plan, settings, differences, slope);
    }

    public SeedSpread Zoo(Func<ConditionalZooRow, double> f) => SeedSpread.Of(Seeds.Select(s => f(s.Zoo)).ToList());

    public ConditionalOverSeeds? Setting(string name) => Settings.FirstOrDefault(s => s.Setting == name);

    public PairedDifference? Difference(string name) => Differences.FirstOrDefault(d => d.Name == name);

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

        var diffs = new List<PairedDifference>();
        IReadOnlyList<double> Of(string n, Func<ConditionalSettingRow, double> f) => seeds.Select(s => f(Row(s, n))).ToList();
        IReadOnlyList<double> ZooOf(Func<ConditionalZooRow, double> f) => seeds.Select(s => f(s.Zoo)).ToList();
        var mid = ConditionalStudy.SettingName(0, plan.Guidance);
        foreach (var z in plan.TargetZ)
        {
            var n = ConditionalStudy.SettingName(z, plan.Guidance);
            if (!names.Contains(n)) continue;
            diffs.Add(PairedDifference.Of($"{n}: mean − originals' mean", Of(n, r => r.TestMean), ZooOf(r => r.TestMean)));
            diffs.Add(PairedDifference.Of($"{n}: best on val − best original on val", Of(n, r => r.BestOnValTest), ZooOf(r => r.BestOnValTest)));
            if (z != 0 && names.Contains(mid))
                diffs.Add(PairedDifference.Of($"{n}: mean − mean at z 0", Of(n, r => r.TestMean), Of(mid, r => r.TestMean)));
            if (names.Contains(ConditionalStudy.Unconditional))
                diffs.Add(PairedDifference.Of($"{n}: mean − unconditional p-diff mean", Of(n, r => r.TestMean), Of(ConditionalStudy.Unconditional, r => r.TestMean)));
        }
        // Guidance: how far apart the lowest and highest sweep targets land at each w (0 at w = 0 by construction).
        if (plan.SweepTargetZ.Count >= 2)
        {
            var (lo, hi) = (plan.SweepTargetZ.Min(), plan.SweepTargetZ.Max());
            foreach (var w in plan.SweepGuidance.Append(plan.Guidance).Distinct().Where(w => w > 0).OrderBy(w => w))
            {
                var (a, b) = (ConditionalStudy.SettingName(hi, w), ConditionalStudy.SettingName(lo, w));
                if (names.Contains(a) && names.Contains(b))
                    diffs.Add(PairedDifference.Of(FormattableString.Invariant($"w {w:0.##}: mean at z {hi:+0.##;-0.##} − mean at z {lo:+0.##;-0.##}"), Of(a, r => r.TestMean), Of(b, r => r.TestMean)));
            }
        }
        var slopes = seeds.Select(s =>
        {
            var pts = plan.TargetZ.Select(z => Row(s, ConditionalStudy.SettingName(z, plan.Guidance))).Select(r => (X: r.Target, Y: r.TestMean)).ToList();
            var (mx, my) = (pts.Average(p => p.X), pts.Average(p => p.Y));
            var sxx = pts.Sum(p => (p.X - mx) * (p.X - mx));
            return sxx > 0 ? pts.Sum(p => (p.X - mx) * (p.Y - my)) / sxx : double.NaN;
        }).ToList();
        return new ConditionalSummary(seeds, plan, settings, diffs, SeedSpread.Of(slopes));
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

    public DataFrame DifferencesDataFrame() => Tables.ToDataFrame(Differences.Select(d => new
    {
        comparison = d.Name, seeds = d.Count, mean = d.Mean, std = d.Std, ci_low = d.Low, ci_high = d.High, verdict = d.Verdict.ToString(),
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
