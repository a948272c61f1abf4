using PDiff.Evaluation;
using PDiff.Plots;

namespace PDiff.Studies;

/// <summary>Charts of a conditional study (accuracies in %, error bars = sample std over seeds).</summary>
public static class ConditionalCharts
{
    static readonly string[] Palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b" };

    static double[] Pct(IEnumerable<double> v) => v.Select(x => 100 * x).ToArray();
    static double[] Std(IEnumerable<SeedSpread> v) => v.Select(s => double.IsNaN(s.Std) ? 0 : 100 * s.Std).ToArray();

    /// <summary>
    /// Requested validation accuracy against the obtained test (and validation) accuracy at the calibration's w,
    /// with the identity line, the zoo's validation range as a band, and the originals' test mean and best
    /// original (chosen on validation) as horizontal lines.
    /// </summary>
    public static Figure Calibration(ConditionalSummary s, string title)
    {
        var rows = s.Plan.TargetZ.Select(z => s.Setting(ConditionalStudy.SettingName(z, s.Plan.Guidance))).OfType<ConditionalOverSeeds>().ToList();
        if (rows.Count == 0) throw new ArgumentException("The summary holds no calibration settings.", nameof(s));
        var x = Pct(rows.Select(r => r.Requested.Mean));
        var fig = new Figure();
        var (lo, hi) = (Math.Min(x.Min(), 100 * s.Zoo(z => z.TestMean).Mean) - 0.5, x.Max() + 0.5);
        fig.Add(new Scatter { Name = "identity (obtained = requested)", X = new[] { lo, hi }, Y = new[] { lo, hi }, Mode = "lines", Line = new Line { Color = "black", Dash = "dash", Width = 1 } });
        void Series(string name, Func<ConditionalOverSeeds, SeedSpread> f, int c, string symbol) => fig.Add(new Scatter
        {
            Name = name, X = x, Y = Pct(rows.Select(r => f(r).Mean)), Mode = "lines+markers",
            ErrorY = new ErrorBars { Array = Std(rows.Select(f)) }, ErrorX = new ErrorBars { Array = Std(rows.Select(r => r.Requested)) },
            Line = new Line { Color = Palette[c] }, Marker = new Marker { Color = Palette[c], Size = 9, Symbol = symbol },
        });
        Series("obtained test accuracy (mean of a seed's models)", r => r.ObtainedTest, 0, "circle");
        Series("obtained validation accuracy (what was conditioned on)", r => r.ObtainedVal, 1, "diamond");
        Series("best on validation, its test accuracy", r => r.BestOnValTest, 2, "star");
        void HLine(string name, double y, string color, string dash) => fig.Add(new Scatter
        {
            Name = name, X = new[] { lo, hi }, Y = new[] { 100 * y, 100 * y }, Mode = "lines", Line = new Line { Color = color, Dash = dash, Width = 1.5 },
        });
        HLine("originals' test mean", s.Zoo(z => z.TestMean).Mean, "grey", "dot");
        HLine("best original (on val), test", s.Zoo(z => z.BestOnValTest).Mean, "#d62728", "dot");
        fig.Layout.Extra["shapes"] = new object[]
        {
            new { type = "rect", xref = "x", yref = "paper", x0 = 100 * s.Zoo(z => z.ValMin).Mean, x1 = 100 * s.Zoo(z => z.ValMax).Mean, y0 = 0, y1 = 1,
                  fillcolor = "#1f77b4", opacity = 0.08, line = new { width = 0 } },
        };
        fig.Layout.Legend = new Legend { Orientation = "h", Y = -0.25 };
        return fig.WithTitles(title, "requested validation accuracy (%) — shaded: the zoo's validation range", "accuracy (%)").WithSize(820, 560);
    }

