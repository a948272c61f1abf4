using System.Globalization;
using Microsoft.Data.Analysis;
using PDiff.Evaluation;
using Xunit;

namespace PDiff.Tests.Evaluation;

/// <summary>
/// Results tables as DataFrames: the columns keep the CSV names, the values keep their types, and a frame
/// written with <see cref="Tables.SaveCsv"/> (through DataFrame.SaveCsv) reads back with the same names and
/// values, in the CSV text the results folders have always held.
/// </summary>
public class DataFrameTests
{
    static TextTable Awkward()
    {
        var t = new TextTable("x", new[] { TableColumn.Text("name"), TableColumn.Number("value"), new TableColumn("n"), new TableColumn("flag") });
        t.Add("plain", 0.1 + 0.2, 3, true);
        t.Add("comma, \"quoted\"\nand a line break", double.NaN, -1, false);
        t.Add(null, 1e-300, long.MaxValue, null);
        return t;
    }

    static object?[] Values(DataFrameColumn c) => Enumerable.Range(0, (int)c.Length).Select(i => c[i]).ToArray();

    /// <summary>Numbers compared as doubles (a guessed column may read back as int where it was long), text as itself.</summary>
    static object? Num(object? v) => v is IConvertible c and not string ? c.ToDouble(CultureInfo.InvariantCulture) : v;

    [Fact]
    public void TextTableBecomesTypedColumnsUnderItsCsvNames()
    {
        var df = Awkward().ToDataFrame();
        Assert.Equal(new[] { "name", "value", "n", "flag" }, df.Columns.Select(c => c.Name));
        Assert.IsType<StringDataFrameColumn>(df.Columns["name"]);
        Assert.IsType<DoubleDataFrameColumn>(df.Columns["value"]);
        Assert.IsType<Int64DataFrameColumn>(df.Columns["n"]);          // int and long cells widen to long
        Assert.IsType<BooleanDataFrameColumn>(df.Columns["flag"]);
        Assert.Equal(new object?[] { 0.1 + 0.2, null, 1e-300 }, Values(df.Columns["value"]));   // NaN = not defined → missing
        Assert.Equal(new object?[] { 3L, -1L, long.MaxValue }, Values(df.Columns["n"]));
        Assert.Null(df.Columns["name"][2]);
    }

    [Fact]
    public void CsvTextIsTheResultsFoldersFormat()
    {
        // Shortest round-trip doubles, NaN and null as empty cells, lower-case bools, RFC 4180 quoting.
        var expected = string.Join(Environment.NewLine,
            "name,value,n,flag",
            "plain,0.30000000000000004,3,true",
            "\"comma, \"\"quoted\"\"\nand a line break\",,-1,false",
            ",1E-300,9223372036854775807,",
            "");
        Assert.Equal(expected, Awkward().ToCsv());
        Assert.Equal(expected, Tables.ToCsv(Awkward().ToDataFrame()));
        Assert.Equal("a" + Environment.NewLine + "0.8751" + Environment.NewLine, Tables.ToCsv(new DataFrame(new DoubleDataFrameColumn("a", new[] { 0.8751 }))));
    }

    [Fact]
    public void ValuesAndColumnNamesRoundTripThroughACsvFile()
    {
        var dir = Directory.CreateTempSubdirectory("pdiff-df").FullName;
        try
        {
            var df = Awkward().ToDataFrame();
            var path = Path.Combine(dir, "t.csv");
            Tables.SaveCsv(df, path);
            Assert.NotEqual(0xEF, File.ReadAllBytes(path)[0]);   // UTF-8 without BOM, as File.WriteAllText
            var back = Tables.LoadCsv(path);
            Assert.Equal(df.Columns.Select(c => c.Name), back.Columns.Select(c => c.Name));
            foreach (var c in df.Columns) Assert.Equal(Values(c), Values(back.Columns[c.Name]));
            Assert.Equal(Awkward().ToCsv(), File.ReadAllText(path));
        }
        finally { Directory.Delete(dir, true); }
    }

    sealed record Row(string Name, int Index, double Acc, float Loss, ulong Seed, bool Kept, int[] Sources, double? Optional);

    [Fact]
    public void RecordsBecomeColumnsOfTheirDeclaredTypes()
    {
        var rows = new[]
        {
            new Row("a", 0, 0.875, 1.5f, ulong.MaxValue, true, new[] { 1, 2 }, null),
            new Row("b", 1, double.NaN, 0.25f, 7, false, Array.Empty<int>(), 2.5),
        };
        var df = Tables.ToDataFrame(rows);
        Assert.Equal(new[] { "Name", "Index", "Acc", "Loss", "Seed", "Kept", "Sources", "Optional" }, df.Columns.Select(c => c.Name));
        Assert.IsType<Int32DataFrameColumn>(df.Columns["Index"]);
        Assert.IsType<SingleDataFrameColumn>(df.Columns["Loss"]);
        Assert.IsType<UInt64DataFrameColumn>(df.Columns["Seed"]);
        Assert.IsType<DoubleDataFrameColumn>(df.Columns["Optional"]);
        Assert.Equal(new object?[] { 0.875, null }, Values(df.Columns["Acc"]));
        Assert.Equal(new object?[] { "1;2", "" }, Values(df.Columns["Sources"]));
        Assert.Equal(new object?[] { null, 2.5 }, Values(df.Columns["Optional"]));

        var back = DataFrame.LoadCsvFromString(Tables.ToCsv(df), dataTypes: df.Columns.Select(c => c.DataType).ToArray(),
            cultureInfo: CultureInfo.InvariantCulture);
        Assert.Equal(df.Columns.Select(c => c.Name), back.Columns.Select(c => c.Name));
        foreach (var name in new[] { "Name", "Index", "Acc", "Loss", "Seed", "Kept", "Optional" })
            Assert.Equal(Values(df.Columns[name]), Values(back.Columns[name]));

        var anon = Tables.ToDataFrame(new[] { new { setting = "K=1", mean = 87.5 } });
        Assert.Equal(new[] { "setting", "mean" }, anon.Columns.Select(c => c.Name));
        Assert.Throws<ArgumentException>(() => Tables.ToDataFrame(new object[] { 1 }));
    }

