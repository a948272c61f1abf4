using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PDiff.Checkpoints;
using TorchSharp;

namespace PDiff.Models;

/// <summary>A tensor of a TorchScript archive as the probe saw it.</summary>
public sealed record TorchScriptTensor(string Name, long[] Shape, string DType);

/// <summary>
/// What the probe process found in a TorchScript archive: forward's input count, the parameters and buffers,
/// and, when an input shape was given, forward's output shape on a batch of two zero images or its error.
/// </summary>
public sealed record TorchScriptReport(int Inputs, IReadOnlyList<TorchScriptTensor> Parameters, IReadOnlyList<TorchScriptTensor> Buffers,
    string? ForwardError, long[]? Output);

/// <summary>
/// The one boundary for libtorch's failures on a user's TorchScript file: libtorch 2.10 ends the whole process
/// on some damaged or hand-edited archives (a <c>code/</c> file naming an unknown type throws
/// <c>torch::jit::ErrorReport</c> where nothing catches it: abort; deeply nested code overflows the stack). So
/// the archive's bytes are first loaded by a short-lived child process, <c>PDiff.TorchScriptProbe.dll</c>
/// (tools/torchscript-probe, copied beside PDiff.Lib.dll by the build), which loads it, runs forward three times
/// on zeros of the declared input shape, and reports back as JSON. A crash, a libtorch error or a timeout
/// there becomes one <see cref="InvalidDataException"/> naming the file, what happened and the fix; only after
/// the child succeeded does <see cref="TorchScriptModel.Load"/> load the same bytes in this process.
/// Verdicts are kept per content (SHA-256) and input shape, so a file (and its copy in a zoo) is probed once
/// a process.
/// </summary>
public static class TorchScriptProbe
{
    /// <summary>The probe's file name, beside PDiff.Lib.dll.</summary>
    public const string ProbeFile = "PDiff.TorchScriptProbe.dll";

