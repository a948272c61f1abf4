using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace PDiff.Plots;

/// <summary>
/// A Plotly figure: traces plus layout, written as Plotly's JSON. Three ways out:
/// <list type="bullet">
/// <item><see cref="ToHtml"/>: a standalone page (plotly.js inlined, opens offline anywhere);</item>
/// <item><see cref="ToNotebookHtml"/>: the fragment a notebook output holds (see there);</item>
/// <item><see cref="ToPng"/>: the same chart rendered by headless Chromium, for GitHub and papers.</item>
/// </list>
/// </summary>
public sealed class Figure
{
    public const int DefaultWidth = 700, DefaultHeight = 450; // Plotly's own defaults

    static int _fragmentCounter;

    public Figure(params Trace[] traces) => Data.AddRange(traces);

    [JsonIgnore] public List<Trace> Data { get; } = new();
    public Layout Layout { get; set; } = new();

    // Written as `object` so each trace serializes with its run-time type (Scatter, Box, ...).
    [JsonPropertyName("data"), JsonPropertyOrder(-1)]
    public IEnumerable<object> DataForJson => Data;

    public Figure Add(Trace trace)
    {
        Data.Add(trace);
        return this;
    }

    /// <summary>Sets the title and axis titles in one call (the common case in notebooks).</summary>
    public Figure WithTitles(string? title, string? xTitle = null, string? yTitle = null)
    {
        if (title != null) Layout.Title = title;
        if (xTitle != null) (Layout.XAxis ??= new Axis()).Title = xTitle;
        if (yTitle != null) (Layout.YAxis ??= new Axis()).Title = yTitle;
        return this;
    }

    public Figure WithSize(int width, int height)
    {
        Layout.Width = width;
        Layout.Height = height;
        return this;
    }

    /// <summary>Plotly's figure JSON: <c>{"data": [...], "layout": {...}}</c>.</summary>
    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(this, indented ? PlotlyJson.IndentedOptions : PlotlyJson.Options);

    /// <summary>
    /// A complete HTML page. With <paramref name="inlinePlotly"/> (default) the 4.5 MB library is inside
    /// the page, so the file works offline on any machine; otherwise the page points at the local copy by
    /// file:// URL (small, but only valid on this machine — what the PNG renderer uses).
    /// </summary>
    public string ToHtml(bool inlinePlotly = true) => Page(ToJson(), Layout.Width, Layout.Height, inlinePlotly, staticPlot: false);

    /// <summary>
    /// The notebook output: a div and a script that draws into it once window.Plotly exists (it waits up to
    /// 10 s, so it does not matter which output of the page brings the library). The library itself is NOT
    /// in the fragment — 4.5 MB per chart would bloat every notebook. Instead the host adds
    /// <see cref="PlotlyJs.InlineScriptTag"/> once per notebook: the headless runner before the first
    /// output carrying <see cref="PlotlyJs.RequiresMarker"/>, the .NET Interactive formatter
    /// (<see cref="Interactive"/>) before the first chart of a kernel. Every output of a notebook shares one
    /// page (VS Code, Jupyter), so one copy serves all; a viewer that strips scripts (GitHub) or a page
    /// without the library still shows <paramref name="fallbackPng"/>, which the script replaces.
    /// </summary>
    public string ToNotebookHtml(byte[]? fallbackPng = null)
    {
        var json = ToJson();
        var n = Interlocked.Increment(ref _fragmentCounter);
        // Deterministic ids (content hash + sequence) keep re-run notebooks free of spurious diffs.
        var id = $"pdiff-fig-{Convert.ToHexString(SHA1.HashData(Encoding.UTF8.GetBytes(json)))[..10].ToLowerInvariant()}-{n}";
        var style = $"width:{(Layout.Width is int w ? w + "px" : "100%")};height:{Layout.Height ?? DefaultHeight}px;";
        var sb = new StringBuilder();
        sb.Append($"<div id=\"{id}\" class=\"pdiff-figure\" {PlotlyJs.RequiresMarker}=\"1\" style=\"{style}\">");
        if (fallbackPng != null)
            sb.Append($"<img alt=\"{WebUtility.HtmlEncode(TitleText ?? "chart")}\" src=\"data:image/png;base64,{Convert.ToBase64String(fallbackPng)}\"/>");
        sb.Append("</div>\n<script type=\"text/javascript\">\n(function () {\n");
        sb.Append($"  var id = \"{id}\", fig = {PlotlyJson.ForScript(json)}, tries = 0;\n");
        sb.Append("""
                    function draw() {
                      var el = document.getElementById(id);
                      if (!el) return;
                      if (window.Plotly) { el.innerHTML = ""; window.Plotly.newPlot(el, fig.data, fig.layout, {responsive: true}); return; }
                      if (++tries < 100) setTimeout(draw, 100);
                    }
                    draw();
                  })();
                  </script>
                  """);
        return sb.ToString();
    }

    /// <summary>
    /// The chart as a PNG of width x height pixels (default: the layout's size, else 700 x 450), rendered by
    /// headless Chromium from the local plotly.js: a browser starts for every chart, so it is slow next to the HTML.
    /// </summary>
    public byte[] ToPng(int? width = null, int? height = null)
    {
        var w = width ?? Layout.Width ?? DefaultWidth;
        var h = height ?? Layout.Height ?? DefaultHeight;
        Chromium.CheckSize(w, h);   // before looking for plotly.js or a browser: the size is the caller's mistake
        // The plot must fill the window exactly: force the layout's size to the picture's.
        var node = JsonNode.Parse(ToJson())!.AsObject();
        var layout = node["layout"]!.AsObject();
        layout["width"] = w;
        layout["height"] = h;
        return Chromium.Screenshot(Page(node.ToJsonString(PlotlyJson.Options), w, h, inlinePlotly: false, staticPlot: true), w, h);
    }

    public void SaveHtml(string path) => PDiff.Storage.AtomicFile.WriteAllText(path, ToHtml());
    public void SavePng(string path, int? width = null, int? height = null) => PDiff.Storage.AtomicFile.WriteAllBytes(path, ToPng(width, height));
    public void SaveJson(string path) => PDiff.Storage.AtomicFile.WriteAllText(path, ToJson(indented: true));

    public override string ToString() => $"Figure({Data.Count} trace{(Data.Count == 1 ? "" : "s")}{(TitleText is { } t ? ", \"" + t + "\"" : "")})";

    string? TitleText => Layout.Title?.Text;

    string Page(string json, int? width, int? height, bool inlinePlotly, bool staticPlot)
    {
        var lib = inlinePlotly
            ? PlotlyJs.InlineScriptTag()
            : $"<script type=\"text/javascript\" src=\"{new Uri(PlotlyJs.Locate()).AbsoluteUri}\"></script>\n";
        var size = $"width:{(width is int w ? w + "px" : "100%")};height:{(height is int h ? h + "px" : "100vh")};";
        var config = staticPlot ? "{staticPlot: true, displayModeBar: false}" : "{responsive: true}";
        return $"""
                <!DOCTYPE html>
                <html>
                <head>
                <meta charset="utf-8"/>
                <title>{WebUtility.HtmlEncode(TitleText ?? "PDiff chart")}</title>
                <style>html, body {"{"} margin: 0; padding: 0; overflow: hidden; background: white; {"}"}</style>
                {lib}</head>
                <body>
                <div id="figure" style="{size}"></div>
                <script type="text/javascript">
                var fig = {PlotlyJson.ForScript(json)};
                Plotly.newPlot("figure", fig.data, fig.layout, {config});
                </script>
                </body>
                </html>

                """;
    }
}
