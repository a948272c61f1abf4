using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using PDiff.Plots;

namespace PDiff.Notebooks;

/// <summary>
/// Turns a value into Jupyter's mime bundle ("text/plain", "text/html", "image/png"). Rich forms are
/// found by method name, not by type: the notebook #r's its own copy of PDiff.Lib.dll, whose Figure is
/// not the type this runner was compiled against. The protocol:
/// <list type="bullet">
/// <item><c>string ToNotebookHtml(byte[]? fallbackPng = null)</c>, else <c>string ToHtml()</c> → text/html;</item>
/// <item><c>byte[] ToPng()</c> (all parameters optional) → image/png;</item>
/// <item><c>ToString()</c> → text/plain (sequences as [a, b, ...]).</item>
/// </list>
/// HTML that needs plotly.js (<see cref="PlotlyJs.RequiresMarker"/>) gets the library inlined the first
/// time in a notebook; later charts of the same notebook share it (see Figure.ToNotebookHtml).
/// </summary>
public sealed class MimeBundle
{
    const int ListLimit = 20;

    public bool RenderPng { get; init; } = true;
    public bool InlinePlotlyJs { get; init; } = true;
    bool _plotlyInlined;

    public JsonObject Build(object? value, IReadOnlyCollection<string>? onlyMimeTypes = null)
    {
        var data = new JsonObject();
        switch (value)
        {
            case null:
                data["text/plain"] = JupyterJson.Lines("null");
                return data;
            case string s:
                data["text/plain"] = JupyterJson.Lines(s);
                return data;
            case byte[] bytes when IsPng(bytes):
                data["image/png"] = Convert.ToBase64String(bytes);
                data["text/plain"] = JupyterJson.Lines($"<PNG image, {bytes.Length} bytes>");
                return data;
        }

        bool Want(string mime) => onlyMimeTypes == null || onlyMimeTypes.Count == 0 || onlyMimeTypes.Contains(mime);

        var type = value.GetType();
        byte[]? png = null;
        if (RenderPng && Want("image/png") && FindMethod(type, "ToPng", typeof(byte[])) is { } toPng)
        {
            try
            {
                png = (byte[])Invoke(toPng, value)!;
            }
            catch (TargetInvocationException e)
            {
                throw new InvalidOperationException(
                    $"display: rendering {type.Name} as PNG failed: {e.InnerException?.Message} (pass --no-png to pdiff notebook run to skip PNG outputs).",
                    e.InnerException);
            }
            data["image/png"] = Convert.ToBase64String(png);
        }

        if (Want("text/html"))
        {
            string? html = null;
            if (FindMethod(type, "ToNotebookHtml", typeof(string)) is { } toNb)
                html = (string?)Invoke(toNb, value, png);
            else if (FindMethod(type, "ToHtml", typeof(string)) is { } toHtml)
                html = (string?)Invoke(toHtml, value);
            if (html != null)
            {
                if (InlinePlotlyJs && !_plotlyInlined && html.Contains(PlotlyJs.RequiresMarker, StringComparison.Ordinal))
                {
                    html = PlotlyJs.InlineScriptTag() + html;
                    _plotlyInlined = true;
                }
                data["text/html"] = JupyterJson.Lines(html);
            }
        }

        data["text/plain"] = JupyterJson.Lines(PlainText(value));
        return data;
    }

    public static string PlainText(object? value)
    {
        switch (value)
        {
            case null: return "null";
            case string s: return s;
            case IFormattable f: return f.ToString(null, CultureInfo.InvariantCulture);
        }
        var type = value.GetType();
        var overridesToString = type.GetMethod("ToString", Type.EmptyTypes)?.DeclaringType != typeof(object);
        if (value is IEnumerable e && !overridesToString)
        {
            var sb = new StringBuilder("[");
            var n = 0;
            foreach (var item in e)
            {
                if (n == ListLimit)
                {
                    var rest = e is ICollection c ? $"{c.Count - ListLimit} more" : "more";
                    sb.Append($", ... ({rest})");
                    break;
                }
                if (n++ > 0) sb.Append(", ");
                sb.Append(item is string str ? str : PlainText(item));
            }
            return sb.Append(']').ToString();
        }
        return value.ToString() ?? "";
    }

    static bool IsPng(byte[] b) => b.Length > 8 && b[0] == 0x89 && b[1] == (byte)'P' && b[2] == (byte)'N' && b[3] == (byte)'G';

    /// <summary>A public instance method of that name and return type callable with no arguments.</summary>
    static MethodInfo? FindMethod(Type t, string name, Type returns) =>
        t.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.Name == name && m.ReturnType == returns && !m.IsGenericMethodDefinition && m.GetParameters().All(p => p.IsOptional))
            .OrderBy(m => m.GetParameters().Length)
            .FirstOrDefault();

    /// <summary>Calls with defaults for every parameter, except a leading byte[] that takes <paramref name="png"/>.</summary>
    static object? Invoke(MethodInfo m, object target, byte[]? png = null)
    {
        var ps = m.GetParameters();
        var args = new object?[ps.Length];
        for (var i = 0; i < ps.Length; i++)
            args[i] = i == 0 && ps[i].ParameterType == typeof(byte[]) ? png : ps[i].HasDefaultValue ? ps[i].DefaultValue : Type.Missing;
        return m.Invoke(target, args);
    }
}
