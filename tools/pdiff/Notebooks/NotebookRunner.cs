using System.Diagnostics;
using System.Text.Json.Nodes;
using PDiff.Plots;

namespace PDiff.Notebooks;

public sealed class RunOptions
{
    /// <summary>Overrides for the "parameters" cell, in command-line order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; } = Array.Empty<KeyValuePair<string, string>>();
    /// <summary>Wall-clock limit per cell; null for none.</summary>
    public TimeSpan? TimeoutPerCell { get; init; }
    /// <summary>Render image/png for figures (needs Chromium, and time for every chart).</summary>
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
    /// <summary>
    /// Run the kernel in the notebook's folder, as VS Code does: `#r "../bin/..."` and relative file paths
    /// then mean what they mean there.
    /// </summary>
    public bool UseNotebookDirectory { get; init; } = true;
}

/// <param name="FailedCell">1-based position of the failing cell among all cells, or null.</param>
/// <param name="FailedCellFirstLine">The failing cell's first non-blank source line, or null.</param>
/// <param name="KernelStart">How long creating the kernel took.</param>
public sealed record RunResult(bool Succeeded, int? FailedCell, string? Error, int ExecutedCells, NotebookDocument Notebook,
    string? FailedCellFirstLine = null, TimeSpan KernelStart = default);

/// <summary>
/// Executes a notebook's code cells in order in the real .NET Interactive kernel (<see cref="KernelSession"/>,
/// hosted in this process) and stores each cell's outputs and execution count in the notebook, as VS Code
/// and Jupyter do. The first failing cell gets an "error" output, the notebook is saved, and the run stops.
/// </summary>
/// <remarks>
/// Saving: always atomic (temporary file, then rename). Into a separate output file after every cell, so a
/// run cut short shows how far it got; in place only once at the end, so a run killed half-way leaves the
/// input notebook — with the outputs it had — untouched. A separate output file is replaced only when pdiff
/// wrote it (<see cref="NotebookOutput"/>): a user's file there is refused before the kernel starts.
/// One run at a time per process: the kernel's Console redirection, formatters and current directory are
/// process-wide.
/// </remarks>
public static class NotebookRunner
{
    /// <summary>Read by PDiff.Plots.Interactive: "0" turns PNG rendering of figures off.</summary>
    public const string PngVariable = "PDIFF_NOTEBOOK_PNG";
    /// <summary>Read by PDiff.Plots.Interactive: "host" means the host puts plotly.js into the notebook.</summary>
    public const string PlotlyJsVariable = "PDIFF_NOTEBOOK_PLOTLYJS";

    static readonly SemaphoreSlim OneRunAtATime = new(1, 1);

    public static async Task<RunResult> RunAsync(string inputPath, string outputPath, RunOptions? options = null)
    {
        options ??= new RunOptions();
        var nb = NotebookDocument.Load(inputPath);
        var output = new OutputFile(nb, inputPath, outputPath);
        ClearOutputs(nb);
        Parameters.Inject(nb, options.Parameters); // refuses bad parameters before the kernel starts

        await OneRunAtATime.WaitAsync();
        try
        {
            using var settings = KernelProcessSettings.Apply(options, Path.GetDirectoryName(Path.GetFullPath(inputPath))!);
            // The kernel redirects Console while a cell runs; an abandoned cell leaves it redirected.
            var consoles = (Out: Console.Out, Error: Console.Error);
            var name = Path.GetFileName(inputPath);
            var watch = Stopwatch.StartNew();
            using var session = new KernelSession();
            var kernelStart = watch.Elapsed;
            options.Log?.WriteLine($"[notebook] {name}: kernel ready ({kernelStart.TotalSeconds:0.0} s)");
            return await RunCellsAsync(nb, session, options, output, consoles, name, kernelStart);
        }
        finally
        {
            OneRunAtATime.Release();
        }
    }

    /// <summary>Every non-empty code cell in order, its outputs stored as it ends; stops at the first failing cell.</summary>
    static async Task<RunResult> RunCellsAsync(NotebookDocument nb, KernelSession session, RunOptions options, OutputFile output,
        (TextWriter Out, TextWriter Error) consoles, string name, TimeSpan kernelStart)
    {
        var echoOut = options.Echo ? consoles.Out : null;
        var echoErr = options.Echo ? consoles.Error : null;
        var plotlyInlined = !options.InlinePlotlyJs;
        var count = 0;
        for (var i = 0; i < nb.Cells.Count; i++)
        {
            var cell = (JsonObject)nb.Cells[i]!;
            if (NotebookDocument.CellType(cell) != "code") continue;
            var source = NotebookDocument.Source(cell);
            if (string.IsNullOrWhiteSpace(source)) continue; // Jupyter and VS Code skip empty cells too
            cell["execution_count"] = ++count;

            var watch = Stopwatch.StartNew();
            var outcome = await session.RunCellAsync(source, NotebookDocument.Language(cell), count, options.TimeoutPerCell, echoOut, echoErr);
            if (!plotlyInlined) plotlyInlined = InlinePlotlyJs(outcome.Outputs, options.Log);
            cell["outputs"] = outcome.Outputs;
            if (outcome.Abandoned)
            {
                Console.SetOut(consoles.Out);
                Console.SetError(consoles.Error);
            }
            if (outcome.Error is { } error)
            {
                output.Save();
                return new RunResult(false, i + 1, $"cell {i + 1} failed: {error["ename"]}: {error["evalue"]}", count, nb,
                    FirstLine(source), kernelStart);
            }
            output.SaveProgress();
            options.Log?.WriteLine($"[notebook] {name}: cell {i + 1} ok ({watch.Elapsed.TotalSeconds:0.0} s)");
        }
        output.Save();
        return new RunResult(true, null, null, count, nb, null, kernelStart);
    }

