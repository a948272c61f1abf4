using System.Text.Json.Serialization;

namespace PDiff.Plots;

// The trace types the experiments need, each a plain class whose properties are Plotly attributes.
// Data arrays are typed `object` on purpose: Plotly takes numbers, strings (categories) or dates alike,
// and System.Text.Json writes an `object` property with its run-time type, so double[], int[], string[],
// List<double> or IEnumerable<float> all work. Anything Plotly supports that is not modelled here goes in
// `Extra` (written inline): `new Scatter { Extra = { ["fill"] = "tozeroy" } }`.

/// <summary>Attributes every Plotly trace shares. <see cref="Type"/> is Plotly's trace type name.</summary>
public abstract class Trace
{
    protected Trace(string type) => Type = type;

    [JsonPropertyOrder(-10)] public string Type { get; }
    [JsonPropertyOrder(-9)] public string? Name { get; set; }
    public bool? ShowLegend { get; set; }
    public string? LegendGroup { get; set; }
    public double? Opacity { get; set; }
    public string? HoverTemplate { get; set; }
    /// <summary>Axis ids for subplots ("x2", "y2"); default the first axes.</summary>
    public string? XAxis { get; set; }
    public string? YAxis { get; set; }

    [JsonExtensionData] public Dictionary<string, object?> Extra { get; set; } = new();
}

/// <summary>Marker style. <c>Color</c> and <c>Size</c> take one value or one per point.</summary>
public sealed class Marker
{
    public object? Color { get; set; }
    public object? Size { get; set; }
    public string? Symbol { get; set; }
    public double? Opacity { get; set; }
    /// <summary>A named scale ("Viridis") or a list of [position, colour] pairs; used when Color is numeric.</summary>
    public object? ColorScale { get; set; }
    public bool? ShowScale { get; set; }
    public Line? Line { get; set; }

    [JsonExtensionData] public Dictionary<string, object?> Extra { get; set; } = new();
}

public sealed class Line
{
    public string? Color { get; set; }
    public double? Width { get; set; }
    /// <summary>"solid", "dot", "dash", "longdash", "dashdot".</summary>
    public string? Dash { get; set; }
    /// <summary>"linear", "spline", "hv", ...</summary>
    public string? Shape { get; set; }
}

/// <summary>Error bars given point by point (<c>type: "data"</c>), e.g. a standard deviation over seeds.</summary>
public sealed class ErrorBars
{
    public string Type { get; set; } = "data";
    public object? Array { get; set; }
    public bool? Visible { get; set; } = true;
    public bool? Symmetric { get; set; }
    public object? ArrayMinus { get; set; }
}

/// <summary>Points and/or lines: loss curves, accuracy-versus-similarity, t-SNE embeddings.</summary>
public sealed class Scatter() : Trace("scatter")
{
    public object? X { get; set; }
    public object? Y { get; set; }
    /// <summary>"markers", "lines", "lines+markers", "text", "markers+text".</summary>
    public string? Mode { get; set; }
    public object? Text { get; set; }
    public string? TextPosition { get; set; }
    public Marker? Marker { get; set; }
    public Line? Line { get; set; }
    [JsonPropertyName("error_y")] public ErrorBars? ErrorY { get; set; }
    [JsonPropertyName("error_x")] public ErrorBars? ErrorX { get; set; }
}

/// <summary>Bars: K sweeps, per-method summaries.</summary>
public sealed class Bar() : Trace("bar")
{
    public object? X { get; set; }
    public object? Y { get; set; }
    public object? Text { get; set; }
    /// <summary>"inside", "outside", "auto", "none".</summary>
    public string? TextPosition { get; set; }
    /// <summary>"v" (default) or "h".</summary>
    public string? Orientation { get; set; }
    public Marker? Marker { get; set; }
    [JsonPropertyName("error_y")] public ErrorBars? ErrorY { get; set; }
}

/// <summary>A box per group, optionally with every point drawn beside it (accuracy strips).</summary>
public sealed class Box() : Trace("box")
{
    public object? Y { get; set; }
    /// <summary>Group labels per point; without it, one box named <see cref="Trace.Name"/>.</summary>
    public object? X { get; set; }
    /// <summary>"all", "outliers", "suspectedoutliers", or false.</summary>
    public object? BoxPoints { get; set; }
    /// <summary>Horizontal spread of the drawn points, 0..1.</summary>
    public double? Jitter { get; set; }
    /// <summary>Where the points sit relative to the box, -2..2 (0 = on top of it).</summary>
    public double? PointPos { get; set; }
    /// <summary>true (draw the mean) or "sd" (mean and standard deviation).</summary>
    public object? BoxMean { get; set; }
    public string? Orientation { get; set; }
    public Marker? Marker { get; set; }
    public Line? Line { get; set; }
}

/// <summary>A histogram binned by Plotly itself.</summary>
public sealed class Histogram() : Trace("histogram")
{
    public object? X { get; set; }
    public object? Y { get; set; }
    /// <summary>Maximum number of bins (Plotly picks "nice" bins up to this many).</summary>
    [JsonPropertyName("nbinsx")] public int? NBinsX { get; set; }
    [JsonPropertyName("nbinsy")] public int? NBinsY { get; set; }
    /// <summary>"" (counts), "percent", "probability", "density", "probability density".</summary>
    public string? HistNorm { get; set; }
    public Marker? Marker { get; set; }
}

/// <summary>A coloured matrix: IoU of wrong-prediction sets, similarity matrices.</summary>
public sealed class Heatmap() : Trace("heatmap")
{
    /// <summary>Rows of values: double[][] / List&lt;double[]&gt;, or a rectangular double[,] / float[,] / int[,].</summary>
    public object? Z { get; set; }
    /// <summary>Column labels (length = number of columns).</summary>
    public object? X { get; set; }
    /// <summary>Row labels (length = number of rows).</summary>
    public object? Y { get; set; }
    public object? ColorScale { get; set; }
    public double? ZMin { get; set; }
    public double? ZMax { get; set; }
    public bool? ShowScale { get; set; }
    public bool? ReverseScale { get; set; }
    /// <summary>Per-cell labels; with <see cref="TextTemplate"/> "%{text}" they are drawn in the cells.</summary>
    public object? Text { get; set; }
    public string? TextTemplate { get; set; }
}

/// <summary>
/// Any other Plotly trace type, attributes given through <see cref="Trace.Extra"/>:
/// <c>new CustomTrace("violin") { Extra = { ["y"] = accs, ["box"] = new { visible = true } } }</c>.
/// </summary>
public sealed class CustomTrace(string type) : Trace(type);
