using System.Text;
using System.Text.Json.Nodes;

namespace PDiff.Notebooks;

/// <summary>
/// Collects one cell's outputs in the order they happen: consecutive writes to the same stream merge into
/// one "stream" output, and a display in between starts a new one — as Jupyter shows them.
/// </summary>
public sealed class CellOutputs
{
    readonly object _lock = new();
    readonly List<object> _items = new(); // JsonObject, or StreamPart while text may still be appended
    readonly TextWriter? _echoOut, _echoErr;

    sealed class StreamPart(string name)
    {
        public readonly string Name = name;
        public readonly StringBuilder Text = new();
    }

    public CellOutputs(TextWriter? echoOut = null, TextWriter? echoErr = null)
    {
        _echoOut = echoOut;
        _echoErr = echoErr;
    }

    public void WriteStream(string name, string? text)
    {
        if (string.IsNullOrEmpty(text)) return;
        lock (_lock)
        {
            if (_items.Count == 0 || _items[^1] is not StreamPart p || p.Name != name)
                _items.Add(p = new StreamPart(name));
            p.Text.Append(text);
        }
        var echo = name == "stderr" ? _echoErr : _echoOut;
        if (echo != null) lock (echo) echo.Write(text);
    }

    public void Add(JsonObject output)
    {
        lock (_lock) _items.Add(output);
    }

    public JsonArray ToJson()
    {
        lock (_lock)
            return new JsonArray(_items.Select(i => i switch
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
    }
}

/// <summary>
/// Console.Out/Console.Error replacements, installed once per process, that send text to the cell being
/// run — found through an AsyncLocal, so it follows the cell's tasks and threads — and everything else
/// (the runner's own messages, other threads of a test host) to the original console.
/// </summary>
public static class OutputCapture
{
    static readonly AsyncLocal<CellOutputs?> _current = new();
    static readonly object _installLock = new();
    static bool _installed;

    public static TextWriter OriginalOut { get; private set; } = Console.Out;
    public static TextWriter OriginalError { get; private set; } = Console.Error;

    public static CellOutputs? Current
    {
        get => _current.Value;
        set => _current.Value = value;
    }

    public static void EnsureInstalled()
    {
        lock (_installLock)
        {
            if (_installed) return;
            OriginalOut = Console.Out;
            OriginalError = Console.Error;
            Console.SetOut(new RoutingWriter(OriginalOut, "stdout"));
            Console.SetError(new RoutingWriter(OriginalError, "stderr"));
            _installed = true;
        }
    }

    sealed class RoutingWriter(TextWriter fallback, string name) : TextWriter
    {
        public override Encoding Encoding => fallback.Encoding;

        public override void Write(char value) => Write(value.ToString());

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

        public override void Write(string? value)
        {
            if (_current.Value is { } cell) cell.WriteStream(name, value);
            else fallback.Write(value);
        }

        public override void Flush() => fallback.Flush();
    }
}
