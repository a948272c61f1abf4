using PDiff.Cli;
using Xunit;
using static PDiff.Tests.Cli.CliKit;

namespace PDiff.Tests.Cli;

/// <summary>--help on every command and subcommand; the one error path (exit codes, one line, --verbose).</summary>
[Collection(CliInProcess.Name)]
public sealed class HelpAndErrorTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("pdiff-cli-help-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    public static TheoryData<string[], string, string?> HelpCases => new()
    {
        // args, a line the usage must have, a line of another subcommand it must not have
        { new[] { "--help" }, "commands:", null },
        { new[] { "-h" }, "commands:", null },
        { new[] { "zoo", "--help" }, "pdiff zoo build --out <dir>", null },
        { new[] { "zoo", "build", "--help" }, "pdiff zoo build --out <dir>", "pdiff zoo import" },
        { new[] { "zoo", "build", "--out", "x", "--k", "0", "-h" }, "pdiff zoo build --out <dir>", "pdiff zoo info" },
        { new[] { "zoo", "import", "--help" }, "pdiff zoo import --checkpoints <dir of .pth>", "pdiff zoo build" },
        { new[] { "zoo", "info", "--help" }, "pdiff zoo info <dir>", "pdiff zoo subsets" },
        { new[] { "zoo", "subsets", "-h" }, "pdiff zoo subsets (--arch <arch>", "pdiff zoo info" },
        { new[] { "notebook", "--help" }, "pdiff notebook run <in.ipynb>", null },
        { new[] { "notebook", "run", "--help" }, "pdiff notebook run <in.ipynb>", "pdiff notebook new" },
        { new[] { "notebook", "new", "-h" }, "pdiff notebook new <cells.txt> <out.ipynb>", "pdiff notebook clear" },
        { new[] { "notebook", "clear", "--help" }, "pdiff notebook clear <in.ipynb>", "pdiff notebook run" },
        { new[] { "run", "--help" }, "pdiff run [--dataset fashion-mnist|mnist]", null },
        { new[] { "run", "--profile", "smoke", "-h", "--verbose" }, "pdiff run --zoo <zoo dir>", null },
    };

    [Theory]
    [MemberData(nameof(HelpCases))]
    public void HelpWorksOnEveryCommandAndSubcommand(string[] args, string has, string? hasNot)
    {
        var (code, stdout, stderr, _) = Pdiff(args);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Equal("", stderr);
        Assert.StartsWith("usage", stdout);
        Assert.Contains(has, stdout);
        if (hasNot is not null) Assert.DoesNotContain(hasNot, stdout);
    }

    [Fact]
    public void SubcommandHelpKeepsTheWholeParagraph()
    {
        var (_, stdout, _, _) = Pdiff("zoo", "import", "--help");
        Assert.Contains("--torchscript <model.pt>", stdout);
        Assert.Contains("Then `pdiff run --zoo <dir>` trains p-diff on it and evaluates.", stdout);
        (_, stdout, _, _) = Pdiff("notebook", "run", "-h");
        Assert.Contains("--quiet   does not echo cell output to the console.", stdout);
    }

    [Fact]
    public void HelpConfigListsFlagsOnce()
    {
        var (code, stdout, _, _) = Pdiff("run", "--help-config");
        Assert.Equal(0, code);
        Assert.Contains("  --ae-steps ", stdout);
        Assert.Contains("  --diff-lr ", stdout);
        Assert.DoesNotContain("----", stdout);
    }

    [Fact]
    public void NoArgumentsPrintsTheCommandsAndExits2()
    {
        var (code, stdout, _, _) = Pdiff();
        Assert.Equal(2, code);
        Assert.Contains("zoo", stdout);
        Assert.Contains("exit codes", stdout);
    }

    [Fact]
    public void VerboseIsAcceptedByEveryCommand()
    {
        foreach (var args in new[] { new[] { "zoo", "build", "--verbose", "--k", "0", "--out", _dir }, new[] { "run", "--verbose", "--runs", "0" },
                     new[] { "notebook", "run", "--verbose" }, new[] { "zoo", "info", "--verbose", Path.Combine(_dir, "nope") } })
        {
            var (code, _, stderr, _) = Pdiff(args);
            Assert.True(code is 1 or 2, $"{string.Join(" ", args)}: exit {code}, {stderr}");
            Assert.DoesNotContain("unknown option", stderr);
            Assert.DoesNotContain("--verbose", stderr.Split('\n')[0]);
        }
    }

    [Fact]
    public void AnUnexpectedExceptionIsAnInternalErrorOnOneLineAndItsTraceOnlyWithVerbose()
    {
        Exception thrown;
        try { throw new NullReferenceException("a bug"); }
        catch (Exception e) { thrown = e; }

        var (code, stderr) = Capture(() => Program.ReportError("pdiff zoo build", thrown, verbose: false));
        Assert.Equal(1, code);
        Assert.Equal("pdiff zoo build: internal error: System.NullReferenceException: a bug (run with --verbose for the stack trace)\n", stderr);

        (code, stderr) = Capture(() => Program.ReportError("pdiff zoo build", thrown, verbose: true));
        Assert.Equal(1, code);
        Assert.StartsWith("pdiff zoo build: internal error: System.NullReferenceException: a bug\n", stderr);
        Assert.Contains("   at ", stderr);

        // Wrappers are looked through: the message is the real one.
        (code, stderr) = Capture(() => Program.ReportError("pdiff run", new AggregateException(new IOException("disk full")), verbose: false));
        Assert.Equal((1, "pdiff run: disk full\n"), (code, stderr));
        (code, stderr) = Capture(() => Program.ReportError("pdiff run", new UsageException("--k must be at least 1, not 0."), verbose: false));
        Assert.Equal(2, code);
        Assert.StartsWith("pdiff run: --k must be at least 1, not 0.\n", stderr);
    }

    [Fact]
    public void AManifestWithMissingFieldsNeverEscapesAsAnUnhandledException()
    {
        var zoo = Path.Combine(_dir, "half-zoo");
        Directory.CreateDirectory(zoo);
        File.WriteAllText(Path.Combine(zoo, "manifest.json"), "{\"format\": \"pdiff-zoo\", \"version\": 1}");
        var (code, _, stderr, _) = Pdiff("zoo", "info", zoo);
        Assert.True(code == 1, stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", stderr);
        (code, _, stderr, _) = Pdiff("zoo", "info", zoo, "--verbose");
        Assert.Equal(1, code);
    }

    static (int Code, string Stderr) Capture(Func<int> f)
    {
        var old = Console.Error;
        using var w = new StringWriter();
        Console.SetError(w);
        try { return (f(), w.ToString().Replace("\r\n", "\n")); }
        finally { Console.SetError(old); }
    }
}
