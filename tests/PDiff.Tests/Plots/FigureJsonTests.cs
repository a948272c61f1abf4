using System.Text.Json;
using PDiff.Plots;
using Xunit;

namespace PDiff.Tests.Plots;

public class FigureJsonTests
{
    static JsonElement Parse(Figure f) => JsonDocument.Parse(f.ToJson()).RootElement;

    static JsonElement Trace(Figure f, int i = 0) => Parse(f).GetProperty("data")[i];

    static double[] Numbers(JsonElement a) => a.EnumerateArray().Select(e => e.GetDouble()).ToArray();

    static string[] Strings(JsonElement a) => a.EnumerateArray().Select(e => e.GetString()!).ToArray();

    static string[] Keys(JsonElement o) => o.EnumerateObject().Select(p => p.Name).ToArray();

    [Fact]
    public void ScatterWritesPlotlyAttributesAndOmitsUnsetOnes()
    {
        var t = Trace(new Figure(new Scatter
        {
            X = new[] { 1.0, 2.5, 3 },
            Y = new List<float> { 0.5f, 0.25f, 1 },
            Mode = "lines+markers",
            Name = "generated",
            Text = new[] { "a", "b", "c" },
            Marker = new Marker { Color = "#d62728", Size = new[] { 4, 8, 12 } },
        }));
        Assert.Equal("scatter", t.GetProperty("type").GetString());
        Assert.Equal("type", Keys(t)[0]); // Plotly does not care, people reading the JSON do
        Assert.Equal(new[] { 1.0, 2.5, 3 }, Numbers(t.GetProperty("x")));
        Assert.Equal(new[] { 0.5, 0.25, 1 }, Numbers(t.GetProperty("y")));
        Assert.Equal("lines+markers", t.GetProperty("mode").GetString());
        Assert.Equal("generated", t.GetProperty("name").GetString());
        Assert.Equal(new[] { "a", "b", "c" }, Strings(t.GetProperty("text")));
        Assert.Equal("#d62728", t.GetProperty("marker").GetProperty("color").GetString());
        Assert.Equal(new[] { 4.0, 8, 12 }, Numbers(t.GetProperty("marker").GetProperty("size")));
        // Nothing unset is written: Plotly's defaults apply.
        Assert.Equal(new[] { "type", "name", "x", "y", "mode", "text", "marker" }, Keys(t));
        Assert.Equal(new[] { "color", "size" }, Keys(t.GetProperty("marker")));
    }

    [Fact]
    public void NonFiniteNumbersBecomeNullGaps()
    {
        var t = Trace(new Figure(new Scatter { X = new[] { 0, 1, 2 }, Y = new[] { 1.0, double.NaN, double.PositiveInfinity } }));
        var y = t.GetProperty("y").EnumerateArray().ToArray();
        Assert.Equal(1.0, y[0].GetDouble());
        Assert.Equal(JsonValueKind.Null, y[1].ValueKind);
        Assert.Equal(JsonValueKind.Null, y[2].ValueKind);
    }

    [Fact]
    public void BarWithErrorBarsAndCategories()
    {
        var t = Trace(new Figure(new Bar
        {
            X = new[] { "K=1", "K=10", "K=200" },
            Y = new[] { 0.88, 0.9, 0.91 },
            ErrorY = new ErrorBars { Array = new[] { 0.01, 0.02, 0.005 } },
            Orientation = "v",
            Marker = new Marker { Color = new[] { "red", "green", "blue" } },
        }));
        Assert.Equal("bar", t.GetProperty("type").GetString());
        Assert.Equal(new[] { "K=1", "K=10", "K=200" }, Strings(t.GetProperty("x")));
        Assert.Equal("data", t.GetProperty("error_y").GetProperty("type").GetString());
        Assert.Equal(new[] { 0.01, 0.02, 0.005 }, Numbers(t.GetProperty("error_y").GetProperty("array")));
        Assert.True(t.GetProperty("error_y").GetProperty("visible").GetBoolean());
        Assert.Equal(new[] { "red", "green", "blue" }, Strings(t.GetProperty("marker").GetProperty("color")));
    }

