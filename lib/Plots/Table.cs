using System.Collections;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;

namespace PDiff.Plots;

/// <summary>
/// A result table for notebooks and reports: rows of typed records (or anonymous objects) in, HTML and
/// aligned plain text out (also Markdown and CSV). Columns are the public properties and fields, in
/// declaration order. Numbers are formatted invariantly: "0.####" in the usual range, scientific outside
/// it, or a format you give (e.g. "F4"); numeric columns are right-aligned.
/// </summary>
public sealed class Table
{
    public string? Title { get; }
    public IReadOnlyList<string> Columns { get; }
    public IReadOnlyList<IReadOnlyList<string>> Rows { get; }
    readonly bool[] _numeric;

    public Table(IEnumerable<string> columns, IEnumerable<IEnumerable<object?>> rows, string? title = null, string? numberFormat = null)
    {
        Title = title;
        Columns = columns.ToArray();
        _numeric = Enumerable.Repeat(true, Columns.Count).ToArray();
        var seenValue = new bool[Columns.Count];
        var list = new List<IReadOnlyList<string>>();
        foreach (var row in rows)
        {
            var values = row.ToArray();
            if (values.Length != Columns.Count)
                throw new ArgumentException($"Table row {list.Count} has {values.Length} cells but there are {Columns.Count} columns ({string.Join(", ", Columns)}).", nameof(rows));
            for (var j = 0; j < values.Length; j++)
                if (values[j] != null)
                {
                    seenValue[j] = true;
                    _numeric[j] &= IsNumber(values[j]!);
                }
            list.Add(values.Select(v => Format(v, numberFormat)).ToArray());
        }
        for (var j = 0; j < _numeric.Length; j++) _numeric[j] &= seenValue[j];
        Rows = list;
    }

    /// <summary>A table with one row per item; columns from <typeparamref name="T"/>'s public properties and fields.</summary>
    public static Table From<T>(IEnumerable<T> rows, string? title = null, string? numberFormat = null)
    {
        var type = typeof(T);
        if (type == typeof(object))
            throw new ArgumentException("Table.From needs a concrete row type (a record or anonymous type), not object.", nameof(rows));
        if (IsScalar(type))
            return new Table(new[] { "value" }, rows.Select(r => new object?[] { r }), title, numberFormat);
        var members = type.GetMembers(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m is PropertyInfo { CanRead: true } p && p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract" || m is FieldInfo)
            .OrderBy(m => m.MetadataToken) // declaration order
            .ToArray();
        if (members.Length == 0)
            throw new ArgumentException($"Table.From: {type.Name} has no public properties or fields to show as columns.", nameof(rows));
        return new Table(members.Select(m => m.Name),
            rows.Select(r => members.Select(m => r == null ? null : m switch
            {
                PropertyInfo p => p.GetValue(r),
                FieldInfo f => f.GetValue(r),
                _ => null,
            })),
            title, numberFormat);
    }

    public string ToHtml()
    {
        var sb = new StringBuilder("<table class=\"pdiff-table\">\n");
        if (Title != null) sb.Append($"<caption>{Enc(Title)}</caption>\n");
        sb.Append("<thead><tr>");
        foreach (var c in Columns) sb.Append($"<th>{Enc(c)}</th>");
        sb.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in Rows)
        {
            sb.Append("<tr>");
            for (var j = 0; j < row.Count; j++)
                sb.Append(_numeric[j] ? $"<td style=\"text-align:right\">{Enc(row[j])}</td>" : $"<td>{Enc(row[j])}</td>");
            sb.Append("</tr>\n");
        }
        return sb.Append("</tbody>\n</table>").ToString();
    }

    /// <summary>Columns padded to a common width, a dashed rule under the header.</summary>
    public string ToText()
    {
        var widths = Columns.Select((c, j) => Rows.Select(r => r[j].Length).Append(c.Length).Max()).ToArray();
        var sb = new StringBuilder();
        if (Title != null) sb.Append(Title).Append('\n');
        sb.Append(Line(Columns)).Append('\n');
        sb.Append(string.Join("  ", widths.Select(w => new string('-', w)))).Append('\n');
        foreach (var row in Rows) sb.Append(Line(row)).Append('\n');
        return sb.ToString();

        string Line(IReadOnlyList<string> cells) =>
            string.Join("  ", cells.Select((s, j) => _numeric[j] ? s.PadLeft(widths[j]) : s.PadRight(widths[j]))).TrimEnd();
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append("| ").Append(string.Join(" | ", Columns.Select(Md))).Append(" |\n");
        sb.Append('|').Append(string.Join("|", _numeric.Select(n => n ? " ---: " : " --- "))).Append("|\n");
        foreach (var row in Rows) sb.Append("| ").Append(string.Join(" | ", row.Select(Md))).Append(" |\n");
        return sb.ToString();

        static string Md(string s) => s.Replace("|", "\\|").Replace("\n", " ");
    }

    /// <summary>RFC 4180 CSV (quotes only where needed), header first.</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(",", Columns.Select(Csv))).Append('\n');
        foreach (var row in Rows) sb.Append(string.Join(",", row.Select(Csv))).Append('\n');
        return sb.ToString();

        static string Csv(string s) => s.IndexOfAny(new[] { ',', '"', '\n', '\r' }) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }

    public override string ToString() => ToText();

    static string Enc(string s) => WebUtility.HtmlEncode(s);

    static bool IsScalar(Type t) => t.IsPrimitive || t == typeof(string) || t == typeof(decimal) || t.IsEnum ||
                                    Nullable.GetUnderlyingType(t) is { } u && IsScalar(u);

    static bool IsNumber(object v) => v is double or float or decimal or int or long or short or byte or uint or ulong or ushort or sbyte;

    internal static string Format(object? v, string? numberFormat) => v switch
    {
        null => "",
        double d => FormatReal(d, numberFormat),
        float f => FormatReal(f, numberFormat),
        decimal m => numberFormat != null ? m.ToString(numberFormat, CultureInfo.InvariantCulture) : m.ToString(CultureInfo.InvariantCulture),
        IFormattable x when IsNumber(x) => x.ToString(null, CultureInfo.InvariantCulture),
        string s => s,
        IEnumerable e => "[" + string.Join(", ", e.Cast<object?>().Select(x => Format(x, numberFormat))) + "]",
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    static string FormatReal(double d, string? format)
    {
        if (double.IsNaN(d)) return "NaN";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (format != null) return d.ToString(format, CultureInfo.InvariantCulture);
        var a = Math.Abs(d);
        return a == 0 || (a >= 1e-3 && a < 1e7)
            ? d.ToString("0.####", CultureInfo.InvariantCulture)
            : d.ToString("0.###e+0", CultureInfo.InvariantCulture);
    }
}
