using System.Reflection;
using System.Runtime.CompilerServices;

namespace PDiff.Plots;

/// <summary>
/// Makes figures and tables show inline in the .NET Interactive kernel — VS Code's Polyglot Notebooks and
/// `pdiff notebook run`, which hosts the same kernel — without this library depending on .NET Interactive
/// at compile time: if the kernel's <c>Microsoft.DotNet.Interactive.Formatting.Formatter</c> is loaded in
/// the process, formatters are registered through reflection for <see cref="Figure"/> (text/html: the
/// interactive chart with its PNG inside for viewers without scripts; image/png: the same PNG, where
/// Chromium is installed) and <see cref="Table"/> (text/html), and their short text/plain forms (the
/// kernel's default would list every property); otherwise (tests, plain programs) nothing happens.
/// </summary>
/// <remarks>
/// It runs by itself when the library is first used in a kernel (a module initializer), so
/// <c>#r "../bin/Release/net10.0/PDiff.Lib.dll"</c> is all a notebook needs; calling
/// <see cref="Register"/> in the first cell as well is harmless (notebooks written before did so).
/// Then <c>display(fig)</c> and a trailing <c>fig</c> both draw the chart.
/// A host may steer it through environment variables read at each chart: <see cref="PngVariable"/>=0
/// renders no PNG (no Chromium start), <see cref="PlotlyJsVariable"/>=host leaves putting plotly.js into
/// the notebook to the host (the runner does it once per notebook; otherwise the first chart of the
/// process carries it).
/// </remarks>
public static class Interactive
{
    const string FormattingAssembly = "Microsoft.DotNet.Interactive.Formatting";
    const string FormatterType = "Microsoft.DotNet.Interactive.Formatting.Formatter";
    const string Html = "text/html", Png = "image/png", Plain = "text/plain";

    /// <summary>"0" turns PNG rendering of figures off (HTML only).</summary>
    public const string PngVariable = "PDIFF_NOTEBOOK_PNG";

    /// <summary>"host": the host puts plotly.js into the notebook; charts never carry it themselves.</summary>
    public const string PlotlyJsVariable = "PDIFF_NOTEBOOK_PLOTLYJS";

    static readonly object Gate = new();
    static int _plotlySent;
    static bool _registered;
    static (string Key, byte[]? Png)? _lastPng; // the html and image/png formatters of one display share one render

    /// <summary>
    /// Whether figures are also rendered as PNG (a headless browser render per chart, needs Chromium): kept inside the HTML output,
    /// so notebooks still show their charts on GitHub, and given as image/png.
    /// </summary>
    public static bool EmbedPngFallback { get; set; } = true;

    [ModuleInitializer]
    internal static void RegisterWhenInKernel()
    {
        try { Register(); }
        catch (Exception) { } // never fail loading the library over charts; Register() called by hand says why
    }

    /// <summary>True when .NET Interactive was found and the formatters are (now) registered.</summary>
    public static bool Register()
    {
        lock (Gate)
        {
            if (_registered) return true;
            var formatter = FindFormatter();
            if (formatter == null) return false;
            // Two generic overloads have existed since the first releases; take whichever this version has.
            var registers = formatter.GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Where(m => m.Name == "Register" && m.IsGenericMethodDefinition && m.GetGenericArguments().Length == 1
                            && m.GetParameters() is { Length: >= 2 } ps && ps[1].ParameterType == typeof(string)
                            && ps.Skip(2).All(p => p.IsOptional))
                .ToArray();
            var withFunc = registers.FirstOrDefault(m => IsDelegate(m, typeof(Func<,>), typeof(string)));
            var withAction = registers.FirstOrDefault(m => IsDelegate(m, typeof(Action<,>), typeof(TextWriter)));
            // image/png only where a PNG can be made: an empty one would show as a broken picture.
            var png = Chromium.IsAvailable;
            if (withFunc != null)
            {
                Invoke(withFunc, typeof(Figure), new Func<Figure, string>(FigureHtml), Html);
                if (png) Invoke(withFunc, typeof(Figure), new Func<Figure, string>(FigurePngBase64), Png);
                Invoke(withFunc, typeof(Table), new Func<Table, string>(t => t.ToHtml()), Html);
                Invoke(withFunc, typeof(Figure), new Func<Figure, string>(f => f.ToString()), Plain);
                Invoke(withFunc, typeof(Table), new Func<Table, string>(t => t.ToText()), Plain);
            }
            else if (withAction != null)
            {
                Invoke(withAction, typeof(Figure), new Action<Figure, TextWriter>((f, w) => w.Write(FigureHtml(f))), Html);
                if (png) Invoke(withAction, typeof(Figure), new Action<Figure, TextWriter>((f, w) => w.Write(FigurePngBase64(f))), Png);
                Invoke(withAction, typeof(Table), new Action<Table, TextWriter>((t, w) => w.Write(t.ToHtml())), Html);
                Invoke(withAction, typeof(Figure), new Action<Figure, TextWriter>((f, w) => w.Write(f.ToString())), Plain);
                Invoke(withAction, typeof(Table), new Action<Table, TextWriter>((t, w) => w.Write(t.ToText())), Plain);
            }
            else
                throw new MissingMethodException(
                    $"{FormatterType} is loaded but has neither Register<T>(Func<T, string>, string mimeType) nor Register<T>(Action<T, TextWriter>, string mimeType): " +
                    "this .NET Interactive version is not supported; show charts with display(fig.ToPng()) or fig.SaveHtml(path) instead.");
            // The kernel formats a value in its preferred mime types (default: HTML only); a figure is both.
            // HTML first: it renders the PNG that the image/png formatter then reuses.
            SetPreferredMimeTypes(formatter, typeof(Figure), png ? new[] { Html, Png } : new[] { Html });
            _registered = true;
            return true;
        }
    }

