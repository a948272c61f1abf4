using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PDiff.Notebooks;

/// <summary>
/// Papermill-style parameters for C# notebooks. The first code cell tagged "parameters" declares the
/// parameters with their defaults (<c>var profile = "quick";</c>, <c>int steps = 200;</c>); a run with
/// <c>--param profile=smoke</c> inserts a cell tagged "injected-parameters" right after it that assigns the
/// new values. Assignment (not redeclaration) lets the C# compiler check each value against the declared
/// type, and the declared type decides how the text becomes a literal: a string parameter is always
/// quoted, so <c>--param tag=123</c> stays a string; elsewhere numbers and bools are written as is.
/// </summary>
public static class Parameters
{
    public const string Tag = "parameters";
    public const string InjectedTag = "injected-parameters";

    public sealed record Declared(string Name, string Type, ExpressionSyntax? Initializer);

    /// <summary>Top-level variables of a parameters cell, in order.</summary>
    public static IReadOnlyList<Declared> Parse(string source)
    {
        var tree = CSharpSyntaxTree.ParseText(source, CSharpParseOptions.Default.WithKind(SourceCodeKind.Script).WithLanguageVersion(LanguageVersion.Latest));
        var root = tree.GetCompilationUnitRoot();
        var decls = new List<Declared>();
        foreach (var member in root.Members)
        {
            var vd = member switch
            {
                FieldDeclarationSyntax f => f.Declaration,
                GlobalStatementSyntax { Statement: LocalDeclarationStatementSyntax l } => l.Declaration,
                _ => null,
            };
            if (vd == null) continue;
            foreach (var v in vd.Variables)
                decls.Add(new Declared(v.Identifier.ValueText, vd.Type.ToString(), v.Initializer?.Value));
        }
        return decls;
    }

    /// <summary>The injected cell's source: one assignment a parameter, values as C# literals.</summary>
    public static string InjectedSource(IReadOnlyList<Declared> declared, IReadOnlyList<KeyValuePair<string, string>> values, int parametersCellNumber)
    {
        var sb = new StringBuilder($"// Injected by `pdiff notebook run --param`: overrides the defaults of cell {parametersCellNumber}.\n");
        foreach (var (name, raw) in values)
        {
            var d = declared.FirstOrDefault(x => x.Name == name) ?? throw new ArgumentException(
                $"--param {name}: the parameters cell (cell {parametersCellNumber}) declares no variable '{name}'" +
                (declared.Count > 0 ? $"; it declares: {string.Join(", ", declared.Select(x => x.Name))}." : " (it declares none)."));
            sb.Append($"{name} = {Literal(d, raw)};\n");
        }
        return sb.ToString();
    }

    /// <summary>The text of a command-line value as a C# literal suited to the parameter's declared type.</summary>
    public static string Literal(Declared d, string raw)
    {
        var kind = KindOf(d);
        switch (kind)
        {
            case "string":
                return SymbolDisplay.FormatLiteral(raw, quote: true);
            case "bool":
                if (raw.Equals("true", StringComparison.OrdinalIgnoreCase)) return "true";
                if (raw.Equals("false", StringComparison.OrdinalIgnoreCase)) return "false";
                throw new ArgumentException($"--param {d.Name}={raw}: {d.Name} is a bool; give true or false.");
            case "int" or "long" or "short" or "byte" or "uint" or "ulong":
                if (!long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out _) &&
                    !ulong.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
                    throw new ArgumentException($"--param {d.Name}={raw}: {d.Name} is an {kind}; give a whole number.");
                return raw;
            case "double" or "float" or "decimal":
                if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                    throw new ArgumentException($"--param {d.Name}={raw}: {d.Name} is a {kind}; give a number such as 0.001 or 1e-3.");
                return kind switch { "float" => raw + "f", "decimal" => raw + "m", _ => raw.Contains('.') || raw.Contains('e') || raw.Contains('E') ? raw : raw + ".0" };
            default:
                // Unknown type (an enum, a record...): numbers and bools as is, anything else quoted.
                if (raw is "true" or "false") return raw;
                if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) return raw;
                return SymbolDisplay.FormatLiteral(raw, quote: true);
        }
    }

    /// <summary>"string", "bool", a numeric keyword, or "" when the type cannot be told from the syntax.</summary>
    static string KindOf(Declared d)
    {
        var t = d.Type.Replace("System.", "").TrimEnd('?');
        t = t switch
        {
            "String" => "string", "Boolean" => "bool", "Int32" => "int", "Int64" => "long", "Double" => "double",
            "Single" => "float", "Decimal" => "decimal", _ => t,
        };
        if (t != "var") return t;
        return d.Initializer switch
        {
            LiteralExpressionSyntax l when l.IsKind(SyntaxKind.StringLiteralExpression) => "string",
            InterpolatedStringExpressionSyntax => "string",
            LiteralExpressionSyntax l when l.IsKind(SyntaxKind.TrueLiteralExpression) || l.IsKind(SyntaxKind.FalseLiteralExpression) => "bool",
            LiteralExpressionSyntax l when l.IsKind(SyntaxKind.NumericLiteralExpression) => l.Token.Value switch
            {
                int => "int", long => "long", uint => "uint", ulong => "ulong", float => "float", decimal => "decimal", _ => "double",
            },
            PrefixUnaryExpressionSyntax { Operand: LiteralExpressionSyntax l } when l.IsKind(SyntaxKind.NumericLiteralExpression) =>
                l.Token.Value switch { int => "int", long => "long", float => "float", decimal => "decimal", _ => "double" },
            _ => "",
        };
    }

    /// <summary>
    /// Removes cells a previous run injected, then inserts a fresh one after the parameters cell.
    /// Returns the index of the inserted cell, or -1 when <paramref name="values"/> is empty.
    /// </summary>
    public static int Inject(NotebookDocument nb, IReadOnlyList<KeyValuePair<string, string>> values)
    {
        var cells = nb.Cells;
        for (var i = cells.Count - 1; i >= 0; i--)
            if (NotebookDocument.Tags((JsonObject)cells[i]!).Contains(InjectedTag)) cells.RemoveAt(i);
        if (values.Count == 0) return -1;

        var at = -1;
        for (var i = 0; i < cells.Count && at < 0; i++)
        {
            var c = (JsonObject)cells[i]!;
            if (NotebookDocument.CellType(c) == "code" && NotebookDocument.Tags(c).Contains(Tag)) at = i;
        }
        if (at < 0)
            throw new ArgumentException(
                $"--param given but {nb.Path ?? "the notebook"} has no code cell tagged \"{Tag}\"; tag the cell that declares the defaults " +
                "(cell metadata \"tags\": [\"parameters\"]).");
        var declared = Parse(NotebookDocument.Source((JsonObject)cells[at]!));
        var cell = NotebookBuilder.CodeCell(InjectedSource(declared, values, at + 1), InjectedTag);
        if (nb.HasCellIds) cell["id"] = InjectedTag;
        // Keep the key order of the cells around it (Jupyter sorts on save anyway).
        cells.Insert(at + 1, cell);
        return at + 1;
    }
}
