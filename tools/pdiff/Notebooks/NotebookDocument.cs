using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PDiff.Notebooks;

/// <summary>
/// An .ipynb file (nbformat 4) held as a JSON tree, so every field this code does not know — notebook
/// and cell metadata, attachments, unknown keys — survives a run untouched. Only code cells' outputs and
/// execution counts are rewritten.
/// </summary>
public sealed class NotebookDocument
{
    public string? Path { get; }
    public JsonObject Root { get; }

    NotebookDocument(JsonObject root, string? path)
    {
        Root = root;
        Path = path;
    }

    public JsonArray Cells => (JsonArray)Root["cells"]!;

    /// <summary>nbformat 4.5 added cell ids; older minors must not get them.</summary>
    public bool HasCellIds => (Root["nbformat_minor"]?.GetValue<int>() ?? 0) >= 5;

    public static NotebookDocument Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Notebook not found: {System.IO.Path.GetFullPath(path)}", path);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path, Encoding.UTF8));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON ({e.Message}); is it an .ipynb notebook?", e);
        }
        return FromRoot(root, path);
    }

    public static NotebookDocument Parse(string json, string? path = null) => FromRoot(JsonNode.Parse(json), path);

    static NotebookDocument FromRoot(JsonNode? root, string? path)
    {
        var where = path ?? "notebook";
        if (root is not JsonObject o)
            throw new InvalidDataException($"{where}: the top level must be a JSON object (an nbformat 4 notebook).");
        var major = o["nbformat"] is JsonValue v && v.TryGetValue<int>(out var m) ? m : -1;
        if (major != 4)
            throw new InvalidDataException($"{where}: nbformat {(major < 0 ? "missing" : major.ToString())}; only nbformat 4 notebooks are supported (save it again from Jupyter or VS Code).");
        if (o["cells"] is not JsonArray cells)
            throw new InvalidDataException($"{where}: no \"cells\" list.");
        for (var i = 0; i < cells.Count; i++)
            if (cells[i] is not JsonObject c || c["cell_type"] is not JsonValue)
                throw new InvalidDataException($"{where}: cell {i + 1} is not an object with a cell_type.");
        return new NotebookDocument(o, path);
    }

    public void Save(string path)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        // Write-then-rename: an interrupted save never leaves half a notebook behind.
        var tmp = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(tmp, ToJson(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        File.Move(tmp, path, overwrite: true);
    }

    public string ToJson() => JupyterJson.Serialize(Root);

    public static string CellType(JsonObject cell) => cell["cell_type"]!.GetValue<string>();

    public static string Source(JsonObject cell) => JupyterJson.JoinText(cell["source"]);

    public static IReadOnlyList<string> Tags(JsonObject cell) =>
        cell["metadata"]?["tags"] is JsonArray a
            ? a.Select(t => t is JsonValue v && v.TryGetValue<string>(out var s) ? s : "").ToArray()
            : Array.Empty<string>();

    /// <summary>The Polyglot language of a code cell ("csharp" when unstated, as the kernel assumes).</summary>
    public static string Language(JsonObject cell) =>
        cell["metadata"]?["polyglot_notebook"]?["kernelName"]?.GetValue<string>()
        ?? cell["metadata"]?["dotnet_interactive"]?["language"]?.GetValue<string>()
        ?? "csharp";
}