    [Fact]
    public void PaperTableFrameMatchesTableCsv()
    {
        var o = GroupSummary.From("original", new[] { 0.70, 0.72 }, new[] { 0.74, 0.73 });
        var t = PaperTable.From("toy", o, 0.7351, o);
        var df = t.ToDataFrame();
        Assert.Equal(Csv.Parse(t.ToCsv()).Header, df.Columns.Select(c => c.Name));
        Assert.Equal(0.7351, df.Columns["ensemble"][0]);
        Assert.Null(df.Columns["ensemble"][4]);                              // the ensemble has no std
        Assert.Null(df.Columns["selected_on"][2]);                           // mean chooses nothing
        var g = GroupSummary.ToDataFrame(new[] { o });
        Assert.Equal(0.74, g.Columns["best_on_test_test_acc"][0]);
        Assert.Equal(0, g.Columns["best_on_test_index"][0]);
    }

    [Fact]
    public void LargeTablesAreWrittenInBlocksWithOneHeader()
    {
        var n = 1300;
        var df = new DataFrame(new Int32DataFrameColumn("i", Enumerable.Range(0, n)), new DoubleDataFrameColumn("x", Enumerable.Range(0, n).Select(i => i / 7.0)));
        var (header, rows) = Csv.Parse(Tables.ToCsv(df));
        Assert.Equal(new[] { "i", "x" }, header);
        Assert.Equal(n, rows.Count);
        for (var i = 0; i < n; i++) Assert.Equal(i / 7.0, Csv.ParseDouble(rows[i][1]));
        Assert.Equal("i,x" + Environment.NewLine, Tables.ToCsv(new DataFrame(new Int32DataFrameColumn("i", 0), new DoubleDataFrameColumn("x", 0))));
        Assert.Equal("x" + Environment.NewLine + "0.142857" + Environment.NewLine,
            Tables.ToCsv(new DataFrame(new DoubleDataFrameColumn("x", new[] { 1 / 7.0 })), doubleFormat: "0.######"));
    }

    [Fact]
    public void CultureAndLoneCarriageReturnsDoNotBreakTheFile()
    {
        var before = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = new CultureInfo("de-DE");   // decimal comma: SaveCsv alone would refuse it
            var text = Tables.ToCsv(new DataFrame(new DoubleDataFrameColumn("x", new[] { 1.5 }), new StringDataFrameColumn("s", new[] { "a\rb" })));
            var (_, rows) = Csv.Parse(text);
            Assert.Equal("1.5", rows[0][0]);
            Assert.Equal("a\nb", rows[0][1]);                             // one cell, not a broken row
        }
        finally { CultureInfo.CurrentCulture = before; }
        Assert.Throws<ArgumentException>(() => new TextTable("dup", new[] { new TableColumn("a"), new TableColumn("a") }).ToDataFrame());
    }

    [Fact]
    public void ReportFramesAreTheCsvFilesItWrites()
    {
        using var p = new LinearProblem();
        using var originals = p.Originals(10);
        using var generated = originals.narrow(0, 0, 4).add(0.01);
        var options = new EvaluationOptions
        {
            Baselines = BaselineOptions.None with { GaussianCount = 3 },
            TsneOptions = new TsneOptions { Perplexity = 4, Iterations = 100 },
        };
        using var report = new Evaluator(p, options).Evaluate(originals, generated, task: "frames");
        var frames = report.ToDataFrames();
        Assert.Equal(new[] { "table.csv", "groups.csv", "scores.csv", "iou_matrix.csv", "novelty.csv", "novelty_histogram.csv", "embedding_pca.csv", "embedding_tsne.csv" },
            frames.Keys);
        var scores = frames["scores.csv"];
        Assert.Equal(report.Models.Select(m => (object?)m.TestAcc), Values(scores.Columns["test_acc"]));
        Assert.Equal(report.Models.Count + 1, frames["iou_matrix.csv"].Columns.Count);

        var dir = Directory.CreateTempSubdirectory("pdiff-df-report").FullName;
        try
        {
            report.Write(dir);
            foreach (var (file, frame) in frames.Where(f => f.Key != EvaluationReport.IouMatrixFile))
                Assert.Equal(Tables.ToCsv(frame), File.ReadAllText(Path.Combine(dir, file)));
            var back = Tables.LoadCsv(Path.Combine(dir, "scores.csv"));
            Assert.Equal(scores.Columns.Select(c => c.Name), back.Columns.Select(c => c.Name));
            foreach (var name in new[] { "group", "index", "val_acc", "test_acc", "max_iou_to_originals", "min_l2_to_originals", "nearest_original" })
                Assert.Equal(Values(scores.Columns[name]).Select(Num), Values(back.Columns[name]).Select(Num));
            var iou = Tables.LoadCsv(Path.Combine(dir, EvaluationReport.IouMatrixFile));
            Assert.Equal(frames["iou_matrix.csv"].Columns.Select(c => c.Name), iou.Columns.Select(c => c.Name));
            Assert.Equal(report.Iou[1, 2], (double)Num(iou.Columns[3][1])!, tolerance: 1e-6);   // six decimals in the file
        }
        finally { Directory.Delete(dir, true); }
    }
}