    /// <summary>Whether the first parameter is delegateType&lt;T, second&gt;.</summary>
    static bool IsDelegate(MethodInfo m, Type delegateType, Type second)
    {
        var p = m.GetParameters()[0].ParameterType;
        return p.IsGenericType && p.GetGenericTypeDefinition() == delegateType && p.GetGenericArguments()[1] == second;
    }

    static void Invoke(MethodInfo register, Type t, Delegate f, string mimeType)
    {
        var g = register.MakeGenericMethod(t);
        var args = g.GetParameters().Select((p, i) => i switch
        {
            0 => f,
            1 => mimeType,
            _ => p.DefaultValue,
        }).ToArray();
        g.Invoke(null, args);
    }

    /// <summary>Formatter.SetPreferredMimeTypesFor(Type, params string[]), where this version has it.</summary>
    static void SetPreferredMimeTypes(Type formatter, Type t, string[] mimeTypes)
    {
        var set = formatter.GetMethod("SetPreferredMimeTypesFor", BindingFlags.Public | BindingFlags.Static, new[] { typeof(Type), typeof(string[]) });
        set?.Invoke(null, new object[] { t, mimeTypes });
    }

    static Type? FindFormatter() =>
        AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => a.GetName().Name == FormattingAssembly)
            .Select(a => a.GetType(FormatterType))
            .FirstOrDefault(t => t != null);

    static bool PngWanted =>
        EmbedPngFallback && Environment.GetEnvironmentVariable(PngVariable) != "0" && Chromium.IsAvailable;

    /// <summary>The figure's PNG, rendered once for its HTML fallback and its image/png output; null when off or failed.</summary>
    static byte[]? FigurePng(Figure fig)
    {
        if (!PngWanted) return null;
        var key = fig.ToJson();
        lock (Gate)
            if (_lastPng is { } last && last.Key == key) return last.Png;
        byte[]? png;
        try { png = fig.ToPng(); }
        catch (Exception) { png = null; } // the interactive chart still shows; the picture is a nicety
        lock (Gate) _lastPng = (key, png);
        return png;
    }

    /// <summary>Base64 as notebooks store images; empty (left out by the runner) when there is no PNG.</summary>
    static string FigurePngBase64(Figure fig) => FigurePng(fig) is { } png ? Convert.ToBase64String(png) : "";

    /// <summary>
    /// The chart fragment; the first chart a kernel shows also carries plotly.js, later ones reuse it (one page
    /// per notebook) — unless the host puts the library into the notebook itself.
    /// </summary>
    static string FigureHtml(Figure fig)
    {
        var png = FigurePng(fig);
        var lib = "";
        if (Environment.GetEnvironmentVariable(PlotlyJsVariable) != "host" && Volatile.Read(ref _plotlySent) == 0)
        {
            try
            {
                lib = PlotlyJs.InlineScriptTag();
                Volatile.Write(ref _plotlySent, 1);
            }
            catch (FileNotFoundException e)
            {
                // Still show the chart's PNG (if any) and say how to get the interactive version.
                lib = $"<div style=\"color:#a00\">{System.Net.WebUtility.HtmlEncode(e.Message)}</div>";
            }
        }
        return lib + fig.ToNotebookHtml(png);
    }
}
