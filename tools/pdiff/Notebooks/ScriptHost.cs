using System.Reflection.PortableExecutable;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace PDiff.Notebooks;

/// <summary>
/// Roslyn scripting set up like the Polyglot C# kernel: every cell is a submission continuing the previous
/// one (<see cref="ScriptState.ContinueWithAsync(string, ScriptOptions, CancellationToken)"/>), so
/// variables, types and usings carry over; the same default usings; the whole shared framework referenced
/// (Roslyn resolves nothing by itself — not even System.Linq — without explicit references); `#r "x.dll"`
/// resolved against the notebook's folder.
/// </summary>
public sealed partial class ScriptHost
{
    /// <summary>The usings the .NET Interactive C# kernel starts with; a notebook relying on more must say so.</summary>
    public static readonly string[] DefaultImports =
        { "System", "System.Collections", "System.Collections.Generic", "System.Linq", "System.Text", "System.Threading.Tasks" };

    static IReadOnlyList<MetadataReference>? _frameworkReferences;

    readonly ScriptOptions _options;
    readonly ScriptGlobals _globals;
    ScriptState<object>? _state;

    public ScriptHost(string baseDirectory, ScriptGlobals globals)
    {
        _globals = globals;
        _options = ScriptOptions.Default
            .WithReferences(FrameworkReferences())
            .AddReferences(typeof(ScriptGlobals).Assembly)
            .WithImports(DefaultImports)
            .WithMetadataResolver(ScriptMetadataResolver.Default.WithBaseDirectory(baseDirectory))
            .WithSourceResolver(ScriptSourceResolver.Default.WithBaseDirectory(baseDirectory))
            .WithLanguageVersion(LanguageVersion.Latest)
            .WithOptimizationLevel(OptimizationLevel.Release)
            .WithAllowUnsafe(true)
            .WithEmitDebugInformation(true)
            .WithFileEncoding(Encoding.UTF8);
    }

    /// <summary>
    /// Compiles and runs one cell. Returns the value of a trailing expression (null when there is none).
    /// Throws <see cref="CompilationErrorException"/> for compile errors and the cell's own exception
    /// otherwise. <paramref name="label"/> names the cell in diagnostics and stack traces.
    /// </summary>
    public async Task<object?> RunCellAsync(string code, string label, CancellationToken cancel)
    {
        var options = _options.WithFilePath(label);
        _state = _state == null
            ? await CSharpScript.RunAsync(code, options, _globals, typeof(ScriptGlobals), cancel)
            : await _state.ContinueWithAsync(code, options, cancel);
        return _state.ReturnValue;
    }

    /// <summary>
    /// Every managed assembly of the running shared framework (Microsoft.NETCore.App), as the Polyglot
    /// kernel references them; read once per process.
    /// </summary>
    static IReadOnlyList<MetadataReference> FrameworkReferences()
    {
        if (_frameworkReferences != null) return _frameworkReferences;
        var dir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var refs = new List<MetadataReference>();
        foreach (var file in Directory.EnumerateFiles(dir, "*.dll").Order(StringComparer.Ordinal))
        {
            try
            {
                using var pe = new PEReader(File.OpenRead(file));
                if (!pe.HasMetadata) continue;
            }
            catch (BadImageFormatException) { continue; }
            refs.Add(MetadataReference.CreateFromFile(file));
        }
        return _frameworkReferences = refs;
    }

    [GeneratedRegex(@"^\s*#!\s*([A-Za-z#0-9_-]+)")]
    private static partial Regex MagicLine();

    [GeneratedRegex(@"^\s*#r\s+""\s*nuget\s*:", RegexOptions.IgnoreCase)]
    private static partial Regex NugetReference();

    [GeneratedRegex(@"^\s*#i\s+""")]
    private static partial Regex PackageSource();

    static readonly HashSet<string> CSharpKernelNames = new(StringComparer.OrdinalIgnoreCase) { "csharp", "c#", "cs" };

    /// <summary>
    /// Makes a Polyglot cell plain C# script: magic lines (<c>#!csharp</c>, <c>#!time</c>, ...) and package
    /// sources (<c>#i</c>) become empty lines, so line numbers in errors still match the cell. A cell switched
    /// to another language, or asking for NuGet packages, cannot run here and is refused with the reason.
    /// </summary>
    public static string Preprocess(string source)
    {
        var lines = source.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (MagicLine().Match(lines[i]) is { Success: true } m)
            {
                var magic = m.Groups[1].Value;
                if (KernelMagics.Contains(magic) && !CSharpKernelNames.Contains(magic))
                    throw new NotSupportedException(
                        $"line {i + 1}: `#!{magic}` switches the cell to another kernel; the headless runner runs C# cells only.");
                lines[i] = "";
            }
            else if (NugetReference().IsMatch(lines[i]))
                throw new NotSupportedException(
                    $"line {i + 1}: `{lines[i].Trim()}` needs .NET Interactive's NuGet support; the headless runner loads assemblies by path only (#r \"path/to/X.dll\").");
            else if (PackageSource().IsMatch(lines[i]))
                lines[i] = "";
        }
        return string.Join("\n", lines);
    }

    static readonly HashSet<string> KernelMagics = new(StringComparer.OrdinalIgnoreCase)
    {
        "csharp", "c#", "cs", "fsharp", "f#", "fs", "pwsh", "powershell", "javascript", "js", "html", "markdown", "md",
        "mermaid", "sql", "kql", "python", "r", "value", "http",
    };
}
