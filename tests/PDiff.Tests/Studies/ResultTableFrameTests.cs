using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using PDiff.Studies;
using PDiff.Tests.Evaluation;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>The experiments' tables as DataFrames: the same columns as their Table / TextTable, full-precision values.</summary>
public class ResultTableFrameTests
{
    [Fact]
    public void AblationFrameHasTheTablesColumnsInPercent()
    {
        var rows = new[]
        {
            new AblationRow("K=1", 3, 0.87, 0.875, 0.872, 0.8712345, 0.869, 0.86, 0.861, 0.002),
            new AblationRow("K=10", 1, 0.87, 0.875, 0.872, 0.88, 0.87, 0.865, 0.866, 0),
        };
        var table = AblationRow.ToTable(rows, "t");
        var df = AblationRow.ToDataFrame(rows);
        Assert.Equal(table.Columns, df.Columns.Select(c => c.Name));
        Assert.Equal("K=10", df.Columns["setting"][1]);
        Assert.Equal(3, df.Columns["runs"][0]);
        Assert.Equal(100 * 0.8712345, (double)df.Columns["best_on_test"][0]!, 12);   // not rounded to the Table's two decimals
        var back = RoundTrip(df);
        Assert.Equal(df.Columns.Select(c => c.Name), back.Columns.Select(c => c.Name));
        Assert.Equal(df.Columns["mean"][1], back.Columns["mean"][1]);
    }

    [Fact]
    public void MainResultFrameMatchesItsTextTable()
    {
        var row = new MainResultRow("fashion-mnist × resnet18 × last-two-norms", 200, 3, 100,
            0.8751, 0.8712, 0.87, 0.8708, 0.8724, 0.8749, 0.001, 0.8733, 0.002, 0.8698, 0.0005, 0.8716, 0.0004);
        var df = MainResultRow.ToDataFrame(new[] { row });
        Assert.Equal(Csv.Parse(MainResultRow.ToTable(new[] { row }).ToCsv()).Header, df.Columns.Select(c => c.Name));
        Assert.Equal(row.PaperCell, df.Columns["paper_cell"][0]);
        Assert.Equal(0.8698, df.Columns["pdiff_mean"][0]);
        Assert.Equal("3×100", df.Columns["runs"][0]);
        var all = Tables.ToDataFrame(new[] { row });                                  // every field and both cells, typed
        Assert.Equal(17 + 2, all.Columns.Count);
        Assert.Equal(row.HonestCell, all.Columns["HonestCell"][0]);
        Assert.IsType<Int32DataFrameColumn>(all.Columns["K"]);
    }

    [Fact]
    public void MemorizationFramesMatchTheirTables()
    {
        using var p = new LinearProblem();
        using var originals = p.Originals(8);
        using var generated = originals.narrow(0, 0, 3).add(0.01);
        var options = new EvaluationOptions { Baselines = BaselineOptions.None, Pca = false, Tsne = false };
        using var report = new Evaluator(p, options).Evaluate(originals, generated, task: "toy");

        var table = MemorizationCharts.GroupTable(report);
        var df = MemorizationCharts.GroupDataFrame(report);
        Assert.Equal(table.Columns, df.Columns.Select(c => c.Name));
        Assert.Equal(report.Groups.Count, (int)df.Rows.Count);
        Assert.Equal(MemorizationCharts.Label(Evaluator.Generated), df.Columns["Group"][1]);
        Assert.Null(df.Columns["IouWithin"][2]);                                      // the ensemble is one model: no within-group IoU
        Assert.Equal(100 * report.ModelsOf(Evaluator.Original).Average(m => m.TestAcc), (double)df.Columns["TestMeanPct"][0]!, 12);

        var sim = MemorizationCharts.SimilarityVersusPaperDataFrame(report);
        Assert.Equal(MemorizationCharts.SimilarityVersusPaper(report).Columns, sim.Columns.Select(c => c.Name));
        Assert.Equal(report.Similarity.OriginOrigin, sim.Columns["Ours"][0]);
        Assert.Equal(report.Similarity.Groups.Count, (int)report.Similarity.ToDataFrame().Rows.Count);
    }

    static DataFrame RoundTrip(DataFrame df)
    {
        var path = Path.Combine(Path.GetTempPath(), $"pdiff-frame-{Guid.NewGuid():N}.csv");
        try
        {
            Tables.SaveCsv(df, path);
            return Tables.LoadCsv(path);
        }
        finally { File.Delete(path); }
    }
}