    /// <summary>Code cells start without outputs or execution counts, as a fresh run in VS Code or Jupyter.</summary>
    static void ClearOutputs(NotebookDocument nb)
    {
        foreach (var cell in nb.Cells.Cast<JsonObject>())
            if (NotebookDocument.CellType(cell) == "code")
            {
                cell["outputs"] = new JsonArray();
                cell["execution_count"] = null;
            }
    }

    /// <summary>
    /// Where the run is saved. In place (no other output, or one that is the input itself): written through its links,
    /// once at the end. Else the output must be free or a notebook pdiff wrote, checked now (before the kernel starts)
    /// and at every save, and it is saved after every cell.
    /// </summary>
    sealed class OutputFile
    {
        readonly NotebookDocument nb;
        readonly bool inPlace;
        readonly string path;

        public OutputFile(NotebookDocument nb, string inputPath, string outputPath)
        {
            this.nb = nb;
            inPlace = NotebookOutput.SameFile(outputPath, inputPath);
            path = inPlace ? NotebookOutput.RealPath(inputPath) : Path.GetFullPath(outputPath);
            if (inPlace) return;
            NotebookOutput.CheckReplaceable("--output", path);
            NotebookOutput.Mark(nb, "pdiff notebook run");
        }

        public void Save()
        {
            if (!inPlace) NotebookOutput.CheckReplaceable("--output", path);
            nb.Save(path);
        }

        /// <summary>After a cell: saved to a separate output only, so a run killed half-way leaves the input as it was.</summary>
        public void SaveProgress()
        {
            if (!inPlace) Save();
        }
    }

    /// <summary>The process-wide settings a run changes (current directory, the chart variables), put back on dispose.</summary>
    sealed class KernelProcessSettings : IDisposable
    {
        readonly string previousDir = Environment.CurrentDirectory;
        readonly string? previousPng = Environment.GetEnvironmentVariable(PngVariable);
        readonly string? previousPlotly = Environment.GetEnvironmentVariable(PlotlyJsVariable);

        public static KernelProcessSettings Apply(RunOptions options, string notebookDir)
        {
            var saved = new KernelProcessSettings();
            try
            {
                if (options.UseNotebookDirectory) Environment.CurrentDirectory = notebookDir;
                Environment.SetEnvironmentVariable(PngVariable, options.RenderPng ? null : "0");
                Environment.SetEnvironmentVariable(PlotlyJsVariable, "host");
                return saved;
            }
            catch
            {
                saved.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            Environment.CurrentDirectory = previousDir;
            Environment.SetEnvironmentVariable(PngVariable, previousPng);
            Environment.SetEnvironmentVariable(PlotlyJsVariable, previousPlotly);
        }
    }

    /// <summary>
    /// Puts plotly.js before the first chart of the notebook (an HTML output carrying
    /// <see cref="PlotlyJs.RequiresMarker"/>); later charts share it, as all outputs of a notebook share one page
    /// in VS Code and Jupyter. Returns whether it was put in.
    /// </summary>
    static bool InlinePlotlyJs(JsonArray outputs, TextWriter? log)
    {
        foreach (var output in outputs.OfType<JsonObject>())
        {
            if (output["data"] is not JsonObject data || data["text/html"] is not { } html) continue;
            var text = JupyterJson.JoinText(html);
            if (!text.Contains(PlotlyJs.RequiresMarker, StringComparison.Ordinal)) continue;
            try
            {
                data["text/html"] = JupyterJson.Lines(PlotlyJs.InlineScriptTag() + text);
            }
            catch (FileNotFoundException e)
            {
                log?.WriteLine($"[notebook] charts stay static: {e.Message}");
            }
            return true;
        }
        return false;
    }

    static string FirstLine(string source)
    {
        var line = source.Replace("\r\n", "\n").Split('\n').FirstOrDefault(l => !string.IsNullOrWhiteSpace(l))?.Trim() ?? "";
        return line.Length <= 100 ? line : line[..97] + "...";
    }
}
