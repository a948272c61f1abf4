using System.Text.Json.Serialization;

namespace PDiff.Plots;

/// <summary>
/// A title. Plotly 2 still accepts a bare string but Plotly 3 wants <c>{"text": ...}</c>, so titles are
/// always written as objects; a string converts implicitly (<c>Title = "Loss"</c>).
/// </summary>
public sealed class Title
{
    public string? Text { get; set; }
    public Font? Font { get; set; }
    public static implicit operator Title(string text) => new() { Text = text };
}

public sealed class Font
{
    public string? Family { get; set; }
    public double? Size { get; set; }
    public string? Color { get; set; }
}

public sealed class Axis
{
    public Title? Title { get; set; }
    /// <summary>[min, max] in data units (for "log" axes: log10 of them, as Plotly wants).</summary>
    public object? Range { get; set; }
    /// <summary>"linear", "log", "category", "date", or null for Plotly's guess.</summary>
    public string? Type { get; set; }
    public string? TickFormat { get; set; }
    public bool? ShowGrid { get; set; }
    public bool? ZeroLine { get; set; }
    /// <summary>"x" to lock aspect ratio to the x axis (square heatmaps).</summary>
    public string? ScaleAnchor { get; set; }
    /// <summary>Plot fraction [start, end] this axis spans (subplots).</summary>
    public double[]? Domain { get; set; }
    /// <summary>Id of the axis this one is drawn against ("x", "y").</summary>
    public string? Anchor { get; set; }
    /// <summary>"reversed" puts the first heatmap row on top.</summary>
    public object? AutoRange { get; set; }

    [JsonExtensionData] public Dictionary<string, object?> Extra { get; set; } = new();
}

public sealed class Legend
{
    public double? X { get; set; }
    public double? Y { get; set; }
    public string? XAnchor { get; set; }
    public string? YAnchor { get; set; }
    /// <summary>"v" or "h".</summary>
    public string? Orientation { get; set; }
    public Title? Title { get; set; }
}

public sealed class Margin
{
    public int? L { get; set; }
    public int? R { get; set; }
    public int? T { get; set; }
    public int? B { get; set; }
}

/// <summary>Text placed on the chart; with <c>XRef = YRef = "paper"</c> coordinates are 0..1 of the plot.</summary>
public sealed class Annotation
{
    public object? X { get; set; }
    public object? Y { get; set; }
    public string? Text { get; set; }
    public bool? ShowArrow { get; set; }
    public string? XRef { get; set; }
    public string? YRef { get; set; }
    public string? XAnchor { get; set; }
    public string? YAnchor { get; set; }
    public Font? Font { get; set; }
}

public sealed class Layout
{
    public Title? Title { get; set; }
    public Axis? XAxis { get; set; }
    public Axis? YAxis { get; set; }
    /// <summary>Second axes for subplots (traces with <c>XAxis = "x2"</c>).</summary>
    public Axis? XAxis2 { get; set; }
    public Axis? YAxis2 { get; set; }
    public Legend? Legend { get; set; }
    public bool? ShowLegend { get; set; }
    public int? Width { get; set; }
    public int? Height { get; set; }
    public Margin? Margin { get; set; }
    public Font? Font { get; set; }
    /// <summary>"group", "stack", "overlay" (bars and histograms).</summary>
    public string? BarMode { get; set; }
    /// <summary>"group" puts boxes of several traces side by side per x value.</summary>
    public string? BoxMode { get; set; }
    public string? HoverMode { get; set; }
    [JsonPropertyName("plot_bgcolor")] public string? PlotBackground { get; set; }
    [JsonPropertyName("paper_bgcolor")] public string? PaperBackground { get; set; }
    public List<Annotation>? Annotations { get; set; }

    [JsonExtensionData] public Dictionary<string, object?> Extra { get; set; } = new();
}
