using System.Globalization;
using System.Text.Json.Nodes;
using PDiff.Notebooks;

namespace PDiff.Cli.Commands;

/// <summary>`pdiff notebook run|new|clear`: the headless notebook runner and its authoring helpers.</summary>
public sealed class NotebookCommand : ICommand
{
    public string Name => "notebook";
    public string Summary => "run a notebook headless (outputs stored in the .ipynb), or create/clear one";

    public string Usage => """
        usage:
          pdiff notebook run <in.ipynb> [--param name=value]... [--output out.ipynb]
                                        [--timeout-per-cell seconds] [--no-png] [--no-plotly-js] [--quiet]
              Executes the code cells in order in the real .NET Interactive C# kernel (the one VS Code's
              Polyglot Notebooks runs; in this process, in the notebook's folder) and writes their outputs
              into the notebook: stdout/stderr, display(...) (figures as HTML + PNG), the value of a trailing
              expression, and errors. Stops at the first failing cell, saves, and exits 1 printing
              "cell N failed: ..." and the cell's first line. Without --output the input file is updated in
              place, once at the end (a run killed half-way leaves it as it was); with --output that file is
              rewritten after every cell. Files are written to a temporary name, then renamed. An existing
              --output is replaced only when pdiff wrote it (see `notebook new`).
              --param  overrides a variable of the cell tagged "parameters" (repeatable), e.g. profile=smoke;
                       strings need no quotes, numbers and bools are taken as is.
              --timeout-per-cell  abandons a cell running longer than that (exit 1).
              --no-png  skips PNG rendering of figures (no Chromium needed; HTML outputs only).
              --no-plotly-js  does not put plotly.js (4.5 MB) into the first chart: a small file whose charts
                       show as PNG until re-run in VS Code (for notebooks committed with outputs).
              --quiet   does not echo cell output to the console.
          pdiff notebook new <cells.txt> <out.ipynb>
              Builds a Polyglot-ready notebook from a cell script: cells start at lines `// %%` (code),
              `// %% [markdown]`, `// %% [parameters]` or `// %% [tag, ...]`; markdown is written as is.
              The notebooks these commands write carry a "pdiff" entry in their metadata; an existing output
              file without it (your notebook, any other file, the cell script itself) is never replaced: refused
              before any work (exit 2), naming it.
          pdiff notebook clear <in.ipynb> [--output out.ipynb]
              Removes all outputs and execution counts (e.g. before committing a notebook for review).
              An existing --output is replaced only when pdiff wrote it (see `notebook new`).

        """;

    public IReadOnlyList<string> Subcommands { get; } = new[] { "run", "new", "clear" };

    public int Run(string[] args)
    {
        if (args.Length == 0) throw new UsageException("missing subcommand (run, new or clear).");
        return args[0] switch
        {
            "run" => RunNotebook(args[1..]),
            "new" => New(args[1..]),
            "clear" => Clear(args[1..]),
            _ => throw new UsageException($"unknown subcommand '{args[0]}' (expected run, new or clear)."),
        };
    }

    static int RunNotebook(string[] args)
    {
        var (input, output, options) = ParseRun(args);
        if (!File.Exists(input))
            throw new UsageException($"no such notebook: {Path.GetFullPath(input)}");
        CheckWritable("--output", output ?? input);

        RunResult result;
        try
        {
            result = NotebookRunner.RunAsync(input, output ?? input, options).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException)
        {
            throw new UsageException(e.Message); // a parameter the notebook does not declare, a file that is no notebook
        }
        return ReportRun(result, Path.GetFullPath(output ?? input));
    }

