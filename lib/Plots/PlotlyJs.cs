namespace PDiff.Plots;

/// <summary>
/// Finds the local copy of plotly.js that scripts/setup.sh installs (npm <c>plotly.js-dist-min</c> into
/// <c>data/cache/plotly/plotly.min.js</c>): charts never fetch anything from the network.
/// Looks at PDIFF_PLOTLY_JS first, then walks up from the library's folder, the application's folder
/// and the current directory, so it works from bin/, from tests, and from a notebook that #r's the dll.
/// </summary>
public static class PlotlyJs
{
    public const string EnvironmentVariable = "PDIFF_PLOTLY_JS";
    public const string RelativePath = "data/cache/plotly/plotly.min.js";

    /// <summary>
    /// Attribute carried by every notebook chart fragment: a host (the headless runner, the .NET
    /// Interactive formatter) that sees it knows the output needs plotly.js in the page.
    /// </summary>
    public const string RequiresMarker = "data-pdiff-plotly";

    static string? _script;

    /// <summary>The path of plotly.min.js, or null when it is not installed.</summary>
    public static string? TryLocate()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? Path.GetFullPath(env) : null;
        foreach (var start in StartFolders())
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, RelativePath);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }

    /// <summary>The path of plotly.min.js; throws a FileNotFoundException saying how to install it.</summary>
    public static string Locate() =>
        TryLocate() ?? throw new FileNotFoundException(
            $"plotly.js was not found ({RelativePath} above {string.Join(", ", StartFolders())}" +
            (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } e ? $", nor at {EnvironmentVariable}={e}" : "") +
            "). Run scripts/setup.sh (it fetches plotly.js-dist-min from npm into data/cache/plotly/), " +
            $"or point {EnvironmentVariable} at a plotly.min.js.");

    /// <summary>The library's source text (read once per process; 4.5 MB).</summary>
    public static string Source() => _script ??= File.ReadAllText(Locate());

    /// <summary>
    /// The library as an inline &lt;script&gt; element that defines window.Plotly once: a second copy
    /// in the same page is skipped by the guard, so hosts may include it without tracking pages exactly.
    /// plotly.min.js is a UMD bundle: in a page with require.js (classic Jupyter) it would register an AMD
    /// module instead of window.Plotly, so define/module/exports are shadowed while it runs.
    /// </summary>
    public static string InlineScriptTag() =>
        "<script type=\"text/javascript\">if (!window.Plotly) { (function (define, module, exports) {\n" +
        Source().Replace("</script", "<\\/script", StringComparison.OrdinalIgnoreCase) +
        "\n}).call(window); }</script>\n";

    static IEnumerable<string> StartFolders()
    {
        var seen = new HashSet<string>();
        var asm = typeof(PlotlyJs).Assembly.Location;
        foreach (var f in new[]
                 {
                     string.IsNullOrEmpty(asm) ? null : Path.GetDirectoryName(asm),
                     AppContext.BaseDirectory,
                     Directory.GetCurrentDirectory(),
                 })
            if (!string.IsNullOrEmpty(f) && seen.Add(Path.GetFullPath(f))) yield return Path.GetFullPath(f);
    }
}