    /// <summary>
    /// How long the child may take to start, load the archive and run forward before it is stopped: 120 s, or
    /// the seconds in the environment variable <c>PDIFF_TORCHSCRIPT_TIMEOUT</c> (a very large model on a slow machine).
    /// </summary>
    public static TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(
        double.TryParse(Environment.GetEnvironmentVariable("PDIFF_TORCHSCRIPT_TIMEOUT"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 120);

    /// <summary>How many probe processes this process has started (one a distinct content and input shape).</summary>
    public static int ProcessesStarted => started;

    static int started;
    const int StderrKept = 64 * 1024, OutputKept = 16 << 20;
    static readonly ConcurrentDictionary<string, Lazy<Verdict>> verdicts = new(StringComparer.Ordinal);
    static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    /// <summary>A probe's outcome: the report, or why the archive cannot be used (without the path, which differs between copies).</summary>
    sealed record Verdict(TorchScriptReport? Report, string? Problem, bool LibtorchRefused);

    /// <summary>
    /// Probes <paramref name="bytes"/> (the content of <paramref name="path"/>) in a child process, once per
    /// content and <paramref name="inputShape"/>; returns the report or throws <see cref="InvalidDataException"/>.
    /// An environment that cannot run the probe (its file missing, no dotnet host) throws
    /// <see cref="FileNotFoundException"/> or <see cref="InvalidOperationException"/>, and is not remembered.
    /// </summary>
    public static TorchScriptReport Check(string path, byte[] bytes, long[]? inputShape)
    {
        var key = Convert.ToHexString(SHA256.HashData(bytes)) + "|" + (inputShape is null ? "" : string.Join(",", inputShape));
        var lazy = verdicts.GetOrAdd(key, _ => new Lazy<Verdict>(() => Run(bytes, inputShape), LazyThreadSafetyMode.ExecutionAndPublication));
        Verdict verdict;
        try { verdict = lazy.Value; }
        catch
        {
            verdicts.TryRemove(key, out _); // the environment failed, not the file: the next call tries again
            throw;
        }
        if (verdict.Report is { } report) return report;
        throw new InvalidDataException(verdict.LibtorchRefused
            ? $"libtorch could not load TorchScript model '{path}': {verdict.Problem} The file may be damaged or written by a PyTorch newer than " +
              $"libtorch {torch.__version__}. To fix: {TorchScriptModel.ExportHint}"
            : $"TorchScript model '{path}' cannot be used: {verdict.Problem}; it was tried in a separate process first, so nothing else was affected. " +
              $"The file is damaged, edited by hand, or holds code libtorch {torch.__version__} cannot run. To fix: {TorchScriptModel.ExportHint}");
    }

    static Verdict Run(byte[] bytes, long[]? inputShape)
    {
        var probe = ProbePath();
        var psi = StartInfo(probe, inputShape);
        Interlocked.Increment(ref started);
        using var child = Process.Start(psi) ?? throw new InvalidOperationException($"The TorchScript probe could not be started ({psi.FileName} {probe}).");
        var (finished, stdout, stderr) = Exchange(child, bytes);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var messages = lines.Select(Parse).Where(m => m is not null).Select(m => m!).ToList();
        var stage = messages.LastOrDefault(m => m.Stage is not null)?.Stage;
        var final = messages.LastOrDefault(m => m.Result is not null);
        var doing = stage == "forward" && inputShape is not null
            ? $"running its forward on a batch of zeros [2, {string.Join(", ", inputShape)}]"
            : "loading it";
        if (!finished)
            return new Verdict(null, $"libtorch did not finish {doing} within {Timeout.TotalSeconds:0} s (the probe process was stopped; " +
                "a larger model on a slower machine may need more: set PDIFF_TORCHSCRIPT_TIMEOUT to the seconds to allow)", false);

        switch (child.ExitCode)
        {
            case 0 when final is { Result: "ok" }:
                return new Verdict(new TorchScriptReport(final.Inputs, final.Parameters ?? new(), final.Buffers ?? new(), final.ForwardError, final.Output), null, false);
            case 3 when final is { Result: "error" }:
                return new Verdict(null, Sanitize(TorchScriptModel.Essence(final.Message ?? "")), true);
            case 4:
                throw new InvalidOperationException($"The TorchScript probe ({probe}) could not start libtorch: {Sanitize(final?.Message ?? FirstLine(stderr))} " +
                    "Run ./scripts/setup.sh and rebuild PDiff.Lib.");
        }
        return new Verdict(null, $"{HowItEnded(child.ExitCode, stderr)} while {doing} ({Sanitize(Reason(stderr), stop: false)})", false);
    }

    /// <summary>The dotnet host running <paramref name="probe"/> on the declared input shape, all three streams redirected.</summary>
    static ProcessStartInfo StartInfo(string probe, long[]? inputShape)
    {
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        psi.ArgumentList.Add(probe);
        if (inputShape is not null) psi.ArgumentList.Add(string.Join(",", inputShape.Select(d => d.ToString(CultureInfo.InvariantCulture))));
        // One thread is plenty for a load and three forwards on two images; libtorch would start one a core.
        psi.Environment["OMP_NUM_THREADS"] = "1";
        return psi;
    }

    /// <summary>
    /// Writes the archive to the child's stdin while reading its stdout and stderr, waits at most <see cref="Timeout"/>
    /// (then stops it with its children), and returns whether it finished in time and what it wrote.
    /// </summary>
    static (bool Finished, string Stdout, string Stderr) Exchange(Process child, byte[] bytes)
    {
        // A model's own print() also lands on stdout: the report is the last line, so the end is what is kept.
        var stdout = ReadBounded(child.StandardOutput, OutputKept, keepEnd: true);
        var stderr = ReadBounded(child.StandardError, StderrKept, keepEnd: false);
        var stdin = Task.Run(() =>
        {
            try
            {
                child.StandardInput.BaseStream.Write(bytes);
                child.StandardInput.Close();
            }
            catch (IOException) { } // the child ended before reading everything: its exit says why
        });
        var finished = child.WaitForExit(Timeout);
        if (!finished)
        {
            try { child.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        }
        child.WaitForExit(); // drains the redirected streams
        stdin.Wait();
        return (finished, stdout.Result, stderr.Result);
    }

    /// <summary>How a child that did not report success ended, in words, from its exit code and stderr.</summary>
    static string HowItEnded(int exitCode, string stderr) => exitCode switch
    {
        _ when stderr.StartsWith("Stack overflow", StringComparison.Ordinal) => "libtorch ran out of stack (the archive nests too deeply)",
        134 => "libtorch aborted",
        139 => "libtorch crashed (segmentation fault)",
        137 => "the process was killed (out of memory?)",
        var c when c > 128 && c < 160 => $"libtorch ended the process (signal {c - 128})",
        var c => $"the process ended with code {c}",
    };

    sealed record Line(string? Stage, string? Result, string? Message, int Inputs, List<TorchScriptTensor>? Parameters,
        List<TorchScriptTensor>? Buffers, string? ForwardError, long[]? Output);

    static Line? Parse(string line)
    {
        try { return JsonSerializer.Deserialize<Line>(line, Json); }
        catch (JsonException) { return null; } // anything else on stdout is not ours
    }

    /// <summary>
    /// The informative line of a crash: after C++'s "terminate called after throwing …" the exception's what()
    /// follows, usually on the next line; otherwise the first line.
    /// </summary>
    static string Reason(string stderr)
    {
        var what = stderr.IndexOf("what():", StringComparison.Ordinal);
        var text = what >= 0 ? stderr[(what + "what():".Length)..] : stderr;
        var line = FirstLine(text);
        return line.Length > 0 ? line : FirstLine(stderr) is { Length: > 0 } first ? first : "no message";
    }

    static string FirstLine(string text) =>
        text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";

    /// <summary>
    /// libtorch's words may quote the archive (type names, code): one line, no word over 48 characters (a name
    /// from the file is cut there), cleaned and cut like any file text (<see cref="SafeText"/>), ending with a full stop.
    /// </summary>
    internal static string Sanitize(string text, bool stop = true)
    {
        // "[enforce fail at inline_container.cc:215] . Couldn't parse …": the source position helps nobody here.
        text = System.Text.RegularExpressions.Regex.Replace(text, @"^\s*\[enforce fail at [^\]]*\][\s.]*", "");
        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(w => w.Length > 48 ? w[..47] + "…" : w);
        var line = SafeText.Clean(string.Join(' ', words), 160).TrimEnd(':', ' ');
        if (line.Length == 0) line = "no message";
        if (!stop) return line.TrimEnd('.');
        return line.EndsWith('.') || line.EndsWith(" characters)", StringComparison.Ordinal) ? line : line + ".";
    }

    /// <summary>A child's stream read to its end, keeping at most <paramref name="max"/> characters: the first, or the last.</summary>
    static async Task<string> ReadBounded(StreamReader reader, int max, bool keepEnd)
    {
        var kept = new StringBuilder();
        var buffer = new char[8192];
        int n;
        while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            if (keepEnd)
            {
                kept.Append(buffer, 0, n);
                if (kept.Length > 2 * max) kept.Remove(0, kept.Length - max);
            }
            else if (kept.Length < max) kept.Append(buffer, 0, Math.Min(n, max - kept.Length));
        }
        if (kept.Length > max) kept.Remove(0, kept.Length - max);
        return kept.ToString();
    }

    /// <summary>The probe beside PDiff.Lib.dll (a program, the test host, a notebook's <c>#r</c>), else beside the host program.</summary>
    static string ProbePath()
    {
        var folders = new[] { Path.GetDirectoryName(typeof(TorchScriptProbe).Assembly.Location), AppContext.BaseDirectory }
            .Where(f => !string.IsNullOrEmpty(f)).Distinct().ToList();
        foreach (var f in folders)
        {
            var path = Path.Combine(f!, ProbeFile);
            if (File.Exists(path) && File.Exists(Path.ChangeExtension(path, ".runtimeconfig.json"))) return path;
        }
        var expected = Path.Combine(folders.FirstOrDefault() ?? ".", ProbeFile);
        throw new FileNotFoundException($"The TorchScript probe {expected} (and its .runtimeconfig.json) is missing: PDiff loads a TorchScript file only " +
            "after this helper process has loaded it once, since libtorch ends the process on some damaged files. Rebuild PDiff.Lib " +
            "(dotnet build PDiff.Lib.csproj), which places it beside PDiff.Lib.dll, and keep it there when copying the library.", expected);
    }

    /// <summary>
    /// The dotnet host of the runtime running this process (&lt;root&gt;/shared/Microsoft.NETCore.App/&lt;version&gt;/ →
    /// &lt;root&gt;/dotnet), else the SDK's DOTNET_HOST_PATH, else "dotnet" on PATH.
    /// </summary>
    static string DotnetHost()
    {
        var exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        if (File.Exists(Path.Combine(root, exe))) return Path.Combine(root, exe);
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h)) return h;
        return exe;
    }
}