    /// <summary>The notebook, the output (null: in place) and the run's options from <c>notebook run</c>'s arguments.</summary>
    static (string Input, string? Output, RunOptions Options) ParseRun(string[] args)
    {
        string? input = null, output = null;
        var parameters = new List<KeyValuePair<string, string>>();
        TimeSpan? timeout = null;
        bool png = true, quiet = false, plotlyJs = true;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--param" or "-p":
                    parameters.Add(ParseParameter(Value(args, ref i)));
                    break;
                case "--output" or "-o":
                    if (output is not null) throw new UsageException("--output is given twice; give it once.");
                    output = Value(args, ref i);
                    break;
                case "--timeout-per-cell":
                    var s = Value(args, ref i);
                    if (timeout is not null) throw new UsageException("--timeout-per-cell is given twice; give it once.");
                    timeout = ParseTimeout(s);
                    break;
                case "--no-png":
                    png = false;
                    break;
                case "--no-plotly-js":
                    plotlyJs = false;
                    break;
                case "--quiet" or "-q":
                    quiet = true;
                    break;
                default:
                    if (args[i].StartsWith('-')) throw new UsageException($"unknown option '{args[i]}'.");
                    if (input != null) throw new UsageException($"one notebook at a time (got '{input}' and '{args[i]}').");
                    input = args[i];
                    break;
            }
        }
        if (input == null) throw new UsageException("missing the notebook to run.");
        return (input, output, new RunOptions
        {
            Parameters = parameters, TimeoutPerCell = timeout, RenderPng = png, InlinePlotlyJs = plotlyJs, Echo = !quiet, Log = Console.Error,
        });
    }

    static KeyValuePair<string, string> ParseParameter(string kv)
    {
        var eq = kv.IndexOf('=');
        if (eq <= 0 || kv[..eq].Trim().Length == 0) throw new UsageException($"--param expects name=value (e.g. --param profile=smoke), got '{kv}'.");
        return new(kv[..eq].Trim(), kv[(eq + 1)..]);
    }

    static TimeSpan ParseTimeout(string s)
    {
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var secs) || !double.IsFinite(secs) || secs <= 0 || secs > TimeSpan.MaxValue.TotalSeconds / 2)
            throw new UsageException($"--timeout-per-cell expects a positive number of seconds, got '{s}'.");
        return TimeSpan.FromSeconds(secs);
    }

    /// <summary>The run's outcome on stderr: where the notebook went, and the failing cell when one failed.</summary>
    static int ReportRun(RunResult result, string written)
    {
        if (!result.Succeeded)
        {
            Console.Error.WriteLine(result.Error);
            if (result.FailedCellFirstLine is { Length: > 0 } first)
                Console.Error.WriteLine($"  cell {result.FailedCell} begins: {first}");
            Console.Error.WriteLine($"partial results written to {written}");
            return ExitCodes.Failed;
        }
        Console.Error.WriteLine($"[notebook] {result.ExecutedCells} code cells ran; written to {written}");
        return ExitCodes.Ok;
    }

    static int New(string[] args)
    {
        if (args.FirstOrDefault(a => a.StartsWith("--", StringComparison.Ordinal)) is { } option) throw new UsageException($"unknown option '{option}'.");
        if (args.Length != 2) throw new UsageException("expected: pdiff notebook new <cells.txt> <out.ipynb>");
        if (!File.Exists(args[0]))
            throw new UsageException($"no such file: {Path.GetFullPath(args[0])}");
        CheckWritable("<out.ipynb>", args[1]);
        NotebookOutput.CheckReplaceable("<out.ipynb>", args[1], input: args[0]);
        try
        {
            var nb = NotebookBuilder.FromCellScript(File.ReadAllText(args[0]), args[0]).Build();
            NotebookOutput.Mark(nb, "pdiff notebook new");
            nb.Save(args[1]);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
        Console.Error.WriteLine($"[notebook] wrote {Path.GetFullPath(args[1])}");
        return ExitCodes.Ok;
    }

    static int Clear(string[] args)
    {
        string? input = null, output = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "--output" or "-o") output = output is null ? Value(args, ref i) : throw new UsageException("--output is given twice; give it once.");
            else if (args[i].StartsWith('-')) throw new UsageException($"unknown option '{args[i]}'.");
            else input = input == null ? args[i] : throw new UsageException("one notebook at a time.");
        }
        if (input == null) throw new UsageException("missing the notebook to clear.");
        if (!File.Exists(input))
            throw new UsageException($"no such notebook: {Path.GetFullPath(input)}");
        CheckWritable("--output", output ?? input);
        // In place (no --output, or one that is the input itself) through the input's links; else only a free file or one pdiff wrote.
        var inPlace = output is null || NotebookOutput.SameFile(output, input);
        if (!inPlace) NotebookOutput.CheckReplaceable("--output", output!);
        var nb = NotebookDocument.Load(input);
        foreach (var cell in nb.Cells.Cast<JsonObject>())
            if (NotebookDocument.CellType(cell) == "code")
            {
                cell["outputs"] = new JsonArray();
                cell["execution_count"] = null;
            }
        if (!inPlace) NotebookOutput.Mark(nb, "pdiff notebook clear");
        nb.Save(inPlace ? NotebookOutput.RealPath(input) : output!);
        return ExitCodes.Ok;
    }

    /// <summary>The notebook is written next to its temporary file in the same folder: that folder must take a file.</summary>
    static void CheckWritable(string what, string file)
    {
        if (Directory.Exists(file)) throw new UsageException($"{what} {Path.GetFullPath(file)} is a folder; give a notebook file (.ipynb).");
        Check.WritableFolder(what, Path.GetDirectoryName(Path.GetFullPath(file))!);
    }

    static string Value(string[] args, ref int i) =>
        i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : throw new UsageException($"{args[i]} needs a value.");
}
