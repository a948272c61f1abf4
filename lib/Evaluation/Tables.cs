using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.Data.Analysis;

namespace PDiff.Evaluation;

/// <summary>
/// Results tables as <see cref="DataFrame"/>s (Microsoft.Data.Analysis; the .NET Interactive kernel shows
/// them as HTML) and their CSV files, written through <see cref="DataFrame.SaveCsv(DataFrame, Stream, char, bool, Encoding, CultureInfo)"/>.
/// <para>
/// Column names are the CSV headers (snake_case machine names). Numbers keep their raw values: accuracy
/// fractions stay fractions (a <see cref="TextTable"/>'s percent scaling is for display only). NaN, which in
/// these tables means "not defined" (the ensemble's std, the within-group IoU of a one-model group), becomes a
/// missing value (null); CSV writes a missing value as an empty cell and <see cref="LoadCsv"/> reads an empty
/// cell back as missing, whatever the column's type (CSV cannot tell an empty string from a missing one).
/// </para>
/// <para>
/// The CSV text is what <see cref="Csv"/> has always written (results/ and the notebooks read it): doubles
/// in shortest round-trip form, invariant culture, UTF-8 without BOM, RFC 4180 quoting. SaveCsv by itself
/// would print doubles with 17 digits (0.8751 → 0.87509999999999999), NaN as "NaN", bools as "True", in ASCII,
/// and would refuse a culture whose decimal separator is a comma; so cells are formatted here first and
/// SaveCsv writes the text, a block of rows at a time.
/// </para>
/// </summary>
public static class Tables
{
    /// <summary>Rows handed to SaveCsv at a time: bounds the formatted copy of a large table (the IoU matrix).</summary>
    const int RowsPerBlock = 512;

    static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

    /// <summary>The table's cells under its CSV column names (<see cref="TableColumn.Name"/>), one typed column each.</summary>
    public static DataFrame ToDataFrame(TextTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        CheckNames(table.Columns.Select(c => c.Name).ToList(), $"table '{table.Title}'");
        return new DataFrame(table.Columns.Select((c, j) => Column(c.Name, table.Rows.Select(r => r[j]).ToList(), null)));
    }

    /// <summary>
    /// One row per item, one column per public property or field of <typeparamref name="T"/> in declaration
    /// order (a record or an anonymous type), as <c>PDiff.Plots.Table.From</c> lays them out. A column's type
    /// follows the member's declared type (double, int, long, bool, …; nullable ones allow missing values);
    /// sequences (e.g. an int[] of source indices) become text joined with ';', other types their text.
    /// </summary>
    public static DataFrame ToDataFrame<T>(IEnumerable<T> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var type = typeof(T);
        if (type == typeof(object))
            throw new ArgumentException("Tables.ToDataFrame needs a concrete row type (a record or an anonymous type), not object.", nameof(rows));
        var items = rows.ToList();
        if (IsScalar(type)) return new DataFrame(Column("value", items.Select(i => (object?)i).ToList(), type));
        var members = type.GetMembers(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m is PropertyInfo { CanRead: true } p && p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract" || m is FieldInfo)
            .OrderBy(m => m.MetadataToken)   // declaration order
            .ToArray();
        if (members.Length == 0)
            throw new ArgumentException($"Tables.ToDataFrame: {type.Name} has no public properties or fields to turn into columns.", nameof(rows));
        return new DataFrame(members.Select(m =>
        {
            var declared = m is PropertyInfo p ? p.PropertyType : ((FieldInfo)m).FieldType;
            var cells = items.Select(r => r is null ? null : m is PropertyInfo pi ? pi.GetValue(r) : ((FieldInfo)m).GetValue(r)).ToList();
            return Column(m.Name, cells, declared);
        }));
    }

    /// <summary>
    /// The frame as CSV text (header first). Doubles are written in shortest round-trip form unless
    /// <paramref name="doubleFormat"/> (a .NET format string, e.g. "0.######") says otherwise.
    /// </summary>
    public static string ToCsv(DataFrame frame, string? doubleFormat = null)
    {
        using var stream = new MemoryStream();
        Write(frame, stream, doubleFormat);
        return Utf8.GetString(stream.ToArray());
    }

    /// <summary>Writes the frame to <paramref name="path"/> as CSV (see <see cref="ToCsv"/>), replacing the file.</summary>
    public static void SaveCsv(DataFrame frame, string path, string? doubleFormat = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Write(frame, stream, doubleFormat);
    }

    static void Write(DataFrame frame, Stream stream, string? doubleFormat)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var columns = frame.Columns.ToList();
        if (columns.Count == 0) throw new ArgumentException("A DataFrame without columns has no CSV form (no header).", nameof(frame));
        var rows = frame.Rows.Count;
        var start = 0L;
        do
        {
            var count = Math.Min(RowsPerBlock, rows - start);
            var text = new DataFrame(columns.Select(c => new StringDataFrameColumn(Cell(c.Name),
                Enumerable.Range(0, (int)count).Select(i => Cell(Format(c[start + i], doubleFormat))))));
            DataFrame.SaveCsv(text, stream, separator: ',', header: start == 0, encoding: Utf8, cultureInfo: CultureInfo.InvariantCulture);
            start += count;
        } while (start < rows);
    }

