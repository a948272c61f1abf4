using Microsoft.Data.Analysis;
using PDiff.Data;
using PDiff.Zoo;

namespace PDiff.Evaluation;

/// <summary>
/// The distribution of a group's accuracies (fractions in [0, 1]) on one split. Std is the population
/// std (divide by n), as numpy's default that p-diff's evaluate.py reports; the median of an even count
/// is the mean of the two middle values (numpy), not the lower one (torch.median).
/// </summary>
public sealed record AccuracySummary(int Count, double Mean, double Median, double Std, double Min, double Max)
{
    public static AccuracySummary Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("Accuracy statistics of an empty group: every group needs at least one scored model.", nameof(values));
        foreach (var v in values)
            if (double.IsNaN(v)) throw new ArgumentException("An accuracy is NaN: the scorer returned an invalid value.", nameof(values));
        var mean = Statistics.Mean(values);
        var sorted = values.OrderBy(v => v).ToArray();
        return new AccuracySummary(values.Count, mean, Statistics.Median(sorted), Statistics.PopulationStd(values, mean), sorted[0], sorted[^1]);
    }
}

/// <summary>
/// The "best" model of a group, labelled with the split that chose it. Both accuracies of the chosen
/// model are kept; what a table reports is <see cref="TestAccuracy"/>. Choosing on validation is our
/// honest line; choosing on test is the paper's (reference §4.3, §8-1), which is optimistic.
/// </summary>
public sealed record BestPick(EvalSplit SelectedOn, int Index, double ValidationAccuracy, double TestAccuracy)
{
    /// <summary>Arg-max of the selection split; ties go to the lowest index so the choice is reproducible.</summary>
    public static BestPick Choose(EvalSplit on, IReadOnlyList<double> validation, IReadOnlyList<double> test)
    {
        if (validation.Count != test.Count)
            throw new ArgumentException($"{validation.Count} validation accuracies but {test.Count} test accuracies: both splits must score the same models.");
        if (validation.Count == 0) throw new ArgumentException("Cannot choose the best of an empty group.");
        var by = on == EvalSplit.Validation ? validation : test;
        var best = 0;
        for (var i = 1; i < by.Count; i++) if (by[i] > by[best]) best = i;
        return new BestPick(on, best, validation[best], test[best]);
    }
}

/// <summary>One group's accuracies on both splits and its best model chosen both ways.</summary>
public sealed record GroupSummary(
    string Group, int Count, AccuracySummary Validation, AccuracySummary Test, BestPick BestOnValidation, BestPick BestOnTest)
{
    public static GroupSummary From(string group, IReadOnlyList<double> validation, IReadOnlyList<double> test) =>
        new(group, test.Count, AccuracySummary.Of(validation), AccuracySummary.Of(test),
            BestPick.Choose(EvalSplit.Validation, validation, test), BestPick.Choose(EvalSplit.Test, validation, test));

    /// <summary>One row per group: counts, test mean / median / std / min, both "best" lines, validation mean.</summary>
    public static TextTable ToTable(IEnumerable<GroupSummary> groups)
    {
        var t = new TextTable("Accuracy by group (test split unless labelled)", new[]
        {
            TableColumn.Text("group"),
            new TableColumn("count"),
            TableColumn.Percent("val_mean", "val mean %"),
            TableColumn.Percent("test_mean", "mean %"),
            TableColumn.Percent("test_median", "median %"),
            new TableColumn("test_std", "std %", "F3", 100),
            TableColumn.Percent("test_min", "min %"),
            TableColumn.Percent("test_max", "max %"),
            TableColumn.Percent("best_on_val_test_acc", "best (chosen on val) %"),
            TableColumn.Percent("best_on_test_test_acc", "best (chosen on test) %"),
            new TableColumn("best_on_val_index", "best-val idx"),
            new TableColumn("best_on_test_index", "best-test idx"),
        });
        foreach (var g in groups)
            t.Add(g.Group, g.Count, g.Validation.Mean, g.Test.Mean, g.Test.Median, g.Test.Std, g.Test.Min, g.Test.Max,
                g.BestOnValidation.TestAccuracy, g.BestOnTest.TestAccuracy, g.BestOnValidation.Index, g.BestOnTest.Index);
        return t;
    }

    /// <summary>The groups.csv columns of <see cref="ToTable"/>, accuracies as fractions.</summary>
    public static DataFrame ToDataFrame(IEnumerable<GroupSummary> groups) => ToTable(groups).ToDataFrame();
}