    [Fact]
    public void BoxWithAllPointsJitteredBesideIt()
    {
        var t = Trace(new Figure(new Box
        {
            Y = new[] { 0.81, 0.83, 0.8 },
            Name = "original",
            BoxPoints = "all",
            Jitter = 0.3,
            PointPos = -1.8,
            BoxMean = "sd",
        }));
        Assert.Equal("box", t.GetProperty("type").GetString());
        Assert.Equal("all", t.GetProperty("boxpoints").GetString());
        Assert.Equal(0.3, t.GetProperty("jitter").GetDouble());
        Assert.Equal(-1.8, t.GetProperty("pointpos").GetDouble());
        Assert.Equal("sd", t.GetProperty("boxmean").GetString());
        Assert.Equal(new[] { 0.81, 0.83, 0.8 }, Numbers(t.GetProperty("y")));

        // boxpoints may also be false (no points), a bool where the other values are strings.
        var noPoints = Trace(new Figure(new Box { Y = new[] { 1.0 }, BoxPoints = false }));
        Assert.Equal(JsonValueKind.False, noPoints.GetProperty("boxpoints").ValueKind);
    }

    [Fact]
    public void HistogramBinsAndNormalisation()
    {
        var t = Trace(new Figure(new Histogram { X = new[] { 0.1, 0.2, 0.2, 0.9 }, NBinsX = 30, HistNorm = "probability density", Opacity = 0.6 }));
        Assert.Equal("histogram", t.GetProperty("type").GetString());
        Assert.Equal(30, t.GetProperty("nbinsx").GetInt32());
        Assert.Equal("probability density", t.GetProperty("histnorm").GetString());
        Assert.Equal(0.6, t.GetProperty("opacity").GetDouble());
        Assert.False(t.TryGetProperty("nbinsy", out _));
    }

    [Fact]
    public void HeatmapFromRectangularMatrixWritesRowsWithLabels()
    {
        var z = new double[,] { { 1, 0.5, 0.25 }, { 0.5, 1, double.NaN } };
        var t = Trace(new Figure(new Heatmap
        {
            Z = z,
            X = new[] { "a", "b", "c" },
            Y = new[] { "r1", "r2" },
            ColorScale = "Viridis",
            ZMin = 0,
            ZMax = 1,
        }));
        Assert.Equal("heatmap", t.GetProperty("type").GetString());
        var rows = t.GetProperty("z").EnumerateArray().ToArray();
        Assert.Equal(2, rows.Length);
        Assert.Equal(new[] { 1, 0.5, 0.25 }, Numbers(rows[0]));
        Assert.Equal(0.5, rows[1][0].GetDouble());
        Assert.Equal(JsonValueKind.Null, rows[1][2].ValueKind); // NaN: a blank cell
        Assert.Equal(new[] { "a", "b", "c" }, Strings(t.GetProperty("x")));
        Assert.Equal(new[] { "r1", "r2" }, Strings(t.GetProperty("y")));
        Assert.Equal("Viridis", t.GetProperty("colorscale").GetString());
        Assert.Equal(0, t.GetProperty("zmin").GetDouble());
        Assert.Equal(1, t.GetProperty("zmax").GetDouble());

        // Jagged rows and explicit [position, colour] scales are written as given.
        var jagged = Trace(new Figure(new Heatmap
        {
            Z = new[] { new[] { 1f, 2f }, new[] { 3f, 4f } },
            ColorScale = new object[] { new object[] { 0, "white" }, new object[] { 1, "black" } },
        }));
        Assert.Equal(new[] { 3.0, 4 }, Numbers(jagged.GetProperty("z")[1]));
        Assert.Equal("black", jagged.GetProperty("colorscale")[1][1].GetString());
    }

