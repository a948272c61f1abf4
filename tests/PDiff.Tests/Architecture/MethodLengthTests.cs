using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PDiff.Tests.TorchFixes;
using Xunit;

namespace PDiff.Tests.Architecture;

/// <summary>
/// lib/ stays readable as the method: no method, constructor, accessor, local function or expression-bodied
/// property runs past <see cref="Limit"/> lines (counted from its signature, attributes and doc comment left out,
/// to its closing brace or semicolon), and no comment names a tracker issue (a comment says why the code is as it
/// is; the tracker says when it changed). Syntax only, so the files need not compile together.
/// </summary>
public class MethodLengthTests
{
    /// <summary>The most lines a member may take.</summary>
    public const int Limit = 60;

    static IEnumerable<KeyValuePair<string, string>> LibSources() =>
        ScalarLint.SourcesUnder("lib");

    [Fact]
    public void NoLibraryMemberIsLongerThanTheLimit()
    {
        var found = LongMembers(LibSources(), Limit);
        Assert.True(found.Count == 0, $"lib/ members longer than {Limit} lines (split them into named steps):\n" + string.Join("\n", found));
    }

    [Fact]
    public void AMemberOfSixtyOneLinesIsFoundAndOneOfSixtyIsNot()
    {
        var source = "namespace PDiff.Storage;\n"                  // line 1
                   + "public class Synthetic\n{\n"                // lines 2-3
                   + Method("Long", 61)                           // lines 4-64
                   + Method("Fits", 60)                           // lines 65-124
                   + "    public int P\n    {\n        get\n        {\n" + Body(58) + "        }\n    }\n"          // 125-188, get 127-187
                   + "    void Outer()\n    {\n        void Local()\n        {\n" + Body(58) + "        }\n    }\n"   // 189-252, Local 191-251
                   + "    public Synthetic()\n    {\n" + Body(58) + "    }\n"                                          // 253-313
                   + "}\n";
        var found = LongMembers(new[] { KeyValuePair.Create("lib/Storage/Synthetic.cs", source) }, Limit);
        Assert.Equal(new[]
        {
            "lib/Storage/Synthetic.cs:4 Long (61 lines)",
            "lib/Storage/Synthetic.cs:125 P (64 lines)",
            "lib/Storage/Synthetic.cs:127 get (61 lines)",
            "lib/Storage/Synthetic.cs:189 Outer (64 lines)",
            "lib/Storage/Synthetic.cs:191 Local (61 lines)",
            "lib/Storage/Synthetic.cs:253 Synthetic (61 lines)",
        }, found);
    }

    [Fact]
    public void TheCountStartsAtTheSignatureNotAtItsAttributesOrDocComment()
    {
        var source = "public class C\n{\n    /// <summary>Ten\n    /// lines\n    /// of\n    /// doc.</summary>\n"
                   + "    [System.Obsolete]\n    [System.CLSCompliant(false)]\n" + Method("M", 60) + "}\n";
        Assert.Empty(LongMembers(new[] { KeyValuePair.Create("lib/C.cs", source) }, Limit));
        Assert.Equal(new[] { "lib/C.cs:9 M (60 lines)" }, LongMembers(new[] { KeyValuePair.Create("lib/C.cs", source) }, 59));
    }

    [Fact]
    public void NoLibraryCommentNamesATrackerIssue()
    {
        var found = TrackerMentions(LibSources());
        Assert.True(found.Count == 0, "lib/ comments that name a tracker issue (say the reason in words instead):\n" + string.Join("\n", found));
    }

    [Fact]
    public void TrackerMentionsAreFoundInEveryKindOfComment()
    {
        var source = "// as decided in issue 12\n"
                   + "/// <summary>Safe (#7).</summary>\n"
                   + "public class C\n{\n"
                   + "    /* see Issue #19 */ int a;\n"
                   + "    /// <summary>Two lines,\n    /// the second after issues 3 and 4.</summary>\n"
                   + "    void M() { }\n"
                   + "    string s = \"issue 12 in a string is no comment\";\n"
                   + "    // color #ff0000, step #3, 12 issues, tissue 5: none of these\n"
                   + "}\n";
        var found = TrackerMentions(new[] { KeyValuePair.Create("lib/C.cs", source) });
        Assert.Equal(new[]
        {
            "lib/C.cs:1: // as decided in issue 12",
            "lib/C.cs:2: /// <summary>Safe (#7).</summary>",
            "lib/C.cs:5: /* see Issue #19 */",
            "lib/C.cs:7: /// the second after issues 3 and 4.</summary>",
        }, found);
    }

