using PDiff.Plots;
using Xunit;

namespace PDiff.Tests.Plots;

[Collection("chromium")]
public class FigureRenderTests
{
    const int Red = 0xd62728;

    static Figure RedMarkers() => new Figure(new Scatter
    {
        X = new[] { 1.0, 2, 3, 4 },
        Y = new[] { 2.0, 1, 3, 2.5 },
        Mode = "markers",
        Marker = new Marker { Color = "#d62728", Size = 30 },
    }).WithTitles("render test", "x", "y");

    [ChromiumFact]
    public void PngHasTheRequestedSizeAndShowsTheChart()
    {
        var png = RedMarkers().ToPng(320, 240);
        Assert.Equal((320, 240), PngImage.ReadSize(png));
        var img = PngImage.Decode(png);
        // Four 30-px markers: a few thousand pixels of the marker colour (anti-aliased edges aside).
        var red = img.CountNear(Red);
        Assert.InRange(red, 4 * 300, 4 * 1000);
        // Axes, grid, labels and the white background make many colours; a blank page has one.
        Assert.True(img.DistinctColours > 20, $"only {img.DistinctColours} distinct colours");
    }

    [ChromiumFact]
    public void BlankPageIsDetectedAsBlank()
    {
        // The control for the test above: the same decoder on an empty page sees one colour, no marker.
        var png = Chromium.Screenshot("<!DOCTYPE html><html><body style=\"background:white\"></body></html>", 120, 80);
        var img = PngImage.Decode(png);
        Assert.Equal((120, 80), (img.Width, img.Height));
        Assert.Equal(1, img.DistinctColours);
        Assert.Equal(0, img.CountNear(Red));
    }

    [ChromiumFact]
    public void EveryTraceTypeRendersAtPlotlysDefaultSize()
    {
        // One page, three panels: bars + box (x/y), histogram (x2/y2), heatmap (x3/y3). The layout's own
        // size (notebook test) or Plotly's default decides the picture's size when none is asked for.
        var f = new Figure(
            new Bar { X = new[] { "a", "b" }, Y = new[] { 1.0, 2 }, Marker = new Marker { Color = "#1f77b4" } },
            new Box { Y = new[] { 1.0, 1.5, 2, 2.2 }, BoxPoints = "all", Name = "box", Marker = new Marker { Color = "#2ca02c" } },
            new Histogram { X = new[] { 0.1, 0.2, 0.2, 0.4 }, NBinsX = 4, XAxis = "x2", YAxis = "y2", Marker = new Marker { Color = "#9467bd" } },
            new Heatmap
            {
                Z = new double[,] { { 0, 1 }, { 1, 0 } }, XAxis = "x3", YAxis = "y3", ShowScale = false,
                ColorScale = new object[] { new object[] { 0, "#000000" }, new object[] { 1, "#ffff00" } },
            });
        f.Layout.XAxis = new Axis { Domain = new[] { 0, 0.3 } };
        f.Layout.XAxis2 = new Axis { Domain = new[] { 0.35, 0.65 }, Anchor = "y2" };
        f.Layout.YAxis2 = new Axis { Anchor = "x2" };
        f.Layout.Extra["xaxis3"] = new Axis { Domain = new[] { 0.7, 1.0 }, Anchor = "y3" };
        f.Layout.Extra["yaxis3"] = new Axis { Anchor = "x3" };
        f.Layout.ShowLegend = false;
        var png = f.ToPng();
        Assert.Equal((Figure.DefaultWidth, Figure.DefaultHeight), PngImage.ReadSize(png));
        var img = PngImage.Decode(png);
        Assert.True(img.CountNear(0x1f77b4) > 500, "bars missing");
        Assert.True(img.CountNear(0x2ca02c) > 50, "box missing");
        Assert.True(img.CountNear(0x9467bd) > 500, "histogram missing");
        Assert.True(img.CountNear(0x000000, 4) > 2000, "dark heatmap cells missing");
        Assert.True(img.CountNear(0xffff00, 4) > 2000, "yellow heatmap cells missing");
    }

    [Fact]
    public void MissingChromiumGivesTheSetupCommand()
    {
        var old = Environment.GetEnvironmentVariable(Chromium.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(Chromium.EnvironmentVariable, "/nonexistent/chromium");
            Assert.False(Chromium.IsAvailable);
            var e = Assert.Throws<FileNotFoundException>(() => Chromium.Screenshot("<html></html>", 10, 10));
            Assert.Contains("scripts/setup.sh", e.Message);
            Assert.Contains("/nonexistent/chromium", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Chromium.EnvironmentVariable, old);
        }
    }

    [Fact]
    public void BadPngSizeIsRefusedBeforeStartingABrowser()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RedMarkers().ToPng(0, 100));
        Assert.Contains("0x100", e.Message);
    }

    [Fact]
    public void MissingPlotlyGivesTheSetupCommand()
    {
        var old = Environment.GetEnvironmentVariable(PlotlyJs.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(PlotlyJs.EnvironmentVariable, "/nonexistent/plotly.min.js");
            Assert.Null(PlotlyJs.TryLocate());
            var e = Assert.Throws<FileNotFoundException>(() => PlotlyJs.Locate());
            Assert.Contains("scripts/setup.sh", e.Message);
            Assert.Contains("/nonexistent/plotly.min.js", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(PlotlyJs.EnvironmentVariable, old);
        }
    }

    [Fact]
    public void StandalonePageInlinesPlotlyOrReferencesTheLocalCopy()
    {
        if (PlotlyJs.TryLocate() is not { } path) return; // covered by MissingPlotlyGivesTheSetupCommand
        var f = RedMarkers();
        var inline = f.ToHtml();
        Assert.StartsWith("<!DOCTYPE html>", inline);
        Assert.Contains("plotly.js v", inline); // the library itself is in the page
        Assert.Contains("Plotly.newPlot(\"figure\"", inline);
        Assert.Contains("\"#d62728\"", inline);
        Assert.DoesNotContain(" src=", inline); // nothing to fetch: works offline, anywhere
        var small = f.ToHtml(inlinePlotly: false);
        Assert.Contains(new Uri(path).AbsoluteUri, small);
        Assert.True(small.Length < 5000, $"referencing page is {small.Length} chars");
    }
}
