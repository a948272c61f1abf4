using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.CodeAnalysis.Scripting;

namespace PDiff.Notebooks;

public sealed class RunOptions
{
    /// <summary>Overrides for the "parameters" cell, in command-line order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; } = Array.Empty<KeyValuePair<string, string>>();
    /// <summary>Wall-clock limit per cell; null for none.</summary>
    public TimeSpan? TimeoutPerCell { get; init; }
    /// <summary>Render image/png for figures (needs Chromium; 1–2 s a chart).</summary>
    public bool RenderPng { get; init; } = true;
    /// <summary>
    /// Put plotly.js (4.5 MB) into the first chart output so the notebook's charts are interactive offline.
    /// Without it the notebook stays small and charts show as their embedded PNG until a cell is re-run in
    /// VS Code — the choice for notebooks committed with outputs.
    /// </summary>
    public bool InlinePlotlyJs { get; init; } = true;
    /// <summary>Also print each cell's stdout/stderr on the console as it runs (CI logs).</summary>
    public bool Echo { get; init; }
    /// <summary>Progress lines ("cell 3 ok in 1.2 s"); null for silence.</summary>
    public TextWriter? Log { get; init; }
    /// <summary>Run with the notebook's folder as current directory, as Jupyter and Polyglot do.</summary>
    public bool UseNotebookDirectory { get; init; } = true;
}

/// <param name="FailedCell">1-based position of the failing cell among all cells, or null.</param>
public sealed record RunResult(bool Succeeded, int? FailedCell, string? Error, int ExecutedCells, NotebookDocument Notebook);

/// <summary>
/// Executes a notebook's code cells in order on one <see cref="ScriptHost"/> and stores each cell's outputs
/// and execution count in the notebook, as Jupyter would. The first failing cell gets an "error" output,
/// the notebook is saved, and the run stops. The output file is rewritten after every cell, so a run cut
/// short still shows how far it got.
/// </summary>
public static class NotebookRunner
{
    public static async Task<RunResult> RunAsync(string inputPath, string outputPath, RunOptions? options = null)
    {
        options ??= new RunOptions();
        var nb = NotebookDocument.Load(inputPath);
        var notebookDir = Path.GetDirectoryName(Path.GetFullPath(inputPath))!;
        var outPath = Path.GetFullPath(outputPath);

        foreach (var cell in nb.Cells.Cast<JsonObject>())
            if (NotebookDocument.CellType(cell) == "code")
            {
                cell["outputs"] = new JsonArray();
                cell["execution_count"] = null;
            }
        Parameters.Inject(nb, options.Parameters);

        OutputCapture.EnsureInstalled();
        var bundles = new MimeBundle { RenderPng = options.RenderPng, InlinePlotlyJs = options.InlinePlotlyJs };
        var host = new ScriptHost(notebookDir, new ScriptGlobals(bundles));
        var name = Path.GetFileName(inputPath);
        var previousDir = Environment.CurrentDirectory;
        if (options.UseNotebookDirectory) Environment.CurrentDirectory = notebookDir;
        try
        {
            var count = 0;
            for (var i = 0; i < nb.Cells.Count; i++)
            {
                var cell = (JsonObject)nb.Cells[i]!;
                if (NotebookDocument.CellType(cell) != "code") continue;
                var source = NotebookDocument.Source(cell);
                if (string.IsNullOrWhiteSpace(source)) continue; // Jupyter skips empty cells too
                cell["execution_count"] = ++count;

                var outputs = new CellOutputs(options.Echo ? OutputCapture.OriginalOut : null, options.Echo ? OutputCapture.OriginalError : null);
                var watch = Stopwatch.StartNew();
                var error = await RunCellAsync(host, cell, source, $"{name}#cell{i + 1}", count, outputs, bundles, options.TimeoutPerCell);
                cell["outputs"] = outputs.ToJson();
                nb.Save(outPath);
                if (error != null) return new RunResult(false, i + 1, $"cell {i + 1} failed: {error}", count, nb);
                options.Log?.WriteLine($"[notebook] {name}: cell {i + 1} ok ({watch.Elapsed.TotalSeconds:0.0} s)");
            }
            nb.Save(outPath);
            return new RunResult(true, null, null, count, nb);
        }
        finally
        {
            if (options.UseNotebookDirectory) Environment.CurrentDirectory = previousDir;
        }
    }

