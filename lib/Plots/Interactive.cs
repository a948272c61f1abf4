using System.Reflection;

namespace PDiff.Plots;

/// <summary>
/// Makes figures and tables show inline in VS Code's Polyglot Notebooks (the real .NET Interactive
/// kernel) without this library depending on .NET Interactive at compile time: if the kernel's
/// <c>Microsoft.DotNet.Interactive.Formatting.Formatter</c> is loaded in the process, an HTML formatter is
/// registered for <see cref="Figure"/> and <see cref="Table"/> through reflection; otherwise (our headless
/// runner, tests, plain programs) nothing happens. Notebooks call it in their first cell, right after
/// <c>#r</c>:
/// <code>
/// #r "../bin/Release/net10.0/PDiff.Lib.dll"
/// PDiff.Plots.Interactive.Register();
/// </code>
/// Then <c>display(fig)</c> — the kernel's own <c>display</c> there, the runner's in headless runs — and a
/// trailing <c>fig</c> both draw the chart. The headless runner does not need this call (it finds
/// ToNotebookHtml/ToHtml/ToPng by name), so the same cell works in both worlds.
/// </summary>
public static class Interactive
{
    const string FormattingAssembly = "Microsoft.DotNet.Interactive.Formatting";
    const string FormatterType = "Microsoft.DotNet.Interactive.Formatting.Formatter";

    static int _plotlySent;
    static bool _registered;

    /// <summary>
    /// Whether the kernel formatter should also render a PNG (1–2 s a chart, needs Chromium) and keep it
    /// inside the HTML output, so notebooks saved from VS Code still show their charts on GitHub.
    /// </summary>
    public static bool EmbedPngFallback { get; set; } = true;

    /// <summary>True when .NET Interactive was found and the formatters are (now) registered.</summary>
    public static bool Register()
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
        if (withFunc != null)
        {
            Invoke(withFunc, typeof(Figure), new Func<Figure, string>(FigureHtml));
            Invoke(withFunc, typeof(Table), new Func<Table, string>(t => t.ToHtml()));
        }
        else if (withAction != null)
        {
            Invoke(withAction, typeof(Figure), new Action<Figure, TextWriter>((f, w) => w.Write(FigureHtml(f))));
            Invoke(withAction, typeof(Table), new Action<Table, TextWriter>((t, w) => w.Write(t.ToHtml())));
        }
        else
            throw new MissingMethodException(
                $"{FormatterType} is loaded but has neither Register<T>(Func<T, string>, string mimeType) nor Register<T>(Action<T, TextWriter>, string mimeType): " +
                "this .NET Interactive version is not supported; show charts with display(fig.ToPng()) or fig.SaveHtml(path) instead.");
        _registered = true;
        return true;
    }

    /// <summary>Whether the first parameter is delegateType&lt;T, second&gt;.</summary>
    static bool IsDelegate(MethodInfo m, Type delegateType, Type second)
    {
        var p = m.GetParameters()[0].ParameterType;
        return p.IsGenericType && p.GetGenericTypeDefinition() == delegateType && p.GetGenericArguments()[1] == second;
    }

    static void Invoke(MethodInfo register, Type t, Delegate f)
    {
        var g = register.MakeGenericMethod(t);
        var args = g.GetParameters().Select((p, i) => i switch
        {
            0 => f,
            1 => "text/html",
            _ => p.DefaultValue,
        }).ToArray();
        g.Invoke(null, args);
    }

    static Type? FindFormatter() =>
        AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => a.GetName().Name == FormattingAssembly)
            .Select(a => a.GetType(FormatterType))
            .FirstOrDefault(t => t != null);

    /// <summary>The first chart a kernel shows carries plotly.js; later ones reuse it (one page per notebook).</summary>
    static string FigureHtml(Figure fig)
    {
        byte[]? png = null;
        if (EmbedPngFallback && Chromium.IsAvailable)
        {
            try { png = fig.ToPng(); }
            catch (Exception) { png = null; } // the interactive chart still shows; the fallback is a nicety
        }
        var lib = "";
        if (Volatile.Read(ref _plotlySent) == 0)
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
