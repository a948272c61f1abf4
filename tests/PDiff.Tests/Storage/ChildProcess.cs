using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace PDiff.Tests.Storage;

/// <summary>
/// A program built beside the tests (PDiff.LoadCheck.dll, pdiff.dll) running as a child process whose stdout is read
/// line by line as it comes, so a test can act at a point the child reports (e.g. "held"), then SIGKILL it. The
/// timeouts are safety nets against a hung child, not measurements.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);
    readonly Process process;
    readonly BlockingCollection<string> lines = new();
    readonly StringBuilder stderr = new();

    ChildProcess(Process p) => process = p;

    public int Pid => process.Id;

    public static ChildProcess Start(string dll, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo(TestHost.Dotnet)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var child = new ChildProcess(Process.Start(psi)!);
        child.process.OutputDataReceived += (_, e) => { if (e.Data is null) child.lines.CompleteAdding(); else child.lines.Add(e.Data); };
        child.process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (child.stderr) child.stderr.AppendLine(e.Data); };
        child.process.BeginOutputReadLine();
        child.process.BeginErrorReadLine();
        return child;
    }

    public static ChildProcess Start(string dll, params string[] args) => Start(dll, null, args);

    /// <summary>The next line the child writes; fails when it ends first.</summary>
    public string NextLine()
    {
        if (lines.TryTake(out var line, Patience)) return line;
        throw new InvalidOperationException($"the child wrote no further line (exited: {process.HasExited}); stderr: {Stderr}");
    }

    public string Stderr { get { lock (stderr) return stderr.ToString(); } }

    /// <summary>Waits for the child to end; returns its exit code and the stdout lines not yet taken.</summary>
    public (int Code, string Remaining) WaitForExit()
    {
        if (!process.WaitForExit(Patience)) { Kill(); throw new TimeoutException("the child did not end"); }
        process.WaitForExit();
        return (process.ExitCode, string.Join("\n", lines.GetConsumingEnumerable()));
    }

    /// <summary>Writes a line to the child's stdin.</summary>
    public void Send(string line)
    {
        process.StandardInput.WriteLine(line);
        process.StandardInput.Flush();
    }

    /// <summary>Closes the child's stdin (a holder then lets go and exits).</summary>
    public void CloseInput() => process.StandardInput.Close();

    /// <summary>SIGKILL: no finally blocks, no Dispose; only the kernel cleans up.</summary>
    public void Kill()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    public void Dispose()
    {
        try { Kill(); } catch (InvalidOperationException) { }
        process.Dispose();
    }
}