    /// <summary>Runs one cell into <paramref name="outputs"/>; returns null, or "Type: message" on failure.</summary>
    static async Task<string?> RunCellAsync(ScriptHost host, JsonObject cell, string source, string label, int count,
        CellOutputs outputs, MimeBundle bundles, TimeSpan? timeout)
    {
        var language = NotebookDocument.Language(cell);
        if (!language.Equals("csharp", StringComparison.OrdinalIgnoreCase))
            return Fail(new NotSupportedException($"the cell's kernel is '{language}'; the headless runner runs C# cells only."));

        string code;
        try { code = ScriptHost.Preprocess(source); }
        catch (NotSupportedException e) { return Fail(e); }

        using var cts = new CancellationTokenSource();
        var task = Task.Run(async () =>
        {
            OutputCapture.Current = outputs; // flows into the cell's tasks and threads
            var value = await host.RunCellAsync(code, label, cts.Token);
            if (value != null)
                outputs.Add(new JsonObject
                {
                    ["data"] = bundles.Build(value),
                    ["execution_count"] = count,
                    ["metadata"] = new JsonObject(),
                    ["output_type"] = "execute_result",
                });
        });
        try
        {
            if (timeout is { } t) await task.WaitAsync(t);
            else await task;
            return null;
        }
        catch (TimeoutException) when (!task.IsCompleted)
        {
            cts.Cancel();
            // A running cell cannot be aborted in-process; the runner stops here and the CLI exits.
            return Fail(new TimeoutException($"the cell ran longer than the {timeout!.Value.TotalSeconds:0.#} s limit (--timeout-per-cell) and was abandoned."));
        }
        catch (Exception e)
        {
            return Fail(e);
        }

        string Fail(Exception e)
        {
            var output = ErrorOutput(e);
            outputs.Add(output);
            return $"{output["ename"]}: {output["evalue"]}";
        }
    }

    /// <summary>Jupyter's "error" output: exception name, message, and the trace as a list of lines.</summary>
    public static JsonObject ErrorOutput(Exception e)
    {
        while (e is TargetInvocationException or AggregateException && e.InnerException != null) e = e.InnerException!;
        string ename, evalue;
        IEnumerable<string> trace;
        if (e is CompilationErrorException ce)
        {
            ename = "CompilationError";
            var diagnostics = ce.Diagnostics.Select(d => d.ToString()).ToArray();
            evalue = diagnostics.Length > 0 ? diagnostics[0] : ce.Message;
            if (ce.Diagnostics.Any(d => d.Id == "CS0006")) // metadata file not found: usually an unbuilt library
                evalue += " (is the library built? dotnet build PDiff.Lib.csproj -c Release)";
            trace = diagnostics;
        }
        else
        {
            ename = e.GetType().FullName ?? e.GetType().Name;
            evalue = e.Message;
            // Frames of the scripting machinery say nothing about the notebook; drop them.
            trace = e.ToString().Replace("\r\n", "\n").Split('\n')
                .Where(l => !l.TrimStart().StartsWith("at Microsoft.CodeAnalysis.Scripting.", StringComparison.Ordinal)
                            && !l.TrimStart().StartsWith("at PDiff.Notebooks.", StringComparison.Ordinal)
                            && !l.Contains("--- End of stack trace from previous location ---", StringComparison.Ordinal));
        }
        return new JsonObject
        {
            ["ename"] = ename,
            ["evalue"] = evalue,
            ["output_type"] = "error",
            ["traceback"] = new JsonArray(trace.Select(l => (JsonNode)JsonValue.Create(l)!).ToArray()),
        };
    }
}