    /// <summary>Obtained test accuracy and max IoU to the originals against w, one line per sweep target (plus the unconditional model).</summary>
    public static Figure GuidanceSweep(ConditionalSummary s, string title)
    {
        var fig = new Figure();
        var ws = s.Plan.SweepGuidance.Append(s.Plan.Guidance).Distinct().OrderBy(w => w).ToArray();
        var c = 0;
        foreach (var z in s.Plan.SweepTargetZ)
        {
            // w = 0 ignores the target: its one setting (generated at the first sweep target) stands for every target.
            var rows = ws.Select(w => s.Setting(ConditionalStudy.SettingName(w == 0 ? s.Plan.SweepTargetZ[0] : z, w))).ToList();
            var keep = rows.Select((r, i) => (r, w: ws[i])).Where(p => p.r is not null).ToList();
            var label = FormattableString.Invariant($"target z {z:+0.##;-0.##} ({100 * keep.First(p => p.w != 0).r!.Requested.Mean:F2}%)");
            var color = Palette[c++ % Palette.Length];
            fig.Add(new Scatter
            {
                Name = label + ": test acc.", X = keep.Select(p => p.w).ToArray(), Y = Pct(keep.Select(p => p.r!.ObtainedTest.Mean)), Mode = "lines+markers",
                ErrorY = new ErrorBars { Array = Std(keep.Select(p => p.r!.ObtainedTest)) }, Line = new Line { Color = color }, Marker = new Marker { Color = color, Size = 8 },
            });
            fig.Add(new Scatter
            {
                Name = label + ": max IoU to originals", X = keep.Select(p => p.w).ToArray(), Y = keep.Select(p => p.r!.MaxIou.Mean).ToArray(), Mode = "lines+markers",
                XAxis = "x2", YAxis = "y2", ErrorY = new ErrorBars { Array = keep.Select(p => double.IsNaN(p.r!.MaxIou.Std) ? 0 : p.r.MaxIou.Std).ToArray() },
                Line = new Line { Color = color, Dash = "dash" }, Marker = new Marker { Color = color, Size = 8, Symbol = "square" },
            });
        }
        if (s.Setting(ConditionalStudy.Unconditional) is { } u)
        {
            fig.Add(new Scatter { Name = "unconditional p-diff: test acc.", X = new[] { ws.Min(), ws.Max() }, Y = new[] { 100 * u.ObtainedTest.Mean, 100 * u.ObtainedTest.Mean }, Mode = "lines", Line = new Line { Color = "grey", Dash = "dot" } });
            fig.Add(new Scatter { Name = "unconditional p-diff: max IoU", X = new[] { ws.Min(), ws.Max() }, Y = new[] { u.MaxIou.Mean, u.MaxIou.Mean }, Mode = "lines", XAxis = "x2", YAxis = "y2", Line = new Line { Color = "grey", Dash = "dot" } });
        }
        var loo = s.Zoo(z => z.OriginalsMaxIouMean).Mean;
        fig.Add(new Scatter { Name = "originals (leave-one-out): max IoU", X = new[] { ws.Min(), ws.Max() }, Y = new[] { loo, loo }, Mode = "lines", XAxis = "x2", YAxis = "y2", Line = new Line { Color = "black", Dash = "dot" } });
        fig.Layout.Title = new Title { Text = title };
        fig.Layout.XAxis = new Axis { Title = new Title { Text = "guidance strength w" }, Domain = new[] { 0.0, 0.45 } };
        fig.Layout.YAxis = new Axis { Title = new Title { Text = "test accuracy (%)" } };
        fig.Layout.XAxis2 = new Axis { Title = new Title { Text = "guidance strength w" }, Domain = new[] { 0.55, 1.0 }, Anchor = "y2" };
        fig.Layout.YAxis2 = new Axis { Title = new Title { Text = "max IoU to the originals (test)" }, Anchor = "x2" };
        fig.Layout.Legend = new Legend { Orientation = "h", Y = -0.25 };
        return fig.WithSize(1000, 560);
    }
}
