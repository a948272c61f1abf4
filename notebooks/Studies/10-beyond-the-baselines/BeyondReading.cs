using System.Globalization;

namespace PDiff.Studies;

/// <summary>
/// Notebook 10's reading, every line from the report's verdicts: the family it states, each candidate's accuracy
/// comparisons with what they conclude, plain p-diff's for reference, and which candidates (if any) beat both baselines.
/// </summary>
public static class BeyondReading
{
    public static IEnumerable<string> Lines(BeyondReport report)
    {
        yield return $"Over {report.Seeds.Count} seed(s); {report.Seeds[0].Group(BeyondBaselines.PDiffGroup).Count} models a group.";
        yield return report.Family.Statement();
        foreach (var c in BeyondBaselines.Candidates.Where(report.Groups.Contains))
        {
            yield return $"- {BeyondBaselines.Label(c)} ({Pct(report.Over(c, x => x.TestMean).Mean)} % mean test accuracy):";
            foreach (var v in report.Verdicts.Where(v => v.Candidate == c))
                yield return $"    {report.Family.Sentence(v.Accuracy)} → {v.Conclusion}.";
        }
        yield return "- plain p-diff, for reference:";
        foreach (var v in report.Verdicts.Where(v => v.Candidate == BeyondBaselines.PDiffGroup))
            yield return $"    {report.Family.Sentence(v.Accuracy)}";
        yield return Conclusion(report);
    }

    /// <summary>Which candidates beat both baselines, or that none does (and which single baselines were beaten).</summary>
    public static string Conclusion(BeyondReport report)
    {
        var average = BeyondBaselines.Name(report.AverageGroup);
        var winners = report.Winners;
        if (winners.Count > 0)
            return $"Reading: {string.Join(" and ", winners.Select(BeyondBaselines.Name))} beat{(winners.Count == 1 ? "s" : "")} both {average} and the per-coordinate Gaussian "
                + $"over {report.Seeds.Count} seeds: mean test accuracy higher (Holm) and no novelty interval closer to the originals.";
        var single = report.Verdicts.Where(v => v.Beats && BeyondBaselines.Candidates.Contains(v.Candidate)).ToList();
        return $"Reading: no candidate beats both {average} and the per-coordinate Gaussian over {report.Seeds.Count} seed(s): none has the Holm verdict "
            + "\"higher\" in mean test accuracy against both with no novelty interval closer to the originals."
            + (single.Count > 0 ? $" Single baselines beaten: {string.Join("; ", single.Select(v => $"{BeyondBaselines.Name(v.Candidate)} beats {BeyondBaselines.Name(v.Baseline)}"))}." : "");
    }

    static string Pct(double v) => (100 * v).ToString("F2", CultureInfo.InvariantCulture);
}
