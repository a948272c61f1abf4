using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PDiff.Notebooks;

/// <summary>
/// Writes JSON exactly as Jupyter does (nbformat: Python's <c>json.dumps(nb, sort_keys=True, indent=1,
/// ensure_ascii=False)</c> plus a final newline) — VS Code's ipynb serializer also sorts keys and keeps a
/// 1-space indent — so a notebook run here diffs cleanly against one saved by either. System.Text.Json's
/// own writer cannot do this: it escapes non-ASCII and HTML characters and indents by two.
/// </summary>
public static class JupyterJson
{
    public static string Serialize(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(sb, node, 0);
        return sb.Append('\n').ToString();
    }

    static void Write(StringBuilder sb, JsonNode? node, int level)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject o when o.Count == 0:
                sb.Append("{}");
                break;
            case JsonObject o:
            {
                sb.Append("{\n");
                var first = true;
                foreach (var (key, value) in o.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (!first) sb.Append(",\n");
                    first = false;
                    sb.Append(' ', level + 1);
                    WriteString(sb, key);
                    sb.Append(": ");
                    Write(sb, value, level + 1);
                }
                sb.Append('\n').Append(' ', level).Append('}');
                break;
            }
            case JsonArray a when a.Count == 0:
                sb.Append("[]");
                break;
            case JsonArray a:
            {
                sb.Append("[\n");
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(",\n");
                    sb.Append(' ', level + 1);
                    Write(sb, a[i], level + 1);
                }
                sb.Append('\n').Append(' ', level).Append(']');
                break;
            }
            case JsonValue v:
                WriteValue(sb, v);
                break;
        }
    }

    static void WriteValue(StringBuilder sb, JsonValue v)
    {
        switch (v.GetValueKind())
        {
            case JsonValueKind.String:
                WriteString(sb, v.GetValue<string>());
                break;
            case JsonValueKind.True:
                sb.Append("true");
                break;
            case JsonValueKind.False:
                sb.Append("false");
                break;
            case JsonValueKind.Null:
                sb.Append("null");
                break;
            case JsonValueKind.Number:
                // Parsed numbers keep their original text; numbers made here are integers.
                sb.Append(v.TryGetValue<JsonElement>(out var e) ? e.GetRawText() : v.ToJsonString());
                break;
            default:
                sb.Append(v.ToJsonString());
                break;
        }
    }

    /// <summary>Python's <c>json</c> escaping with ensure_ascii=False: quote, backslash and C0 controls only.</summary>
    static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>
    /// Text as Jupyter stores it in a notebook: a list of lines, each keeping its "\n" (the last without).
    /// </summary>
    public static JsonArray Lines(string text)
    {
        var a = new JsonArray();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
            if (text[i] == '\n')
            {
                a.Add(text[start..(i + 1)]);
                start = i + 1;
            }
        if (start < text.Length) a.Add(text[start..]);
        return a;
    }

    /// <summary>A multiline field (string or list of strings, both valid nbformat) as one string.</summary>
    public static string JoinText(JsonNode? node) => node switch
    {
        null => "",
        JsonArray a => string.Concat(a.Select(x => x?.GetValue<string>() ?? "")),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw new InvalidDataException($"Expected a string or a list of strings, found {node.ToJsonString()}."),
    };
}