    /// <summary>"file:line name (N lines)" for every member of <paramref name="sources"/> (path → text) longer than <paramref name="limit"/> lines.</summary>
    public static IReadOnlyList<string> LongMembers(IEnumerable<KeyValuePair<string, string>> sources, int limit)
    {
        var found = new List<string>();
        foreach (var (path, text) in sources)
        {
            var root = CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Preview), path).GetRoot();
            foreach (var node in root.DescendantNodes())
            {
                if (Measured(node) is not { } name) continue;
                var start = SignatureStart(node).GetLocation().GetLineSpan().StartLinePosition.Line;
                var end = node.GetLastToken().GetLocation().GetLineSpan().EndLinePosition.Line;
                var lines = end - start + 1;
                if (lines > limit) found.Add($"{path}:{start + 1} {name} ({lines} lines)");
            }
        }
        return found;
    }

    /// <summary>The name of a member that is measured, or null: methods, constructors, operators, accessors, local functions, and properties or indexers (their whole extent).</summary>
    static string? Measured(SyntaxNode node) => node switch
    {
        MethodDeclarationSyntax m => m.Identifier.Text,
        ConstructorDeclarationSyntax c => c.Identifier.Text,
        DestructorDeclarationSyntax d => "~" + d.Identifier.Text,
        OperatorDeclarationSyntax o => "operator " + o.OperatorToken.Text,
        ConversionOperatorDeclarationSyntax c => "operator " + c.Type,
        AccessorDeclarationSyntax a => a.Keyword.Text,
        LocalFunctionStatementSyntax l => l.Identifier.Text,
        PropertyDeclarationSyntax p => p.Identifier.Text,
        IndexerDeclarationSyntax => "this[]",
        _ => null,
    };

    /// <summary>The first token after the attributes (the doc comment is trivia of that token, so it is left out as well).</summary>
    static SyntaxToken SignatureStart(SyntaxNode node)
    {
        var attributes = node switch
        {
            MemberDeclarationSyntax m => m.AttributeLists,
            AccessorDeclarationSyntax a => a.AttributeLists,
            LocalFunctionStatementSyntax l => l.AttributeLists,
            _ => default,
        };
        return attributes.Count == 0 ? node.GetFirstToken() : attributes.Last().GetLastToken().GetNextToken();
    }

    /// <summary>"issue 12", "Issues #12", "(#12)": a tracker reference in a comment.</summary>
    static readonly Regex TrackerReference = new(@"\bissues? #?\d+|\(#\d+\)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>"file:line: text" for every comment line of <paramref name="sources"/> (path → text) that names a tracker issue.</summary>
    public static IReadOnlyList<string> TrackerMentions(IEnumerable<KeyValuePair<string, string>> sources)
    {
        var found = new List<string>();
        foreach (var (path, text) in sources)
        {
            var root = CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Preview), path).GetRoot();
            foreach (var trivia in root.DescendantTrivia(descendIntoTrivia: true))
            {
                if (!IsComment(trivia)) continue;
                var first = trivia.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
                var lines = trivia.ToFullString().Split('\n');
                for (var i = 0; i < lines.Length; i++)
                    if (TrackerReference.IsMatch(lines[i])) found.Add($"{path}:{first + i}: {lines[i].Trim()}");
            }
        }
        return found;
    }

    static bool IsComment(SyntaxTrivia trivia) => trivia.Kind() is SyntaxKind.SingleLineCommentTrivia or SyntaxKind.MultiLineCommentTrivia
        or SyntaxKind.SingleLineDocumentationCommentTrivia or SyntaxKind.MultiLineDocumentationCommentTrivia;

    /// <summary>A method of exactly <paramref name="lines"/> lines, signature to closing brace, indented as a class member.</summary>
    static string Method(string name, int lines) => $"    void {name}()\n    {{\n" + Body(lines - 3) + "    }\n";

    static string Body(int statements) => string.Concat(Enumerable.Range(0, statements).Select(i => $"        System.Console.WriteLine({i});\n"));
}
