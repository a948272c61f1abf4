using PDiff.Evaluation;

namespace PDiff.Studies;

/// <summary>
/// What notebooks 02 (K) and 04 (noise) claim about an ablation sweep, stated as comparison families: every comparison a
/// paired difference over pipeline seeds (both settings trained on the same seed's zoo), the headline ones read with
/// Holm's correction and the rest labelled exploratory.
/// </summary>
public static class AblationFindings
{
    /// <summary>The settings of notebook 04, by the names its parameter cell gives them.</summary>
    public const string NoNoise = "no noise", InputOnly = "input only", LatentOnly = "latent only", Both = "both";
    /// <summary>The prefix of the latent-σ sweep's settings in notebook 04 ("both, σz=0.01").</summary>
    public const string SweepPrefix = "both, ";

    /// <summary>Setting <paramref name="a"/>'s generated mean minus <paramref name="b"/>'s, paired by seed, in points.</summary>
    public static Comparison Mean(AblationSeedRow a, AblationSeedRow b) =>
        new($"generated mean ({a.Setting})", $"generated mean ({b.Setting})", a.MeanMinus(b));

    /// <summary>
    /// Notebook 02's family over settings ordered by K: the largest K − the smallest on the generated mean is the headline
    /// (the paper's table runs from its smallest to its largest K); every other pair of K on the mean, and the range of
    /// the generated models' max IoU to the originals at the largest K − at the smallest (the paper's iou_k_scatter), are
    /// exploratory.
    /// </summary>
    /// <param name="rows">One row per K, smallest first.</param>
    /// <param name="maxIouRanges">Per K (the order of <paramref name="rows"/>), the max-IoU range (max − min) of each seed.</param>
    public static ComparisonFamily KFamily(IReadOnlyList<AblationSeedRow> rows, IReadOnlyList<SeedSpread> maxIouRanges)
    {
        if (rows.Count < 2) throw new ArgumentException($"A K ablation compares at least two K; got {rows.Count}.", nameof(rows));
        if (maxIouRanges.Count != rows.Count) throw new ArgumentException($"{maxIouRanges.Count} max-IoU ranges for {rows.Count} settings: one per setting.", nameof(maxIouRanges));
        var (first, last) = (rows[0], rows[^1]);
        var pairs = new List<Comparison>();
        for (var j = 1; j < rows.Count; j++)
            for (var i = 0; i < j; i++)
                if (!(i == 0 && j == rows.Count - 1)) pairs.Add(Mean(rows[j], rows[i]));
        var range = new Comparison($"max-IoU range ({last.Setting})", $"max-IoU range ({first.Setting})",
            PairedDifference.Of($"max-IoU range, {last.Setting} − {first.Setting}", maxIouRanges[^1].Values, maxIouRanges[0].Values));
        return new ComparisonFamily($"K ablation over {first.Mean.Count} seed{(first.Mean.Count == 1 ? "" : "s")}", new[] { Mean(last, first) }, pairs.Append(range));
    }

    /// <summary>Per setting of <paramref name="sweep"/>, the range (max − min) of its generated models' max IoU to the originals on each seed (runs pooled).</summary>
    public static IReadOnlyList<SeedSpread> MaxIouRanges(AblationSweep sweep) => sweep.Settings.Select(s => SeedSpread.Of(sweep.Seeds.Select(seed =>
    {
        var spread = Spread.OfMaxSimilarity(seed.Reports[s.Name]);
        return spread.Max - spread.Min;
    }).ToList())).ToList();

    /// <summary>
    /// Notebook 04's family: latent only − no noise, input only − no noise and both − no noise on the generated mean are the
    /// headline (the paper's table, whose "both" row is its headline); latent only − input only (whether latent noise
    /// matters more) and each setting of the latent-σ sweep − both (σ_z as in "both") are exploratory.
    /// </summary>
    public static ComparisonFamily NoiseFamily(IReadOnlyList<AblationSeedRow> rows)
    {
        AblationSeedRow Row(string name) => rows.FirstOrDefault(r => r.Setting == name)
            ?? throw new ArgumentException($"The noise ablation has no setting '{name}' (settings: {string.Join(", ", rows.Select(r => r.Setting))}).", nameof(rows));
        var (none, input, latent, both) = (Row(NoNoise), Row(InputOnly), Row(LatentOnly), Row(Both));
        var exploratory = new List<Comparison> { Mean(latent, input) };
        exploratory.AddRange(rows.Where(r => r.Setting.StartsWith(SweepPrefix, StringComparison.Ordinal)).Select(r => Mean(r, both)));
        return new ComparisonFamily($"Noise ablation over {none.Mean.Count} seed{(none.Mean.Count == 1 ? "" : "s")}",
            new[] { Mean(latent, none), Mean(input, none), Mean(both, none) }, exploratory);
    }
}
