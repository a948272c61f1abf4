using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PDiff.Tests.TorchFixes;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// No printed sentence compares two results in words of its own: "higher", "lower" and "indistinguishable" come from the
/// verdict rule (<c>PDiff.Evaluation.VerdictWords</c>, <c>Comparison.Sentence</c>, <c>ComparisonFamily</c>,
/// <c>ThresholdCheck</c>). The check reads every string literal (interpolated text included) of the studies, the CLI, the
/// scripts' C# and every notebook's code cells with the C# parser, so comments and identifiers (a property named
/// <c>Beats</c>) do not count; markdown is prose about the paper's claims and is not read.
/// </summary>
public class ComparisonWordsTests
{
    /// <summary>
    /// Words that state how one result compares with another. "Beats" and "dominates" are left out: they name a
    /// conclusion drawn from two verdicts (notebooks 06 and 10 test both axes), which the rule's words cannot say alone.
    /// </summary>
    static readonly Regex Comparative = new(
        @"\b(outperform\w*|better|worse|as accurate|more accurate|less accurate|at least as|(higher|lower) than|rises|falls)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>The one file allowed to hold those words: the verdict rule itself.</summary>
    const string RuleFile = "lib/Evaluation/ComparisonFamily.cs";

    public static IReadOnlyList<string> Findings(IEnumerable<KeyValuePair<string, string>> sources, bool script = false)
    {
        var found = new List<string>();
        var options = new CSharpParseOptions(kind: script ? SourceCodeKind.Script : SourceCodeKind.Regular);
        foreach (var (path, text) in sources)
        {
            if (path == RuleFile) continue;
            var root = CSharpSyntaxTree.ParseText(text, options).GetRoot();
            foreach (var token in root.DescendantTokens())
            {
                if (!token.IsKind(SyntaxKind.StringLiteralToken) && !token.IsKind(SyntaxKind.InterpolatedStringTextToken)
                    && !token.IsKind(SyntaxKind.MultiLineRawStringLiteralToken) && !token.IsKind(SyntaxKind.SingleLineRawStringLiteralToken))
                    continue;
                var m = Comparative.Match(token.ValueText);
                if (m.Success)
                    found.Add($"{path}:{token.GetLocation().GetLineSpan().StartLinePosition.Line + 1}: \"{m.Value}\" in \"{Short(token.ValueText)}\"");
            }
        }
        return found;
    }

    static string Short(string s) => s.Length <= 90 ? s : s[..87] + "...";

    static IEnumerable<KeyValuePair<string, string>> NotebookCells()
    {
        var root = ScalarLint.RepoRoot();
        foreach (var nb in Directory.GetFiles(Path.Combine(root, "notebooks"), "*.ipynb").Order(StringComparer.Ordinal))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(nb));
            var i = 0;
            foreach (var cell in doc.RootElement.GetProperty("cells").EnumerateArray())
            {
                i++;
                if (cell.GetProperty("cell_type").GetString() != "code") continue;
                var src = cell.GetProperty("source");
                var text = src.ValueKind == JsonValueKind.Array ? string.Concat(src.EnumerateArray().Select(l => l.GetString())) : src.GetString() ?? "";
                yield return new($"notebooks/{Path.GetFileName(nb)} cell {i}", text);
            }
        }
    }

    [Fact]
    public void TheCheckFindsAHandWrittenComparisonAndIgnoresIdentifiersAndComments()
    {
        var found = Findings(new Dictionary<string, string>
        {
            ["a.cs"] = "class A { bool Better => true; // p-diff is better\n string S(bool b) => b ? \"p-diff is better than the baseline\" : $\"{1} is as accurate as {2}\"; }",
            ["b.cs"] = "class B { string S => \"max IoU (lower = more novel)\"; }",
        });
        Assert.Equal(2, found.Count);
        Assert.Contains(found, f => f.StartsWith("a.cs:2: \"better\"", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("\"as accurate\"", StringComparison.Ordinal));
    }

    [Fact]
    public void NoStudyOrCliSentenceComparesInItsOwnWords()
    {
        var found = Findings(ScalarLint.SourcesUnder("lib", "notebooks/Studies", "tools/pdiff"));
        Assert.True(found.Count == 0, "comparison words outside the verdict rule (build the sentence with Comparison.Sentence or a ComparisonFamily):\n" + string.Join("\n", found));
    }

    [Fact]
    public void NoNotebookCellComparesInItsOwnWords()
    {
        var found = Findings(NotebookCells(), script: true);
        Assert.True(found.Count == 0, "comparison words outside the verdict rule (build the sentence with Comparison.Sentence or a ComparisonFamily):\n" + string.Join("\n", found));
    }
}
