using System.Globalization;
using System.Text;

namespace PDiff.Evaluation;

/// <summary>
/// RFC 4180 CSV: invariant culture, doubles in round-trip form ("R"), NaN as an empty cell, fields
/// quoted only when they hold a comma, quote or line break. Reading gives back what was written.
/// </summary>
public static class Csv
{
    public static string Format(object? v) => v switch
    {
        null => "",
        double d when double.IsNaN(d) => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f when float.IsNaN(f) => "",
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    public static string Quote(string s) =>
        s.IndexOfAny(new[] { ',', '"', '\n', '\r' }) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";

    public static string Line(IEnumerable<string> fields) => string.Join(",", fields.Select(Quote));

    /// <summary>Parses CSV text into its header and rows (quoted fields may span lines).</summary>
    public static (string[] Header, List<string[]> Rows) Parse(string text)
    {
        var records = new List<string[]>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false, any = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
                continue;
            }
            switch (c)
            {
                case '"': quoted = true; any = true; break;
                case ',': fields.Add(field.ToString()); field.Clear(); any = true; break;
                case '\r': break;
                case '\n': EndRecord(); break;
                default: field.Append(c); any = true; break;
            }
        }
        if (quoted) throw new FormatException("CSV ends inside a quoted field (an unmatched '\"').");
        EndRecord();
        if (records.Count == 0) throw new FormatException("CSV text is empty: no header row.");
        var header = records[0];
        for (var r = 1; r < records.Count; r++)
            if (records[r].Length != header.Length)
                throw new FormatException($"CSV row {r + 1} has {records[r].Length} fields; the header has {header.Length}.");
        return (header, records.Skip(1).ToList());

        void EndRecord()
        {
            if (!any && fields.Count == 0 && field.Length == 0) return;   // blank line
            fields.Add(field.ToString());
            records.Add(fields.ToArray());
            fields.Clear(); field.Clear(); any = false;
        }
    }

    public static (string[] Header, List<string[]> Rows) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No CSV file at '{path}'.", path);
        return Parse(File.ReadAllText(path));
    }

    /// <summary>A numeric cell as written by <see cref="Format"/> (empty = NaN).</summary>
    public static double ParseDouble(string s) =>
        s.Length == 0 ? double.NaN : double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
}
