using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PDiff.Plots;
using Xunit;

namespace PDiff.Tests.Plots;

[Collection("chromium")]
public class InteractiveTests
{
    // A stand-in for .NET Interactive's formatting assembly with only the older Action<T, TextWriter>
    // overload (the Func<T, string> one is tried first): same assembly, type and method names, so the
    // reflection in Interactive.Register meets what it meets inside Polyglot Notebooks.
    const string FakeFormatter = """
        namespace Microsoft.DotNet.Interactive.Formatting
        {
            public static class Formatter
            {
                public static readonly System.Collections.Generic.Dictionary<string, System.Func<object, string>> Registered = new();

                public static void Register<T>(System.Action<T, System.IO.TextWriter> formatter, string mimeType = "text/plain", bool addToDefaults = false)
                {
                    Registered[typeof(T).FullName + "|" + mimeType] = o => { var w = new System.IO.StringWriter(); formatter((T)o, w); return w.ToString(); };
                }
            }
        }
        """;

    [Fact]
    public void RegistersHtmlFormattersOnlyWhenDotNetInteractiveIsLoaded()
    {
        if (PlotlyJs.TryLocate() == null) return; // the chart HTML carries plotly.js; MissingPlotlyGivesTheSetupCommand covers its absence
        Assert.False(Interactive.Register()); // plain process: nothing to register with, no error

        var formatter = LoadFake().GetType("Microsoft.DotNet.Interactive.Formatting.Formatter")!;
        var old = Interactive.EmbedPngFallback;
        Interactive.EmbedPngFallback = false; // keep the test free of browser starts
        try
        {
            Assert.True(Interactive.Register());
            var registered = (Dictionary<string, Func<object, string>>)formatter.GetField("Registered")!.GetValue(null)!;
            var figure = registered[typeof(Figure).FullName + "|text/html"];
            var fig = new Figure(new Scatter { X = new[] { 1 }, Y = new[] { 2 } });
            var first = figure(fig);
            Assert.Contains("plotly.js v", first); // the kernel's first chart brings the library
            Assert.Contains(PlotlyJs.RequiresMarker, first);
            var second = figure(fig);
            Assert.DoesNotContain("plotly.js v", second);
            Assert.Contains("Plotly.newPlot", second);

            var table = registered[typeof(Table).FullName + "|text/html"];
            Assert.Contains("<th>value</th>", table(Table.From(new[] { 1, 2 })));
            Assert.True(Interactive.Register()); // idempotent
        }
        finally
        {
            Interactive.EmbedPngFallback = old;
        }
    }

    static Assembly LoadFake()
    {
        var dir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var refs = new[] { "System.Private.CoreLib.dll", "System.Runtime.dll", "System.Collections.dll" }
            .Select(f => MetadataReference.CreateFromFile(Path.Combine(dir, f)));
        var compilation = CSharpCompilation.Create("Microsoft.DotNet.Interactive.Formatting",
            new[] { CSharpSyntaxTree.ParseText(FakeFormatter) }, refs, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        using var ms = new MemoryStream();
        var emit = compilation.Emit(ms);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        return Assembly.Load(ms.ToArray());
    }
}
