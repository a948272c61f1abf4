using Xunit;
using static PDiff.Tests.Cli.CliKit;

namespace PDiff.Tests.Cli;

/// <summary>Files the bad-input cases point at: truncated manifests and checkpoints, a file where a folder is wanted.</summary>
public sealed class BadInputFiles : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("pdiff-cli-bad-").FullName;

    public BadInputFiles()
    {
        // A zoo folder whose manifest.json was cut short (a copy interrupted, a disk that filled up).
        Directory.CreateDirectory(Path.Combine(Root, "trunc-zoo"));
        File.WriteAllText(Path.Combine(Root, "trunc-zoo", "manifest.json"), "{\n  \"format\": \"pdiff-zoo\",\n  \"version\": 1,\n  \"task\": \"fashion-mn");
        Directory.CreateDirectory(Path.Combine(Root, "empty-zoo"));
        File.WriteAllText(Path.Combine(Root, "a-file.txt"), "not a folder");
        // PyTorch files cut in half: the base model, and one checkpoint in a folder of its own.
        var base_ = File.ReadAllBytes(Path.Combine(ByoFixture, "base.pth"));
        File.WriteAllBytes(Path.Combine(Root, "base-trunc.pth"), base_[..(base_.Length / 2)]);
        Directory.CreateDirectory(Path.Combine(Root, "ck-trunc"));
        var ck = File.ReadAllBytes(Path.Combine(ByoFixture, "checkpoints", "0000.pth"));
        File.WriteAllBytes(Path.Combine(Root, "ck-trunc", "0000.pth"), ck[..(ck.Length / 2)]);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// Every refusal of the command line: exit 2 for a wrong command line, 1 for a job that cannot be done,
/// one readable line naming the flag, value or file (plus a pointer to --help for usage errors), no stack
/// trace, no training (every case ends in seconds), and for usage errors nothing printed or written at all.
/// </summary>
[Collection(CliInProcess.Name)]
public sealed class BadInputTests(BadInputFiles files) : IClassFixture<BadInputFiles>
{
    const int Usage = 2, Failed = 1;

    public static TheoryData<string, string[], int, string> Cases => new()
    {
        // command words
        { "unknown command", new[] { "frobnicate" }, Usage, "unknown command 'frobnicate'" },
        { "zoo without subcommand", new[] { "zoo" }, Usage, "missing subcommand" },
        { "zoo unknown subcommand", new[] { "zoo", "grow" }, Usage, "unknown subcommand 'grow'" },
        { "notebook unknown subcommand", new[] { "notebook", "frob" }, Usage, "unknown subcommand 'frob'" },
        // zoo build: names (the user's report)
        { "build --profile nonsense", new[] { "zoo", "build", "--out", "{out}", "--profile", "nonsense" }, Usage, "Unknown profile 'nonsense'" },
        { "build --dataset cifar99", new[] { "zoo", "build", "--out", "{out}", "--dataset", "cifar99" }, Usage, "Unknown dataset 'cifar99'" },
        { "build --arch gpt5", new[] { "zoo", "build", "--out", "{out}", "--arch", "gpt5" }, Usage, "--arch 'gpt5' is not one of our architectures" },
        { "build --subset nosuchlayer", new[] { "zoo", "build", "--out", "{out}", "--profile", "smoke", "--subset", "nosuchlayer" }, Usage, "Subset 'nosuchlayer' matches no parameter" },
        { "build --recipe v3", new[] { "zoo", "build", "--out", "{out}", "--recipe", "v3" }, Usage, "--recipe takes v2 or v1, not 'v3'" },
        { "build --depth on mlp", new[] { "zoo", "build", "--out", "{out}", "--arch", "mlp", "--depth", "2" }, Usage, "does not apply to 'mlp'" },
        // zoo build: numbers
        { "build --k 0", new[] { "zoo", "build", "--out", "{out}", "--k", "0" }, Usage, "--k must be at least 1, not 0" },
        { "build --k abc", new[] { "zoo", "build", "--out", "{out}", "--k", "abc" }, Usage, "--k takes a whole number" },
        { "build --epochs -1", new[] { "zoo", "build", "--out", "{out}", "--epochs", "-1" }, Usage, "--epochs must be at least 1, not -1" },
        { "build --lr nan", new[] { "zoo", "build", "--out", "{out}", "--lr", "nan" }, Usage, "--lr takes a finite number > 0" },
        { "build --lr Infinity", new[] { "zoo", "build", "--out", "{out}", "--lr", "Infinity" }, Usage, "--lr takes a finite number > 0" },
        { "build --lr negative", new[] { "zoo", "build", "--out", "{out}", "--lr", "-0.1" }, Usage, "not '-0.1'" },
        { "build --save-every 0", new[] { "zoo", "build", "--out", "{out}", "--save-every", "0" }, Usage, "--save-every must be at least 1" },
        { "build --width 0", new[] { "zoo", "build", "--out", "{out}", "--width", "0" }, Usage, "--width must be at least 1" },
        { "build --seed -5", new[] { "zoo", "build", "--out", "{out}", "--seed", "-5" }, Usage, "--seed takes a whole number ≥ 0" },
        { "build --threads 0", new[] { "zoo", "build", "--out", "{out}", "--threads", "0" }, Usage, "--threads must be at least 1" },
        { "build --threads many", new[] { "zoo", "build", "--out", "{out}", "--threads", "many" }, Usage, "--threads takes a whole number" },
        // zoo build: the command line's shape
        { "build unknown flag", new[] { "zoo", "build", "--out", "{out}", "--frobnicate", "3" }, Usage, "unknown option --frobnicate" },
        { "build missing value", new[] { "zoo", "build", "--out", "{out}", "--lr" }, Usage, "--lr needs a value" },
        { "build value is a flag", new[] { "zoo", "build", "--out", "--k", "3" }, Usage, "--out needs a value" },
        { "build duplicated flag", new[] { "zoo", "build", "--out", "{out}", "--k", "3", "--k", "4" }, Usage, "--k is given twice ('3' and '4')" },
        { "build switch with a value", new[] { "zoo", "build", "--out", "{out}", "--augment=yes" }, Usage, "--augment is a switch" },
        { "build stray argument", new[] { "zoo", "build", "--out", "{out}", "extra" }, Usage, "unexpected argument 'extra'" },
        { "build without --out", new[] { "zoo", "build", "--k", "3" }, Usage, "--out is required" },
        // zoo build: --out
        { "build --out /proc/x", new[] { "zoo", "build", "--out", "/proc/x" }, Usage, "--out /proc/x: cannot write in /proc" },
        { "build --out is a file", new[] { "zoo", "build", "--out", "{tmp}/a-file.txt" }, Usage, "is a file" },
        { "build --out under a file", new[] { "zoo", "build", "--out", "{tmp}/a-file.txt/zoo" }, Usage, "is a file" },
        // zoo import
        { "import without --checkpoints", new[] { "zoo", "import", "--base", "b.pth", "--arch", "mlp", "--out", "{out}" }, Usage, "--checkpoints is required" },
        { "import without a network", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--out", "{out}" }, Usage, "--arch (a shipped architecture) or --torchscript" },
        { "import --classes 1", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--arch", "mlp", "--classes", "1", "--out", "{out}" }, Usage, "--classes must be at least 2" },
        { "import --hidden 256,0", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--arch", "mlp", "--hidden", "256,0", "--out", "{out}" }, Usage, "--hidden wants comma-separated sizes" },
        { "import --input weird", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--torchscript", "{fix}/model.pt", "--input", "weird", "--out", "{out}" }, Usage, "is not an input scaling" },
        { "import --dataset cifar99", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--torchscript", "{fix}/model.pt", "--dataset", "cifar99", "--out", "{out}" }, Usage, "Unknown dataset 'cifar99'" },
        { "import --out /proc/x", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--torchscript", "{fix}/model.pt", "--out", "/proc/x" }, Usage, "cannot write in /proc" },
        { "import missing checkpoint folder", new[] { "zoo", "import", "--checkpoints", "{tmp}/nope", "--base", "{fix}/base.pth", "--torchscript", "{fix}/model.pt", "--out", "{out}" }, Failed, "--checkpoints {tmp}/nope does not exist" },
        { "import missing base checkpoint", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{tmp}/nope.pth", "--torchscript", "{fix}/model.pt", "--out", "{out}" }, Failed, "--base {tmp}/nope.pth does not exist" },
        { "import missing torchscript", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--torchscript", "{tmp}/nope.pt", "--out", "{out}" }, Failed, "does not exist" },
        { "import truncated base .pth", new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{tmp}/base-trunc.pth", "--torchscript", "{fix}/model.pt", "--out", "{out}" }, Failed, "base-trunc.pth" },
        { "import truncated checkpoint .pth", new[] { "zoo", "import", "--checkpoints", "{tmp}/ck-trunc", "--base", "{fix}/base.pth", "--torchscript", "{fix}/model.pt", "--out", "{out}" }, Failed, "0000.pth" },
        // zoo info / subsets
        { "info without folder", new[] { "zoo", "info" }, Usage, "missing the zoo folder" },
        { "info missing folder", new[] { "zoo", "info", "{tmp}/nope" }, Failed, "{tmp}/nope does not exist" },
        { "info truncated manifest.json", new[] { "zoo", "info", "{tmp}/trunc-zoo" }, Failed, "is not a valid zoo manifest" },
        { "info folder without manifest", new[] { "zoo", "info", "{tmp}/empty-zoo" }, Failed, "No zoo manifest" },
        { "align without folder", new[] { "zoo", "align", "--out", "{out}" }, Usage, "missing the zoo folder" },
        { "align without --out", new[] { "zoo", "align", "{tmp}/empty-zoo" }, Usage, "--out is required" },
        { "align missing folder", new[] { "zoo", "align", "{tmp}/nope", "--out", "{out}" }, Failed, "{tmp}/nope does not exist" },
        { "align --out is the zoo", new[] { "zoo", "align", "{tmp}/trunc-zoo", "--out", "{tmp}/trunc-zoo" }, Usage, "is the zoo itself" },
        { "align truncated manifest.json", new[] { "zoo", "align", "{tmp}/trunc-zoo", "--out", "{out}" }, Failed, "is not a valid zoo manifest" },
        { "subsets --arch gpt5", new[] { "zoo", "subsets", "--arch", "gpt5" }, Usage, "--arch 'gpt5'" },
        // run: names, numbers, p-diff flags
        { "run --profile nonsense", new[] { "run", "--out", "{out}", "--profile", "nonsense" }, Usage, "Unknown profile 'nonsense'" },
        { "run --dataset cifar99", new[] { "run", "--out", "{out}", "--dataset", "cifar99" }, Usage, "Unknown dataset 'cifar99'" },
        { "run --arch gpt5", new[] { "run", "--out", "{out}", "--arch", "gpt5" }, Usage, "--arch 'gpt5'" },
        { "run --subset nosuchlayer", new[] { "run", "--out", "{out}", "--profile", "smoke", "--subset", "nosuchlayer" }, Usage, "Subset 'nosuchlayer' matches no parameter" },
        { "run --preset v9", new[] { "run", "--out", "{out}", "--preset", "v9" }, Usage, "Unknown p-diff preset 'v9'" },
        { "run --recipe v3", new[] { "run", "--out", "{out}", "--recipe", "v3" }, Usage, "--recipe takes v2 or v1" },
        { "run --k 0", new[] { "run", "--out", "{out}", "--k", "0" }, Usage, "--k must be at least 1" },
        { "run --runs 0", new[] { "run", "--out", "{out}", "--runs", "0" }, Usage, "--runs must be at least 1" },
        { "run --generate -3", new[] { "run", "--out", "{out}", "--generate", "-3" }, Usage, "--generate must be at least 1" },
        { "run --threads 0", new[] { "run", "--out", "{out}", "--threads", "0" }, Usage, "--threads must be at least 1" },
        { "run --ae-steps 0", new[] { "run", "--out", "{out}", "--ae-steps", "0" }, Usage, "--ae-steps must be at least 1" },
        { "run --diff-steps -1", new[] { "run", "--out", "{out}", "--diff-steps", "-1" }, Usage, "--diff-steps must be at least 1" },
        { "run --diff-lr nan", new[] { "run", "--out", "{out}", "--diff-lr", "nan" }, Usage, "--diff-lr" },
        { "run --ae-lr -1", new[] { "run", "--out", "{out}", "--ae-lr", "-1" }, Usage, "--ae-lr takes a finite number > 0" },
        { "run --latent-noise -0.1", new[] { "run", "--out", "{out}", "--latent-noise", "-0.1" }, Usage, "--latent-noise must be ≥ 0" },
        { "run --ae-channels 8,0", new[] { "run", "--out", "{out}", "--ae-channels", "8,0" }, Usage, "--ae-channels takes sizes ≥ 1" },
        { "run --sampler euler", new[] { "run", "--out", "{out}", "--sampler", "euler" }, Usage, "Ddpm|Ddim" },
        { "run --ae-steps many", new[] { "run", "--out", "{out}", "--ae-steps", "many" }, Usage, "--ae-steps: 'many' is not a valid int32" },
        { "run duplicated p-diff flag", new[] { "run", "--out", "{out}", "--ae-steps", "3", "--ae-steps", "4" }, Usage, "--ae-steps is given twice" },
        { "run duplicated own flag", new[] { "run", "--out", "{out}", "--profile", "smoke", "--profile", "quick" }, Usage, "--profile is given twice" },
        { "run unknown flag", new[] { "run", "--out", "{out}", "--frobnicate" }, Usage, "unknown option --frobnicate" },
        { "run p-diff flag without value", new[] { "run", "--out", "{out}", "--ae-steps" }, Usage, "--ae-steps needs a value" },
        { "run --out /proc/x", new[] { "run", "--out", "/proc/x", "--profile", "smoke" }, Usage, "cannot write in /proc" },
        { "run --zoo with --arch", new[] { "run", "--zoo", "{tmp}/trunc-zoo", "--arch", "mlp", "--out", "{out}" }, Usage, "drop --arch" },
        { "run --zoo missing folder", new[] { "run", "--zoo", "{tmp}/nope", "--out", "{out}" }, Failed, "--zoo {tmp}/nope does not exist" },
        { "run --zoo truncated manifest.json", new[] { "run", "--zoo", "{tmp}/trunc-zoo", "--out", "{out}" }, Failed, "is not a valid zoo manifest" },
        { "run --zoo without manifest", new[] { "run", "--zoo", "{tmp}/empty-zoo", "--out", "{out}" }, Failed, "No zoo manifest" },
        { "run --help-config with more", new[] { "run", "--help-config", "--ae-steps", "3" }, Usage, "--help-config takes nothing else" },
        // notebook
        { "notebook run without notebook", new[] { "notebook", "run" }, Usage, "missing the notebook to run" },
        { "notebook run missing notebook", new[] { "notebook", "run", "{tmp}/missing.ipynb" }, Usage, "no such notebook" },
        { "notebook run --param without =", new[] { "notebook", "run", "{tmp}/missing.ipynb", "--param", "novalue" }, Usage, "--param expects name=value" },
        { "notebook run --param without name", new[] { "notebook", "run", "{tmp}/missing.ipynb", "--param", "=3" }, Usage, "--param expects name=value" },
        { "notebook run --timeout-per-cell nan", new[] { "notebook", "run", "{tmp}/missing.ipynb", "--timeout-per-cell", "nan" }, Usage, "--timeout-per-cell expects a positive number" },
        { "notebook run --timeout-per-cell Infinity", new[] { "notebook", "run", "{tmp}/missing.ipynb", "--timeout-per-cell", "Infinity" }, Usage, "--timeout-per-cell expects a positive number" },
        { "notebook run unknown flag", new[] { "notebook", "run", "{tmp}/missing.ipynb", "--frobnicate" }, Usage, "unknown option '--frobnicate'" },
        { "notebook run duplicated --output", new[] { "notebook", "run", "{tmp}/missing.ipynb", "-o", "a.ipynb", "--output", "b.ipynb" }, Usage, "--output is given twice" },
        { "notebook new one argument", new[] { "notebook", "new", "cells.txt" }, Usage, "expected: pdiff notebook new <cells.txt> <out.ipynb>" },
        { "notebook clear missing notebook", new[] { "notebook", "clear", "{tmp}/missing.ipynb" }, Usage, "no such notebook" },
    };

    string Fill(string s) => s.Replace("{out}", Path.Combine(files.Root, "out")).Replace("{tmp}", files.Root).Replace("{fix}", ByoFixture);

    [Theory]
    [MemberData(nameof(Cases))]
    public void IsRefusedWithOneLineBeforeAnyWork(string name, string[] args, int code, string fragment)
    {
        var run = Pdiff(args.Select(Fill).ToArray());
        var context = $"{name}: exit {run.Code}\nstderr: {run.Stderr}\nstdout: {run.Stdout}";
        Assert.True(run.Code == code, context);
        Assert.Contains(Fill(fragment), run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr + run.Stdout);
        Assert.DoesNotContain("internal error", run.Stderr);
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length is >= 1 and <= 2, $"want the message (and for usage errors a pointer to --help), got: {context}");
        Assert.True(lines[0].StartsWith("pdiff", StringComparison.Ordinal), context); // names the command
        if (code == Usage) Assert.Contains("--help", lines[^1]);
        var outDir = Path.Combine(files.Root, "out");
        if (code == Usage)
        {
            Assert.Equal("", run.Stdout); // refused before anything started: no progress lines, no table
            Assert.False(Directory.Exists(outDir), $"{name} created --out: {context}");
        }
        else if (Directory.Exists(outDir))
        {
            Directory.Delete(outDir, recursive: true); // a job that failed while reading its inputs may have begun its folder
        }
    }

    /// <summary>
    /// The user's report: `zoo build --out DIR` deleted DIR/pdiff/notes/thesis.txt and DIR/checkpoints/my_model.safetensors.
    /// A folder of the user's own files is refused by every command that writes one, before any work, and left whole.
    /// </summary>
    [Fact]
    public void AFolderOfTheUsersFilesIsRefusedBeforeAnyWorkAndLeftWhole()
    {
        var dir = Path.Combine(files.Root, "thesis");
        Directory.CreateDirectory(Path.Combine(dir, "pdiff", "notes"));
        Directory.CreateDirectory(Path.Combine(dir, "checkpoints"));
        File.WriteAllText(Path.Combine(dir, "pdiff", "notes", "thesis.txt"), "chapter 1");
        File.WriteAllText(Path.Combine(dir, "checkpoints", "my_model.safetensors"), "mine");
        string Listing() => string.Join("\n", Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order());
        var before = Listing();
        foreach (var args in new[]
                 {
                     new[] { "zoo", "build", "--profile", "smoke", "--out", dir },
                     new[] { "zoo", "import", "--checkpoints", Path.Combine(ByoFixture, "checkpoints"), "--base", Path.Combine(ByoFixture, "base.pth"),
                         "--torchscript", Path.Combine(ByoFixture, "model.pt"), "--out", dir },
                     new[] { "run", "--profile", "smoke", "--out", dir },
                 })
        {
            var run = Pdiff(args);
            var context = $"{string.Join(' ', args)}: exit {run.Code}\nstderr: {run.Stderr}\nstdout: {run.Stdout}";
            Assert.True(run.Code == Usage, context);   // a place pdiff may not write: a usage problem, one line
            Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("was not written by pdiff", run.Stderr);
            Assert.Contains("--force", run.Stderr);
            Assert.DoesNotContain("   at ", run.Stderr + run.Stdout);
            Assert.Equal(before, Listing());
        }
        Assert.Equal("chapter 1", File.ReadAllText(Path.Combine(dir, "pdiff", "notes", "thesis.txt")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "checkpoints", "my_model.safetensors")));
    }

    [Fact]
    public void TheCasesCoverTheUsersReport()
    {
        Assert.True(Cases.Count() >= 30);
        var all = string.Join(" ", Cases.Select(c => string.Join(" ", (string[])c[1])));
        foreach (var reported in new[] { "--profile nonsense", "--dataset cifar99", "--arch gpt5", "--subset nosuchlayer", "--k 0", "--epochs -1",
                     "--lr nan", "base-trunc.pth", "trunc-zoo", "nope.pth", "/proc/x" })
            Assert.Contains(reported, all);
    }
}
