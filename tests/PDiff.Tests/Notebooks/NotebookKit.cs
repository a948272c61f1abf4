using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PDiff.Notebooks;
using Xunit;

namespace PDiff.Tests.Notebooks;

/// <summary>
/// Notebook runs that start the .NET Interactive kernel run one at a time: each is a `pdiff` process
/// busy on a core for several seconds, and the machine has two.
/// </summary>
[CollectionDefinition("notebook kernel", DisableParallelization = true)]
public sealed class NotebookKernelCollection;

/// <summary>
/// Helpers shared by the notebook tests: temp folders, the #r line, running the CLI, and reading outputs
/// back. Runs go through the built CLI as its own process, as CI and users run it: the kernel it hosts
/// changes process-wide state (Console, the current directory, .NET Interactive's formatters), which must
/// not leak into the test process.
/// </summary>
public static class NotebookKit
{
    /// <summary>Generous: the first cell of a run compiles for seconds, longer on a loaded machine.</summary>
    public static readonly TimeSpan CliTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Runs the built CLI (pdiff.dll next to the tests) as its own process.</summary>
    public static (int Code, string Stdout, string Stderr) RunPdiff(params string[] args) => RunPdiff(args, null);

    /// <summary>
    /// Runs the CLI; <paramref name="onStdoutLine"/> sees each stdout line as it comes and may return true
    /// to kill the process there (exit code -1 is then reported).
    /// </summary>
    public static (int Code, string Stdout, string Stderr) RunPdiff(string[] args, Func<string, bool>? onStdoutLine)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pdiff.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var killed = false;
        var reader = Task.Run(() =>
        {
            while (p.StandardOutput.ReadLine() is { } line)
            {
                lock (stdout) stdout.Append(line).Append('\n');
                if (!killed && onStdoutLine != null && onStdoutLine(line))
                {
                    killed = true;
                    p.Kill(entireProcessTree: true);
                }
            }
        });
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(CliTimeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"pdiff {string.Join(' ', args)} did not finish within {CliTimeout.TotalSeconds} s");
        }
        reader.Wait(CliTimeout);
        lock (stdout) return (killed ? -1 : p.ExitCode, stdout.ToString(), stderr.Result);
    }

    /// <summary>`pdiff notebook run INPUT [--output OUTPUT] EXTRA... --quiet`, and `--no-png` unless <paramref name="png"/>.</summary>
    public static (int Code, string Stdout, string Stderr) RunNotebook(string input, string? output = null,
        IEnumerable<string>? extra = null, bool png = false)
    {
        var args = new List<string> { "notebook", "run", input, "--quiet" };
        if (output != null) args.AddRange(new[] { "--output", output });
        if (extra != null) args.AddRange(extra);
        if (!png) args.Add("--no-png");
        return RunPdiff(args.ToArray());
    }

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
