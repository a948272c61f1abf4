using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PDiff.Tests.TorchFixes;
using Xunit;

namespace PDiff.Tests.Architecture;

/// <summary>
/// lib/ reads as the pipeline: each folder is one namespace (PDiff.&lt;Folder&gt;) and calls only folders of lower
/// layers (docs/design-notes.md, "Layers"). Checked with the compiler's semantic model, so a fully qualified name, an
/// extension method or a using directive counts as much as a type name. The studies (notebooks/Studies) and the CLI sit
/// above lib/ in their own assemblies, so the compiler itself keeps lib/ from calling them.
/// </summary>
public class LayeringTests
{
    /// <summary>The layers of lib/, lowest first: a folder may use the folders of lower layers only.</summary>
    public static readonly string[][] Layers =
    {
        new[] { "Storage", "Checkpoints" },
        new[] { "TorchFixes" },
        new[] { "Data", "Models", "Plots" },
        new[] { "Zoo" },
        new[] { "Diffusion", "Evaluation" },
    };

    static IEnumerable<KeyValuePair<string, string>> LibSources() =>
        ScalarLint.SourcesUnder("lib");

    [Fact]
    public void TheLibraryCallsOnlyDownward()
    {
        var found = Violations(LibSources());
        Assert.True(found.Count == 0, "lib/ folders calling sideways or upward (see the layers in docs/design-notes.md):\n" + string.Join("\n", found));
    }

    [Fact]
    public void AnUpwardCallIsFoundWhateverItsSpelling()
    {
        var bad = new Dictionary<string, string>
        {
            ["lib/Storage/Upward.cs"] = "namespace PDiff.Storage;\npublic static class Upward\n{\n    public static int K(PDiff.Zoo.ZooTask z) => z.K;\n}\n",
            ["lib/Data/Sideways.cs"] = "using PDiff.Models;\nnamespace PDiff.Data;\npublic static class Sideways\n{\n    public static string S() => nameof(ModelSpec);\n}\n",
            ["lib/Checkpoints/Extension.cs"] = "using PDiff.TorchFixes;\nnamespace PDiff.Checkpoints;\npublic static class Extension\n{\n    public static TorchSharp.torch.Tensor P(TorchSharp.torch.Tensor a) => a.Plus(a);\n}\n",
            ["lib/Models/Elsewhere.cs"] = "namespace PDiff.Zoo;\npublic static class Elsewhere { }\n",
        };
        var found = Violations(LibSources().Concat(bad));
        Assert.Contains(found, f => f.StartsWith("lib/Storage/Upward.cs:4:", StringComparison.Ordinal) && f.Contains("lib/Zoo", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("lib/Data/Sideways.cs:", StringComparison.Ordinal) && f.Contains("lib/Models", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("lib/Checkpoints/Extension.cs:5:", StringComparison.Ordinal) && f.Contains("lib/TorchFixes", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("lib/Models/Elsewhere.cs:1:", StringComparison.Ordinal) && f.Contains("namespace", StringComparison.Ordinal));
        Assert.Equal(4, found.Select(f => f.Split(':')[0]).Distinct().Count());
    }

    [Fact]
    public void EveryLibFolderHasALayerAndAReadme()
    {
        var root = Path.Combine(ScalarLint.RepoRoot(), "lib");
        var folders = Directory.GetDirectories(root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Layers.SelectMany(l => l).Order(StringComparer.Ordinal), folders);
        Assert.All(folders, f => Assert.True(File.Exists(Path.Combine(root, f!, "README.md")), $"lib/{f}/README.md is missing: say what the folder holds and what it may call."));
    }

    /// <summary>"file:line: what" for every use of a lib/ folder by a folder of the same or a higher layer, and every file whose namespace is not its folder's.</summary>
    public static IReadOnlyList<string> Violations(IEnumerable<KeyValuePair<string, string>> sources)
    {
        var compilation = ScalarLint.Compile(sources);
        var rank = Layers.SelectMany((layer, i) => layer.Select(folder => (folder, i))).ToDictionary(x => x.folder, x => x.i);
        var found = new List<string>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var parts = tree.FilePath.Split('/');
            if (parts.Length < 3 || parts[0] != "lib") continue;
            var own = parts[1];
            if (!rank.TryGetValue(own, out var ownRank))
            {
                found.Add($"{tree.FilePath}:1: lib/{own} is in no layer");
                continue;
            }
            foreach (var ns in tree.GetRoot().DescendantNodes().OfType<BaseNamespaceDeclarationSyntax>())
                if (ns.Name.ToString() != $"PDiff.{own}" && !ns.Name.ToString().StartsWith($"PDiff.{own}.", StringComparison.Ordinal))
                    found.Add($"{tree.FilePath}:{Line(ns)}: namespace {ns.Name} in lib/{own} (want PDiff.{own})");
            var model = compilation.GetSemanticModel(tree);
            foreach (var name in tree.GetRoot().DescendantNodes().OfType<SimpleNameSyntax>())
            {
                var symbol = model.GetSymbolInfo(name).Symbol;
                var ns = (symbol as INamespaceSymbol ?? symbol?.ContainingNamespace)?.ToDisplayString();
                if (ns is null || !ns.StartsWith("PDiff.", StringComparison.Ordinal)) continue;
                var folder = ns.Split('.')[1];
                if (folder == own) continue;
                if (!rank.TryGetValue(folder, out var r) || r >= ownRank)
                    found.Add($"{tree.FilePath}:{Line(name)}: lib/{own} (layer {ownRank}) uses {symbol!.ToDisplayString()} of lib/{folder}" + (rank.ContainsKey(folder) ? $" (layer {r})" : ""));
            }
        }
        return found.Distinct().ToList();
    }

    static int Line(SyntaxNode node) => node.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
}
