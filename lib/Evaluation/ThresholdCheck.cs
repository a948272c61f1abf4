using PDiff.Data;

namespace PDiff.Evaluation;

/// <summary>What a check decides from an interval: passed, failed, or the interval reaches both sides of the threshold.</summary>
public enum CheckOutcome { Pass, Fail, Undecided }

/// <summary>
/// A PASS/FAIL check decided by the verdict rule, never by a mean alone: the 95 % interval of the difference must lie on
/// the allowed side of the threshold to pass and wholly on the other side to fail; an interval that reaches across the
/// threshold (or one seed, which has no interval) leaves the check undecided.
/// </summary>
public sealed record ThresholdCheck(string Name, Comparison Comparison, CheckOutcome Outcome, string Requirement)
{
    /// <summary>Passes when A − B is at least <paramref name="threshold"/> (a fraction, in the comparison's units before scaling).</summary>
    public static ThresholdCheck AtLeast(string name, Comparison c, double threshold)
    {
        var outcome = c.Difference.Minus(threshold).Verdict switch
        {
            DifferenceVerdict.Higher => CheckOutcome.Pass,
            DifferenceVerdict.Lower => CheckOutcome.Fail,
            _ => CheckOutcome.Undecided,
        };
        return new ThresholdCheck(name, c, outcome, $"≥ {PairedDifference.Signed(c.Scale * threshold, c.Digits)}{Unit(c)}");
    }

    /// <summary>Passes when A − B lies within ±<paramref name="margin"/>; fails when it lies wholly outside on one side.</summary>
    public static ThresholdCheck Within(string name, Comparison c, double margin)
    {
        if (!(margin > 0)) throw new ArgumentOutOfRangeException(nameof(margin), margin, "A margin must be positive.");
        var aboveLow = c.Difference.Minus(-margin).Verdict;
        var belowHigh = c.Difference.Minus(margin).Verdict;
        var outcome = aboveLow == DifferenceVerdict.Higher && belowHigh == DifferenceVerdict.Lower ? CheckOutcome.Pass
            : aboveLow == DifferenceVerdict.Lower || belowHigh == DifferenceVerdict.Higher ? CheckOutcome.Fail
            : CheckOutcome.Undecided;
        return new ThresholdCheck(name, c, outcome, $"within ±{(c.Scale * margin).ToString($"F{c.Digits}", System.Globalization.CultureInfo.InvariantCulture)}{Unit(c)}");
    }

    public bool Passed => Outcome == CheckOutcome.Pass;

    /// <summary>"check 1 [PASS] p-diff mean − originals' mean: +0.14 pt [−0.01, +0.28] over 3 seeds; required within ±1.00 pt (the whole interval)."</summary>
    public override string ToString() =>
        $"{Name} [{Outcome.ToString().ToUpperInvariant()}] {Comparison.Label}: {Comparison.Numbers}"
        + (Comparison.Difference.Count < 2 ? "" : $" over {Comparison.Difference.Count} seeds") + $"; required {Requirement} for the whole {100 * Comparison.Difference.Level:0} % interval"
        + (Outcome == CheckOutcome.Undecided ? (Comparison.Difference.Count < 2 ? " (one seed has no interval)" : " (the interval reaches across the threshold)") : "") + ".";

    static string Unit(Comparison c) => c.Unit.Length > 0 ? " " + c.Unit : "";
}
