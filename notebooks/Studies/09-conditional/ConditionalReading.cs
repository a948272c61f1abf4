using PDiff.Data;
using PDiff.Evaluation;

namespace PDiff.Studies;

/// <summary>
/// Notebook 09's reading, every comparison from the summary's family: the family it states, (a) the calibration slope
/// against 0 (headline) and 1 (exploratory) with what the verdict concludes, (b) per target above the best original,
/// the best generated model against the best original (headline) and the generated mean against the originals' mean.
/// </summary>
public static class ConditionalReading
{
    public static IEnumerable<string> Lines(ConditionalSummary summary)
    {
        var f = summary.Family;
        var plan = summary.Plan;
        yield return f.Statement();
        yield return $"Calibration slope (obtained test per requested validation accuracy, least squares over the {plan.TargetZ.Count} targets at w {plan.Guidance}): "
            + $"{summary.CalibrationSlope.Format(1, 3)} over {summary.CalibrationSlope.Count} seed(s).";
        var vsZero = summary.ComparisonNamed(ConditionalSummary.SlopeVsZero)!;
        yield return "  " + f.Sentence(vsZero);
        yield return "  " + f.Sentence(summary.ComparisonNamed(ConditionalSummary.SlopeVsOne)!);
        yield return "(a) " + SlopeReading(f.Verdict(vsZero));
        foreach (var z in summary.AboveBest)
        {
            var n = ConditionalStudy.SettingName(z, plan.Guidance);
            yield return FormattableString.Invariant($"(b) Asking z {z:+0.##}:");
            yield return "  " + f.Sentence(summary.ComparisonNamed($"{n}: best on val − best original on val")!);
            yield return "  " + f.Sentence(summary.ComparisonNamed($"{n}: mean − originals' mean")!);
        }
    }

    /// <summary>What the slope's verdict against 0 (Holm's) lets the reading say about the request.</summary>
    public static string SlopeReading(DifferenceVerdict againstZero) => VerdictWords.Phrase(againstZero, "The calibration slope", "0") + ": " + (againstZero switch
    {
        DifferenceVerdict.Higher => "the obtained accuracy follows the request.",
        DifferenceVerdict.Lower => "the obtained accuracy goes against the request.",
        DifferenceVerdict.Indistinguishable => "the obtained accuracy does not distinguishably follow the request.",
        _ => "whether the obtained accuracy follows the request is not known.",
    });
}
