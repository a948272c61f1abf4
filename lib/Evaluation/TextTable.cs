using System.Globalization;
using System.Text;
using Microsoft.Data.Analysis;

namespace PDiff.Evaluation;

/// <summary>
/// One column of a <see cref="TextTable"/>: <paramref name="Name"/> heads the CSV (machine names,
/// snake_case); <paramref name="Label"/> heads the console / markdown rendering, where numbers are
/// multiplied by <paramref name="Scale"/> and printed with <paramref name="Format"/> (e.g. accuracy
/// fractions shown as percentages). CSV always keeps the raw value, round-trippable.
/// </summary>
public sealed record TableColumn(string Name, string? Label = null, string Format = "G6", double Scale = 1)
{
    public string Header => Label ?? Name;

    public static TableColumn Text(string name, string? label = null) => new(name, label);
    /// <summary>An accuracy fraction in [0, 1], shown as a percentage with two decimals.</summary>
    public static TableColumn Percent(string name, string? label = null) => new(name, label, "F2", 100);
    public static TableColumn Number(string name, string? label = null, string format = "F4") => new(name, label, format);
}

/// <summary>
/// A small typed-enough table (cells are strings, numbers or null) that renders to CSV, GitHub markdown
/// and an aligned plain-text grid for consoles. Results records build one of these to show themselves;
/// <see cref="ToDataFrame"/> gives the same cells as a DataFrame, which is also what the CSV is written from.
/// </summary>
public sealed class TextTable
{
    readonly List<object?[]> rows = new();

    public TextTable(string title, IReadOnlyList<TableColumn> columns)
    {
        if (columns.Count == 0) throw new ArgumentException("A table needs at least one column.", nameof(columns));
        (Title, Columns) = (title, columns);
    }

    public string Title { get; }
    public IReadOnlyList<TableColumn> Columns { get; }
    public IReadOnlyList<object?[]> Rows => rows;

    public TextTable Add(params object?[] cells)
    {
        if (cells.Length != Columns.Count)
            throw new ArgumentException($"Table '{Title}' has {Columns.Count} columns ({string.Join(", ", Columns.Select(c => c.Name))}); a row gave {cells.Length} cells.");
        rows.Add(cells);
        return this;
    }

    /// <summary>The cells under their CSV names, one typed column each (<see cref="Tables.ToDataFrame(TextTable)"/>).</summary>
    public DataFrame ToDataFrame() => Tables.ToDataFrame(this);

    public string ToCsv() => Tables.ToCsv(ToDataFrame());

    public string ToMarkdown()
    {
        var cells = Display();
        var sb = new StringBuilder();
        if (Title.Length > 0) sb.Append("**").Append(Title).AppendLine("**").AppendLine();
        sb.Append("| ").Append(string.Join(" | ", Columns.Select(c => Escape(c.Header)))).AppendLine(" |");
        sb.Append('|').Append(string.Join("|", Columns.Select((c, j) => IsNumeric(j) ? " ---: " : " --- "))).AppendLine("|");
        foreach (var r in cells) sb.Append("| ").Append(string.Join(" | ", r.Select(Escape))).AppendLine(" |");
        return sb.ToString();

        static string Escape(string s) => s.Replace("|", "\\|");
    }

    /// <summary>Columns padded to their widest cell; numbers right-aligned.</summary>
    public string ToPlain()
    {
        var cells = Display();
        var widths = Columns.Select((c, j) => Math.Max(c.Header.Length, cells.Count == 0 ? 0 : cells.Max(r => r[j].Length))).ToArray();
        var sb = new StringBuilder();
        if (Title.Length > 0) sb.AppendLine(Title);
        sb.AppendLine(string.Join("  ", Columns.Select((c, j) => Pad(c.Header, widths[j], IsNumeric(j)))).TrimEnd());
        sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var r in cells) sb.AppendLine(string.Join("  ", r.Select((s, j) => Pad(s, widths[j], IsNumeric(j)))).TrimEnd());
        return sb.ToString();

        static string Pad(string s, int w, bool right) => right ? s.PadLeft(w) : s.PadRight(w);
    }

    public override string ToString() => ToPlain();

    bool IsNumeric(int j) => rows.Count > 0 && rows.All(r => r[j] is null || IsNumber(r[j]));

    static bool IsNumber(object? o) => o is double or float or int or long or decimal;

    List<string[]> Display() => rows.Select(r => r.Select((v, j) => DisplayCell(v, Columns[j])).ToArray()).ToList();

    static string DisplayCell(object? v, TableColumn c) => v switch
    {
        null => "–",
        double d when double.IsNaN(d) => "–",
        double d => (d * c.Scale).ToString(c.Format, CultureInfo.InvariantCulture),
        float f => ((double)f * c.Scale).ToString(c.Format, CultureInfo.InvariantCulture),
        int or long => Convert.ToString(v, CultureInfo.InvariantCulture)!,
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };
}
