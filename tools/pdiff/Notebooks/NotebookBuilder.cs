using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace PDiff.Notebooks;

/// <summary>
/// Writes new notebooks in the format design.md §6 fixes: nbformat 4.5, the .NET (C#) kernelspec, the
/// Polyglot kernel info, and Polyglot metadata on every code cell, so the file opens and runs in VS Code's
/// Polyglot Notebooks as well as in `pdiff notebook run`. The kernelInfo "items" list and language_info
/// are what VS Code itself writes on save; having them from the start keeps the first save diff-free.
/// <code>
/// new NotebookBuilder()
///     .Markdown("# Section 4.2: ...")
///     .Parameters("var profile = \"quick\";")
///     .Code("#r \"Studies/bin/Release/net10.0/PDiff.Studies.dll\"\nPDiff.Plots.Interactive.Register();")
///     .Save("notebooks/04-2-....ipynb");
/// </code>
/// Or from a text file, with `pdiff notebook new` (see <see cref="FromCellScript"/>).
/// </summary>
public sealed class NotebookBuilder
{
    public const string ParametersTag = "parameters";

    readonly List<JsonObject> _cells = new();
    readonly HashSet<string> _ids = new();

    public NotebookBuilder Markdown(string source) => Add(new JsonObject
    {
        ["cell_type"] = "markdown",
        ["metadata"] = new JsonObject(),
        ["source"] = JupyterJson.Lines(Trim(source)),
    });

    public NotebookBuilder Code(string source, params string[] tags) => Add(CodeCell(Trim(source), tags));

    /// <summary>The cell `--param name=value` overrides: declare each parameter with its default here.</summary>
    public NotebookBuilder Parameters(string source) => Code(source, ParametersTag);

    public NotebookDocument Build()
    {
        var root = new JsonObject
        {
            ["cells"] = new JsonArray(_cells.Select(c => (JsonNode)c.DeepClone()).ToArray()),
            ["metadata"] = NotebookMetadata(),
            ["nbformat"] = 4,
            ["nbformat_minor"] = 5,
        };
        return NotebookDocument.Parse(root.ToJsonString());
    }

    public void Save(string path) => Build().Save(path);

    public static JsonObject NotebookMetadata() => new()
    {
        ["kernelspec"] = new JsonObject
        {
            ["display_name"] = ".NET (C#)",
            ["language"] = "C#",
            ["name"] = ".net-csharp",
        },
        ["language_info"] = new JsonObject { ["name"] = "polyglot-notebook" },
        ["polyglot_notebook"] = new JsonObject
        {
            ["kernelInfo"] = new JsonObject
            {
                ["defaultKernelName"] = "csharp",
                ["items"] = new JsonArray(new JsonObject { ["aliases"] = new JsonArray(), ["name"] = "csharp" }),
            },
        },
    };

    /// <summary>Metadata of a C# code cell in Polyglot Notebooks (design.md §6), plus optional tags.</summary>
    public static JsonObject CodeCellMetadata(params string[] tags)
    {
        var m = new JsonObject
        {
            ["dotnet_interactive"] = new JsonObject { ["language"] = "csharp" },
            ["polyglot_notebook"] = new JsonObject { ["kernelName"] = "csharp" },
        };
        if (tags.Length > 0) m["tags"] = new JsonArray(tags.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
        return m;
    }

    public static JsonObject CodeCell(string source, params string[] tags) => new()
    {
        ["cell_type"] = "code",
        ["execution_count"] = null,
        ["metadata"] = CodeCellMetadata(tags),
        ["outputs"] = new JsonArray(),
        ["source"] = JupyterJson.Lines(source),
    };

    NotebookBuilder Add(JsonObject cell)
    {
        cell["id"] = NewId(JupyterJson.JoinText(cell["source"]));
        _cells.Add(cell);
        return this;
    }

    /// <summary>Ids derived from the content (not random), so regenerating a notebook gives the same file.</summary>
    string NewId(string source)
    {
        var id = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(source)))[..8].ToLowerInvariant();
        var unique = id;
        for (var k = 2; !_ids.Add(unique); k++) unique = $"{id}-{k}";
        return unique;
    }

    static string Trim(string s) => s.Replace("\r\n", "\n").Trim('\n');

    /// <summary>
    /// Builds a notebook from a plain text "cell script": cells separated by marker lines in the style of
    /// jupytext's percent format, but with the markdown written as is (not commented out):
    /// <code>
    /// // %% [markdown]
    /// # Title
    /// Some prose.
    /// // %% [parameters]
    /// var profile = "quick";
    /// // %%
    /// Console.WriteLine(profile);
    /// </code>
    /// `// %%` starts a code cell, `// %% [markdown]` a markdown cell, `// %% [parameters]` the parameters
    /// cell; `// %% [tag1, tag2]` a code cell with those tags. Text before the first marker must be blank.
    /// </summary>
    public static NotebookBuilder FromCellScript(string text, string? where = null)
    {
        var b = new NotebookBuilder();
        string? kind = null;
        string[] tags = Array.Empty<string>();
        var body = new StringBuilder();
        var lineNo = 0;
        foreach (var raw in text.Replace("\r\n", "\n").Split('\n'))
        {
            lineNo++;
            var line = raw.TrimEnd();
            if (line.StartsWith("// %%", StringComparison.Ordinal))
            {
                Flush();
                var rest = line[5..].Trim();
                if (rest.Length == 0) { kind = "code"; tags = Array.Empty<string>(); continue; }
                if (!(rest.StartsWith('[') && rest.EndsWith(']')))
                    throw new FormatException($"{where ?? "cell script"} line {lineNo}: expected `// %%`, `// %% [markdown]` or `// %% [tag, ...]`, found `{line}`.");
                var inner = rest[1..^1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                if (inner is ["markdown"] or ["md"]) { kind = "markdown"; tags = Array.Empty<string>(); }
                else { kind = "code"; tags = inner; }
                continue;
            }
            if (kind == null)
            {
                if (line.Length > 0)
                    throw new FormatException($"{where ?? "cell script"} line {lineNo}: text before the first `// %%` marker.");
                continue;
            }
            body.Append(raw).Append('\n');
        }
        Flush();
        return b;

        void Flush()
        {
            if (kind == null) return;
            var src = body.ToString();
            if (kind == "markdown") b.Markdown(src); else b.Code(src, tags);
            body.Clear();
        }
    }
}
