using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;

namespace PDiff.Notebooks;

/// <summary>
/// Turns one cell's kernel events into nbformat outputs, in the order they happened: stdout/stderr become
/// "stream" outputs (consecutive writes to one stream merge, as Jupyter shows them), <c>display(...)</c>
/// "display_data", a trailing expression "execute_result", and a failure one "error" output (ename, evalue,
/// traceback). Every rich output also carries "text/plain" (the kernel's plain-text formatting), so readers
/// without HTML and diffs still see something; a mime type the kernel formatted as empty (a PNG that was
/// switched off) is left out.
/// </summary>
/// <param name="plainText">
/// The value's text/plain form as it was when the event was published (the value may change later in the
/// cell, e.g. a figure displayed, then retitled), or null to format it now.
/// </param>
public sealed partial class CellOutputBuilder(int executionCount, Func<DisplayEvent, string?>? plainText = null)
{
    readonly List<object> _items = new(); // JsonObject, or StreamPart while text may still be appended
    readonly Dictionary<string, JsonObject> _displays = new(); // by the kernel's value id, for updates

    sealed class StreamPart(string name)
    {
        public readonly string Name = name;
        public readonly StringBuilder Text = new();
    }

    /// <summary>The "error" output of the first failure, or null.</summary>
    public JsonObject? Error { get; private set; }

    public void Add(KernelEvent e)
    {
        switch (e)
        {
            case StandardOutputValueProduced o:
                WriteStream("stdout", PlainText(o.FormattedValues));
                break;
            case StandardErrorValueProduced o:
                WriteStream("stderr", PlainText(o.FormattedValues));
                break;
            case ErrorProduced o: // a kernel's message about something that went wrong (e.g. a package restore)
                WriteStream("stderr", o.Message.EndsWith('\n') ? o.Message : o.Message + "\n");
                break;
            case DisplayedValueUpdated u when u.ValueId != null && _displays.TryGetValue(u.ValueId, out var shown):
                shown["data"] = Bundle(u);
                break;
            case DisplayedValueProduced or DisplayedValueUpdated:
            {
                var d = (DisplayEvent)e;
                var output = new JsonObject
                {
                    ["data"] = Bundle(d),
                    ["metadata"] = new JsonObject(),
                    ["output_type"] = "display_data",
                };
                if (d.ValueId != null) _displays[d.ValueId] = output;
                _items.Add(output);
                break;
            }
            case ReturnValueProduced r:
                _items.Add(new JsonObject
                {
                    ["data"] = Bundle(r),
                    ["execution_count"] = executionCount,
                    ["metadata"] = new JsonObject(),
                    ["output_type"] = "execute_result",
                });
                break;
            case CommandFailed f when Error == null:
                AddError(ErrorOutput(f));
                break;
        }
    }

    public void AddError(JsonObject error)
    {
        Error ??= error;
        _items.Add(error);
    }

    void WriteStream(string name, string? text)
    {
        if (string.IsNullOrEmpty(text)) return;
        if (_items.Count == 0 || _items[^1] is not StreamPart p || p.Name != name)
            _items.Add(p = new StreamPart(name));
        p.Text.Append(text);
    }

    public JsonArray ToJson() =>
        new(_items.Select(i => i switch
        {
            StreamPart p => (JsonNode)new JsonObject
            {
                ["name"] = p.Name,
                ["output_type"] = "stream",
                ["text"] = JupyterJson.Lines(p.Text.ToString()),
            },
            JsonObject o => o.DeepClone(),
            _ => throw new InvalidOperationException(),
        }).ToArray());

    static string? PlainText(IEnumerable<FormattedValue> values) =>
        values.FirstOrDefault(v => v.MimeType == PlainTextFormatter.MimeType)?.Value ?? values.FirstOrDefault()?.Value;

    /// <summary>A mime bundle as nbformat stores it: text as lines, images as one base64 string, JSON as JSON.</summary>
    JsonObject Bundle(DisplayEvent e)
    {
        var data = new JsonObject();
        foreach (var f in e.FormattedValues)
        {
            if (string.IsNullOrEmpty(f.Value) || data.ContainsKey(f.MimeType)) continue;
            data[f.MimeType] = MimeValue(f.MimeType, f.Value);
        }
        if (!data.ContainsKey(PlainTextFormatter.MimeType) && (plainText != null ? plainText(e) : PlainTextOf(e)) is { Length: > 0 } plain)
            data[PlainTextFormatter.MimeType] = JupyterJson.Lines(plain);
        return data;
    }

