using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Directives;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;
using Microsoft.DotNet.Interactive.PackageManagement;

namespace PDiff.Notebooks;

/// <summary>
/// The real .NET Interactive kernel, hosted in this process and set up as dotnet-interactive sets it up for
/// VS Code's Polyglot Notebooks: a composite kernel (with the html and value kernels) whose default child is
/// the C# kernel with <c>#r "nuget: ..."</c>, the kernel helpers (<c>display</c>, <c>HTML</c>...),
/// <c>#!who</c>/<c>#!whos</c>, value sharing (<c>#!set</c>, <c>#!share</c>) and <c>#!time</c>, and the
/// browser front end's formatting (HTML by default, strings as plain text). Each cell is one <see cref="SubmitCode"/>; its kernel events
/// become nbformat outputs (<see cref="CellOutputBuilder"/>).
/// </summary>
/// <remarks>
/// The kernel works on process-wide state (Console redirection, the Formatter's registrations, the current
/// directory it resolves <c>#r</c> paths against), so a process runs one session at a time
/// (<see cref="NotebookRunner"/> takes care of that).
/// </remarks>
public sealed class KernelSession : IDisposable
{
    readonly CompositeKernel _kernel;

    /// <summary>Creates the kernel; the current directory should already be the notebook's folder.</summary>
    public KernelSession()
    {
        // BrowserFrontendEnvironment's settings in dotnet-interactive (KernelBuilder.SetUpFormatters).
        Formatter.DefaultMimeType = HtmlFormatter.MimeType;
        Formatter.SetPreferredMimeTypesFor(typeof(string), PlainTextFormatter.MimeType);

        var csharp = new CSharpKernel()
            .UseNugetDirective((kernel, resolved) =>
            {
                kernel.AddAssemblyReferences(resolved.SelectMany(r => r.AssemblyPaths));
                return Task.CompletedTask;
            })
            .UseKernelHelpers()
            .UseWho()
            .UseValueSharing();
        _kernel = new CompositeKernel { csharp, new HtmlKernel(), new KeyValueStoreKernel().UseWho() };
        _kernel.DefaultKernelName = csharp.Name;
        _kernel.AddDirective(new KernelActionDirective("#!time") { Description = "Time the execution of the cell" }, MeasureTime);
    }

    /// <summary>
    /// Runs one cell. On time-out the cell is asked to cancel and abandoned (a running submission cannot be
    /// aborted in-process): what it produced so far is returned with a TimeoutException error.
    /// </summary>
    /// <param name="kernelName">The cell's kernel (its Polyglot metadata), as VS Code sends it.</param>
    public async Task<CellOutcome> RunCellAsync(string code, string kernelName, int executionCount, TimeSpan? timeout,
        TextWriter? echoOut, TextWriter? echoErr)
    {
        using var cts = new CancellationTokenSource();
        var seen = new Collector(echoOut, echoErr);
        var builder = new CellOutputBuilder(executionCount, seen.PlainText);
        using var subscription = _kernel.KernelEvents.Subscribe(seen);
        var run = _kernel.SendAsync(new SubmitCode(code, kernelName), cts.Token);
        KernelCommandResult result;
        try
        {
            result = timeout is { } t ? await run.WaitAsync(t) : await run;
        }
        catch (TimeoutException) when (!run.IsCompleted)
        {
            cts.Cancel();
            // The command's result does not exist until the cell ends: keep what was published so far.
            foreach (var e in seen.Snapshot()) builder.Add(e);
            var error = CellOutputBuilder.ErrorOutput(new TimeoutException(
                $"the cell ran longer than the {timeout!.Value.TotalSeconds:0.#} s limit (--timeout-per-cell) and was abandoned."));
            builder.AddError(error);
            return new CellOutcome(builder.ToJson(), error, Abandoned: true);
        }
        // The command's own events (the kernel may publish others, e.g. its set-up submissions on first use).
        foreach (var e in result.Events) builder.Add(e);
        return new CellOutcome(builder.ToJson(), builder.Error, Abandoned: false);
    }

    static Task MeasureTime(KernelCommand command, KernelInvocationContext context)
    {
        var timer = Stopwatch.StartNew();
        context.OnComplete(c => c.Publish(new DisplayedValueProduced(timer.Elapsed, context.Command,
            new[] { new FormattedValue(PlainTextFormatter.MimeType, $"Wall time: {timer.Elapsed.TotalMilliseconds:0.###}ms") })));
        return Task.CompletedTask;
    }

    public void Dispose() => _kernel.Dispose();

    /// <summary>
    /// Sees the events as they are published: keeps them (for a cell abandoned on time-out), takes the
    /// text/plain form of displayed values at that moment (the value may change later in the cell), and
    /// copies stdout/stderr to the console (CI logs).
    /// </summary>
    sealed class Collector(TextWriter? stdout, TextWriter? stderr) : IObserver<KernelEvent>
    {
        readonly List<KernelEvent> _events = new();
        readonly Dictionary<KernelEvent, string?> _plain = new(ReferenceEqualityComparer.Instance);

        public IReadOnlyList<KernelEvent> Snapshot()
        {
            lock (_events) return _events.ToArray();
        }

        public string? PlainText(DisplayEvent e)
        {
            lock (_events)
                if (_plain.TryGetValue(e, out var text)) return text;
            return CellOutputBuilder.PlainTextOf(e);
        }

        public void OnNext(KernelEvent e)
        {
            var plain = e is DisplayEvent d ? CellOutputBuilder.PlainTextOf(d) : null;
            lock (_events)
            {
                _events.Add(e);
                if (e is DisplayEvent) _plain[e] = plain;
            }
            var (writer, values) = e switch
            {
                StandardOutputValueProduced o => (stdout, o.FormattedValues),
                StandardErrorValueProduced o => (stderr, o.FormattedValues),
                _ => (null, null),
            };
            if (writer == null || values == null) return;
            var text = values.FirstOrDefault(v => v.MimeType == PlainTextFormatter.MimeType)?.Value;
            if (string.IsNullOrEmpty(text)) return;
            lock (writer)
            {
                writer.Write(text);
                writer.Flush();
            }
        }

        public void OnError(Exception error) { }
        public void OnCompleted() { }
    }
}

/// <param name="Outputs">The cell's nbformat outputs.</param>
/// <param name="Error">The "error" output when the cell failed, else null.</param>
/// <param name="Abandoned">The cell was still running when the runner gave up on it.</param>
public sealed record CellOutcome(JsonArray Outputs, JsonObject? Error, bool Abandoned);