    [Fact]
    public void LayoutTitlesAxesLegendSizeAndAnnotations()
    {
        var f = new Figure(new Scatter { X = new[] { 1 }, Y = new[] { 1 } }, new Scatter { X = new[] { 2 }, Y = new[] { 2 } })
        {
            Layout = new Layout
            {
                XAxis = new Axis { Title = "max similarity", Range = new[] { 0.9, 1.0 } },
                YAxis = new Axis { Title = "accuracy", Type = "log" },
                Legend = new Legend { X = 0.01, Y = 0.99, Orientation = "h" },
                Width = 640,
                Height = 480,
                PlotBackground = "white",
                Annotations = new() { new Annotation { X = 0.5, Y = 1.1, XRef = "paper", YRef = "paper", Text = "n = 200", ShowArrow = false } },
            },
        }.WithTitles("Accuracy vs similarity");
        var root = Parse(f);
        Assert.Equal(2, root.GetProperty("data").GetArrayLength());
        var l = root.GetProperty("layout");
        Assert.Equal("Accuracy vs similarity", l.GetProperty("title").GetProperty("text").GetString());
        Assert.Equal("max similarity", l.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString());
        Assert.Equal(new[] { 0.9, 1.0 }, Numbers(l.GetProperty("xaxis").GetProperty("range")));
        Assert.Equal("log", l.GetProperty("yaxis").GetProperty("type").GetString());
        Assert.Equal("h", l.GetProperty("legend").GetProperty("orientation").GetString());
        Assert.Equal(640, l.GetProperty("width").GetInt32());
        Assert.Equal(480, l.GetProperty("height").GetInt32());
        Assert.Equal("white", l.GetProperty("plot_bgcolor").GetString());
        var a = l.GetProperty("annotations")[0];
        Assert.Equal("paper", a.GetProperty("xref").GetString());
        Assert.Equal("n = 200", a.GetProperty("text").GetString());
        Assert.False(a.GetProperty("showarrow").GetBoolean());
        Assert.False(l.TryGetProperty("margin", out _));
    }

    [Fact]
    public void ExtraAttributesAndCustomTracesAreWrittenInline()
    {
        var f = new Figure(
            new Scatter { X = new[] { 1 }, Y = new[] { 2 }, Extra = { ["fill"] = "tozeroy" } },
            new CustomTrace("violin") { Name = "v", Extra = { ["y"] = new[] { 1.0, 2.0 }, ["box"] = new { visible = true } } });
        f.Layout.Extra["uirevision"] = "keep";
        var root = Parse(f);
        Assert.Equal("tozeroy", root.GetProperty("data")[0].GetProperty("fill").GetString());
        var v = root.GetProperty("data")[1];
        Assert.Equal("violin", v.GetProperty("type").GetString());
        Assert.True(v.GetProperty("box").GetProperty("visible").GetBoolean());
        Assert.Equal("keep", root.GetProperty("layout").GetProperty("uirevision").GetString());
    }

    [Fact]
    public void HtmlEmbedsTheJsonSafelyInsideScriptElements()
    {
        var f = new Figure(new Scatter { X = new[] { 1 }, Y = new[] { 1 }, Name = "</script><b>x</b>" }).WithTitles("t");
        var fragment = f.ToNotebookHtml(fallbackPng: new byte[] { 1, 2, 3 });
        // The closing tag inside the data cannot end the script element early...
        Assert.DoesNotContain("</script><b>", fragment);
        Assert.Contains("<\\/script><b>x<\\/b>", fragment);
        // ...and the escaped text is still the same JSON value.
        var json = fragment[(fragment.IndexOf("fig = ", StringComparison.Ordinal) + 6)..fragment.IndexOf(", tries", StringComparison.Ordinal)];
        Assert.Equal("</script><b>x</b>", JsonDocument.Parse(json).RootElement.GetProperty("data")[0].GetProperty("name").GetString());
        Assert.Contains(PlotlyJs.RequiresMarker, fragment);
        Assert.Contains("src=\"data:image/png;base64,AQID\"", fragment); // the fallback picture
        Assert.DoesNotContain("plotly.js v", fragment); // the library is the host's business, not each chart's
    }

    [Fact]
    public void FragmentIdsAreUniqueWithinAPage()
    {
        var f = new Figure(new Scatter { X = new[] { 1 }, Y = new[] { 1 } });
        static string Id(string html) => html[(html.IndexOf("id=\"", StringComparison.Ordinal) + 4)..html.IndexOf("\" class", StringComparison.Ordinal)];
        Assert.NotEqual(Id(f.ToNotebookHtml()), Id(f.ToNotebookHtml()));
    }
}
