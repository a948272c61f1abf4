using System.Text.Json;
using Microsoft.Data.Analysis;
using PDiff.Zoo;

namespace PDiff.Evaluation;

/// <summary>
/// One line of the "original / ensemble / p-diff" table: test accuracies (fractions) of the originals,
/// the weight-averaged ensemble and the generated models under one statistic. <see cref="SelectedOn"/>
/// says which split chose the "best" model (null for mean / median / std / min, which choose nothing).
/// </summary>
public sealed record PaperTableRow(string Statistic, EvalSplit? SelectedOn, double Original, double Ensemble, double Generated)
{
    public string Label => SelectedOn switch
    {
        EvalSplit.Test => $"{Statistic}, chosen on test (paper)",
        EvalSplit.Validation => $"{Statistic}, chosen on validation (ours)",
        _ => Statistic,
    };
}

/// <summary>
/// Paper Table 1 (reference §4.3): "original" = best of the K originals, "ensemble" = the uniform weight
/// average of the K vectors scored as one model, "p-diff" = best of the generated models. The paper picks
/// "best" on the test set; we print that line and, under it, the same with "best" picked on validation,
/// then the mean / median / std / min over all models, which pick nothing. Values are test accuracies.
/// </summary>
public sealed record PaperTable(string Task, IReadOnlyList<PaperTableRow> Rows)
{
    public static PaperTable From(string task, GroupSummary original, double ensembleTestAccuracy, GroupSummary generated)
    {
        var e = ensembleTestAccuracy;
        return new PaperTable(task, new[]
        {
            new PaperTableRow("best", EvalSplit.Test, original.BestOnTest.TestAccuracy, e, generated.BestOnTest.TestAccuracy),
            new PaperTableRow("best", EvalSplit.Validation, original.BestOnValidation.TestAccuracy, e, generated.BestOnValidation.TestAccuracy),
            new PaperTableRow("mean", null, original.Test.Mean, e, generated.Test.Mean),
            new PaperTableRow("median", null, original.Test.Median, e, generated.Test.Median),
            // The ensemble is one model: it has no spread.
            new PaperTableRow("std", null, original.Test.Std, double.NaN, generated.Test.Std),
            new PaperTableRow("min", null, original.Test.Min, e, generated.Test.Min),
        });
    }

    /// <summary>The paper's cell, "original / ensemble / p-diff" in percent with one decimal, for a chosen line.</summary>
    public string Cell(EvalSplit selectedOn = EvalSplit.Test)
    {
        var r = Rows.First(x => x.Statistic == "best" && x.SelectedOn == selectedOn);
        return $"{100 * r.Original:F1}/{100 * r.Ensemble:F1}/{100 * r.Generated:F1}";
    }

    public TextTable ToTable()
    {
        var t = new TextTable($"{Task}: original / ensemble / p-diff (test accuracy)", new[]
        {
            TableColumn.Text("statistic"),
            TableColumn.Text("selected_on", "chosen on"),
            TableColumn.Text("protocol"),
            TableColumn.Percent("original", "original %"),
            TableColumn.Percent("ensemble", "ensemble %"),
            TableColumn.Percent("generated", "p-diff %"),
        });
        foreach (var r in Rows)
            t.Add(r.Statistic, r.SelectedOn?.ToString().ToLowerInvariant(),
                r.SelectedOn switch { EvalSplit.Test => "paper", EvalSplit.Validation => "ours", _ => null },
                r.Original, r.Ensemble, r.Generated);
        return t;
    }

    /// <summary>The table.csv columns: statistic, selected_on, protocol, original, ensemble, generated (fractions).</summary>
    public DataFrame ToDataFrame() => ToTable().ToDataFrame();

    public string ToCsv() => ToTable().ToCsv();
    public string ToMarkdown() => ToTable().ToMarkdown();
    public string ToPlain() => ToTable().ToPlain();
    public string ToJson() => JsonSerializer.Serialize(this, ResultsJson.Options);
    public static PaperTable FromJson(string json) =>
        JsonSerializer.Deserialize<PaperTable>(json, ResultsJson.Options) ?? throw new FormatException("The JSON holds no paper table (null).");

    public override string ToString() => ToPlain();
}
