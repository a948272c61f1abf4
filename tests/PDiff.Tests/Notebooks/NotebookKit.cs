using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PDiff.Notebooks;

namespace PDiff.Tests.Notebooks;

/// <summary>Helpers shared by the notebook tests: temp folders, the #r line, and reading outputs back.</summary>
public static class NotebookKit
{
    /// <summary>A fresh folder under the system temp dir (removed by the caller's Dispose).</summary>
    public static string TempDir() => Directory.CreateTempSubdirectory("pdiff-nb-test-").FullName;

    /// <summary>
    /// `#r` of the PDiff.Lib.dll next to the tests, written relative to <paramref name="notebookDir"/>: the
    /// runner must resolve it against the notebook's folder, not the current directory.
    /// </summary>
    public static string LibReference(string notebookDir)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "PDiff.Lib.dll");
        return $"#r \"{Path.GetRelativePath(notebookDir, dll).Replace('\\', '/')}\"";
    }

    public static JsonObject Cell(NotebookDocument nb, int index) => (JsonObject)nb.Cells[index]!;

    public static JsonObject[] Outputs(NotebookDocument nb, int index) =>
        Cell(nb, index)["outputs"]!.AsArray().Select(o => (JsonObject)o!).ToArray();

    public static string Text(JsonNode? multiline) => JupyterJson.JoinText(multiline);

    public static int? ExecutionCount(NotebookDocument nb, int index) =>
        Cell(nb, index)["execution_count"] is JsonValue v ? v.GetValue<int>() : null;

    /// <summary>The exact bytes of each cell object in the file, as written (for byte-identity checks).</summary>
    public static List<byte[]> CellBytes(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions());
        var slices = new List<byte[]>();
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("cells"))
            {
                reader.Read(); // StartArray
                while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                {
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    slices.Add(bytes[start..(int)reader.BytesConsumed]);
                }
                break;
            }
        }
        return slices;
    }

    public static string Utf8(byte[] b) => Encoding.UTF8.GetString(b);
}