    /// <summary>
    /// Reads a CSV file written by <see cref="SaveCsv"/> (or by <see cref="Csv"/>). Each column gets the
    /// narrowest type all its non-empty cells parse as, in invariant culture: int, long, double ("NaN"
    /// allowed), bool ("true"/"false"), else string. Empty cells are missing values.
    /// </summary>
    public static DataFrame LoadCsv(string path)
    {
        var (header, rows) = Csv.Read(path);
        CheckNames(header, $"'{path}'");
        return new DataFrame(header.Select((name, j) =>
        {
            var cells = rows.Select(r => r[j].Length == 0 ? null : r[j]).ToList();
            var present = cells.Where(c => c is not null).Select(c => c!).ToList();
            if (present.Count > 0 && present.All(c => int.TryParse(c, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)))
                return (DataFrameColumn)new Int32DataFrameColumn(name, cells.Select(c => c is null ? (int?)null : int.Parse(c, NumberStyles.Integer, CultureInfo.InvariantCulture)));
            if (present.Count > 0 && present.All(c => long.TryParse(c, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)))
                return new Int64DataFrameColumn(name, cells.Select(c => c is null ? (long?)null : long.Parse(c, NumberStyles.Integer, CultureInfo.InvariantCulture)));
            if (present.Count > 0 && present.All(c => double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
                return new DoubleDataFrameColumn(name, cells.Select(c => c is null ? (double?)null : Csv.ParseDouble(c)));
            if (present.Count > 0 && present.All(c => c is "true" or "false"))
                return new BooleanDataFrameColumn(name, cells.Select(c => c is null ? (bool?)null : c == "true"));
            return new StringDataFrameColumn(name, cells);
        }));
    }

    // ---- building columns --------------------------------------------------------------------------

    enum Kind { Text, Bool, Int32, Int64, UInt64, Single, Double, Decimal }

    static DataFrameColumn Column(string name, IReadOnlyList<object?> cells, Type? declared)
    {
        var kind = declared is null || declared == typeof(object) ? Infer(cells) : KindOf(Nullable.GetUnderlyingType(declared) ?? declared);
        return kind switch
        {
            Kind.Bool => new BooleanDataFrameColumn(name, cells.Select(c => c is null ? (bool?)null : (bool)c)),
            Kind.Int32 => new Int32DataFrameColumn(name, cells.Select(c => c is null ? (int?)null : Convert.ToInt32(c, CultureInfo.InvariantCulture))),
            Kind.Int64 => new Int64DataFrameColumn(name, cells.Select(c => c is null ? (long?)null : Convert.ToInt64(c, CultureInfo.InvariantCulture))),
            Kind.UInt64 => new UInt64DataFrameColumn(name, cells.Select(c => c is null ? (ulong?)null : Convert.ToUInt64(c, CultureInfo.InvariantCulture))),
            Kind.Single => new SingleDataFrameColumn(name, cells.Select(c => c is null || float.IsNaN((float)c) ? (float?)null : (float)c)),
            Kind.Double => new DoubleDataFrameColumn(name, cells.Select(Real)),
            Kind.Decimal => new DecimalDataFrameColumn(name, cells.Select(c => c is null ? (decimal?)null : (decimal)c)),
            _ => new StringDataFrameColumn(name, cells.Select(Text)),
        };
    }

    static double? Real(object? c)
    {
        if (c is null) return null;
        var d = Convert.ToDouble(c, CultureInfo.InvariantCulture);
        return double.IsNaN(d) ? null : d;
    }

    static Kind KindOf(Type t) =>
        t == typeof(bool) ? Kind.Bool
        : t == typeof(int) || t == typeof(short) || t == typeof(ushort) || t == typeof(byte) || t == typeof(sbyte) ? Kind.Int32
        : t == typeof(long) || t == typeof(uint) ? Kind.Int64
        : t == typeof(ulong) ? Kind.UInt64
        : t == typeof(float) ? Kind.Single
        : t == typeof(double) ? Kind.Double
        : t == typeof(decimal) ? Kind.Decimal
        : Kind.Text;

    /// <summary>The one kind that holds every non-null cell exactly (integers widen; any double makes the column double).</summary>
    static Kind Infer(IReadOnlyList<object?> cells)
    {
        var kinds = cells.Where(c => c is not null).Select(c => KindOf(c!.GetType())).Distinct().ToList();
        if (kinds.Count == 0) return Kind.Text;
        if (kinds.Count == 1) return kinds[0];
        if (kinds.All(k => k is Kind.Int32 or Kind.Int64)) return Kind.Int64;
        // A float beside other numbers would print with float's noise as a double (0.1f → 0.10000000149011612).
        if (kinds.All(k => k is Kind.Int32 or Kind.Int64 or Kind.Double)) return Kind.Double;
        return Kind.Text;
    }

    static string? Text(object? v) => v switch
    {
        null => null,
        string s => s,
        IEnumerable e => string.Join(";", e.Cast<object?>().Select(Csv.Format)),
        _ => Csv.Format(v),
    };

    static bool IsScalar(Type t) => t.IsPrimitive || t == typeof(string) || t == typeof(decimal) || t.IsEnum ||
                                    Nullable.GetUnderlyingType(t) is { } u && IsScalar(u);

    static void CheckNames(IReadOnlyList<string> names, string what)
    {
        var dup = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"The {what} has two columns named '{dup.Key}'; DataFrame column names must be unique.");
    }

    // ---- writing cells -------------------------------------------------------------------------------

    static string Format(object? v, string? doubleFormat) => v switch
    {
        double d when doubleFormat is not null && !double.IsNaN(d) => d.ToString(doubleFormat, CultureInfo.InvariantCulture),
        _ => Csv.Format(v),
    };

    /// <summary>
    /// SaveCsv quotes a cell holding the separator, a quote or a line feed, but not one holding only a carriage
    /// return; such a CR would split the row for a reader, so a lone CR becomes a line feed (then quoted).
    /// </summary>
    static string Cell(string s)
    {
        if (s.IndexOf('\r') < 0) return s;
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
            sb.Append(s[i] == '\r' && (i + 1 == s.Length || s[i + 1] != '\n') ? '\n' : s[i]);
        return sb.ToString();
    }
}
