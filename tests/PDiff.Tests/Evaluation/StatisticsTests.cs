using PDiff.Evaluation;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Evaluation;

public class StatisticsTests
{
    [Fact]
    public void StatsUsePopulationStdAndNumpyMedian()
    {
        var s = AccuracySummary.Of(new[] { 0.7, 0.9, 0.8, 0.5 });
        Assert.Equal(4, s.Count);
        Assert.Equal(0.725, s.Mean, 12);
        Assert.Equal(0.75, s.Median, 12);                             // mean of the two middle values
        Assert.Equal(Math.Sqrt(0.0875 / 4), s.Std, 12);               // Σ(x − 0.725)² = 0.0875, divided by n
        Assert.Equal(0.5, s.Min);
        Assert.Equal(0.9, s.Max);
        Assert.Equal(0.8, AccuracySummary.Of(new[] { 0.9, 0.1, 0.8 }).Median);
        Assert.Equal(0.0, AccuracySummary.Of(new[] { 0.3 }).Std);
        Assert.Throws<ArgumentException>(() => AccuracySummary.Of(Array.Empty<double>()));
    }

    [Fact]
    public void BestIsChosenOnTheLabelledSplit()
    {
        var val = new[] { 0.5, 0.9, 0.9, 0.7 };
        var test = new[] { 0.8, 0.6, 0.7, 0.95 };
        var onVal = BestPick.Choose(EvalSplit.Validation, val, test);
        Assert.Equal(new BestPick(EvalSplit.Validation, 1, 0.9, 0.6), onVal);      // tie 1/2 → lowest index; reports its test accuracy
        var onTest = BestPick.Choose(EvalSplit.Test, val, test);
        Assert.Equal(new BestPick(EvalSplit.Test, 3, 0.7, 0.95), onTest);
        var g = GroupSummary.From("generated", val, test);
        Assert.Equal(onVal, g.BestOnValidation);
        Assert.Equal(onTest, g.BestOnTest);
        Assert.Equal(0.7625, g.Test.Mean, 12);
        Assert.Throws<ArgumentException>(() => BestPick.Choose(EvalSplit.Test, val, test.Take(3).ToArray()));
    }

    [Fact]
    public void PaperTableHasBothSelectionLines()
    {
        var original = GroupSummary.From("original", new[] { 0.70, 0.72, 0.71 }, new[] { 0.74, 0.73, 0.76 });
        var generated = GroupSummary.From("generated", new[] { 0.80, 0.60, 0.75, 0.74 }, new[] { 0.70, 0.78, 0.77, 0.79 });
        var t = PaperTable.From("toy", original, 0.75, generated);
        var paper = t.Rows.Single(r => r.Statistic == "best" && r.SelectedOn == EvalSplit.Test);
        Assert.Equal((0.76, 0.75, 0.79), (paper.Original, paper.Ensemble, paper.Generated));
        var ours = t.Rows.Single(r => r.Statistic == "best" && r.SelectedOn == EvalSplit.Validation);
        Assert.Equal((0.73, 0.75, 0.70), (ours.Original, ours.Ensemble, ours.Generated));   // val picks originals[1], generated[0]
        var median = t.Rows.Single(r => r.Statistic == "median");
        Assert.Equal(0.775, median.Generated, 12);
        Assert.True(double.IsNaN(t.Rows.Single(r => r.Statistic == "std").Ensemble));
        Assert.Equal("76.0/75.0/79.0", t.Cell());
        Assert.Equal("73.0/75.0/70.0", t.Cell(EvalSplit.Validation));
    }

    [Fact]
    public void TableRendersAsCsvMarkdownAndPlainText()
    {
        var original = GroupSummary.From("original", new[] { 0.70, 0.72 }, new[] { 0.74, 0.73 });
        var t = PaperTable.From("toy", original, 0.7351, original);
        var csv = Csv.Parse(t.ToCsv());
        Assert.Equal(new[] { "statistic", "selected_on", "protocol", "original", "ensemble", "generated" }, csv.Header);
        Assert.Equal(6, csv.Rows.Count);
        Assert.Equal(new[] { "best", "test", "paper" }, csv.Rows[0].Take(3));
        Assert.Equal(0.7351, Csv.ParseDouble(csv.Rows[0][4]));                    // raw fraction, round trip
        Assert.Equal("", csv.Rows[4][4]);                                           // ensemble std: NaN → empty

        var md = t.ToMarkdown();
        Assert.Contains("| statistic | chosen on | protocol | original % | ensemble % | p-diff % |", md);
        Assert.Contains("| best | test | paper | 74.00 | 73.51 | 74.00 |", md);
        Assert.Contains("---:", md);

        var plain = t.ToPlain().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Header, rule and rows line up: every numeric column ends at the same character.
        var rule = plain[2];
        Assert.Matches("^-+( +-+)+$", rule);
        Assert.All(plain.Skip(3), line => Assert.True(line.Length <= rule.Length));
        Assert.EndsWith("74.00", plain[3]);
    }

    [Fact]
    public void GroupTableHasOneRowPerGroup()
    {
        var a = GroupSummary.From("original", new[] { 0.5, 0.6 }, new[] { 0.55, 0.65 });
        var b = GroupSummary.From("gaussian", new[] { 0.1 }, new[] { 0.2 });
        var t = GroupSummary.ToTable(new[] { a, b });
        var csv = Csv.Parse(t.ToCsv());
        Assert.Equal(2, csv.Rows.Count);
        var col = Array.IndexOf(csv.Header, "best_on_val_test_acc");
        Assert.Equal(0.65, Csv.ParseDouble(csv.Rows[0][col]));
        Assert.Equal("gaussian", csv.Rows[1][0]);
    }
}
