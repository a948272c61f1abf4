using System.Diagnostics;
using PDiff.Cli;
using Xunit;

namespace PDiff.Tests.Cli;

/// <summary>
/// Tests that run <see cref="Program.Main"/> in this process swap Console.Out/Err, which are global: their
/// classes share this collection, which xunit runs alone (no other test writes to the console meanwhile).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CliInProcess
{
    public const string Name = "pdiff in-process";
}

public static class CliKit
{
    /// <summary>Runs `pdiff args` in this process; returns the exit code, what it wrote, and how long it took.</summary>
    public static (int Code, string Stdout, string Stderr, TimeSpan Took) Pdiff(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var clock = Stopwatch.StartNew();
        int code;
        try
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
            code = Program.Main(args);
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
        return (code, stdout.ToString().Replace("\r\n", "\n"), WithoutNotes(stderr.ToString().Replace("\r\n", "\n")), clock.Elapsed);
    }

    /// <summary>
    /// Stderr without pdiff's <c>pdiff: note:</c> lines. The convolution verdict's note comes once per process, at the
    /// first convolution (PDiff.TorchFixes.ConvCheck): in this shared test process whichever test runs one first would get
    /// it. A fresh process shows it (ByoConv24Tests.CliImportScoresAndPrintsTheVerdictOnce).
    /// </summary>
    public static string WithoutNotes(string stderr) =>
        string.Join("\n", stderr.Split('\n').Where(l => !l.StartsWith("pdiff: note: ", StringComparison.Ordinal)));

    /// <summary>The byo_cnn fixture folder (a TorchScript CNN, its base state dict and 40 subset checkpoints).</summary>
    public static string ByoFixture => Path.Combine(AppContext.BaseDirectory, "fixtures", "byo_cnn");
}