    /// <summary>The kernel's text/plain formatting of a displayed value lacking one, or null.</summary>
    public static string? PlainTextOf(DisplayEvent e)
    {
        if (e.Value == null || e.FormattedValues.Any(f => f.MimeType == PlainTextFormatter.MimeType)) return null;
        try { return Formatter.ToDisplayString(e.Value, PlainTextFormatter.MimeType); }
        catch (Exception) { return null; } // a formatter that throws must not fail the cell
    }

    static JsonNode MimeValue(string mime, string value)
    {
        if (mime.StartsWith("image/", StringComparison.Ordinal) && mime != "image/svg+xml")
            return JsonValue.Create(value)!; // base64, one string
        if (mime == "application/json" || mime.EndsWith("+json", StringComparison.Ordinal))
        {
            try
            {
                if (JsonNode.Parse(value) is { } json) return json;
            }
            catch (JsonException) { }
        }
        return JupyterJson.Lines(value);
    }

    /// <summary>Jupyter's "error" output for a failed cell.</summary>
    public static JsonObject ErrorOutput(CommandFailed failed)
    {
        var e = failed.Exception;
        if (e != null && !IsCompilationError(e)) return ErrorOutput(e);
        // Compile errors, and directive errors (unknown magic, bad #r) that come without an exception:
        // the message is the diagnostics, one a line, "(line,col): error ID: text".
        var message = e?.Message ?? failed.Message;
        var lines = message.Replace("\r\n", "\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var evalue = lines.Length > 0 ? lines[0] : message;
        if (message.Contains("CS0006", StringComparison.Ordinal)) // metadata file not found: usually an unbuilt library
            evalue += " (is the library built? dotnet build notebooks/Studies/PDiff.Studies.csproj -c Release)";
        if (UnknownMagic().Match(message) is { Success: true } m && KernelMagics.Contains(m.Groups[1].Value))
            evalue += $" (`#!{m.Groups[1].Value}` switches to another kernel; the headless runner hosts the C# kernel only)";
        return MakeError(e == null ? "Error" : "CompilationError", evalue, lines);
    }

    /// <summary>Jupyter's "error" output for an exception: its type, message, and the trace as lines.</summary>
    public static JsonObject ErrorOutput(Exception e)
    {
        while (e is TargetInvocationException or AggregateException && e.InnerException != null) e = e.InnerException!;
        // Frames of the kernel and of Roslyn scripting say nothing about the notebook; drop them.
        var trace = e.ToString().Replace("\r\n", "\n").Split('\n')
            .Where(l => !l.TrimStart().StartsWith("at Microsoft.CodeAnalysis.Scripting.", StringComparison.Ordinal)
                        && !l.TrimStart().StartsWith("at Microsoft.DotNet.Interactive.", StringComparison.Ordinal)
                        && !l.TrimStart().StartsWith("at PDiff.Notebooks.", StringComparison.Ordinal)
                        && !l.Contains("--- End of stack trace from previous location ---", StringComparison.Ordinal));
        return MakeError(e.GetType().FullName ?? e.GetType().Name, e.Message, trace);
    }

    static JsonObject MakeError(string ename, string evalue, IEnumerable<string> traceback) => new()
    {
        ["ename"] = ename,
        ["evalue"] = evalue,
        ["output_type"] = "error",
        ["traceback"] = new JsonArray(traceback.Select(l => (JsonNode)JsonValue.Create(l)!).ToArray()),
    };

    static bool IsCompilationError(Exception e) =>
        e.GetType().Name is "CodeSubmissionCompilationErrorException" or "CompilationErrorException";

    [GeneratedRegex(@"Unknown magic command '#!([^']+)'")]
    private static partial Regex UnknownMagic();

    /// <summary>Polyglot's other kernels: a cell switched to one cannot run in the C#-only host.</summary>
    static readonly HashSet<string> KernelMagics = new(StringComparer.OrdinalIgnoreCase)
    {
        "fsharp", "f#", "fs", "pwsh", "powershell", "javascript", "js", "markdown", "md", "mermaid", "sql", "kql",
        "python", "r", "http",
    };
}
