using System.Runtime.InteropServices;
using PDiff.Cli;
using PDiff.Zoo;
using Xunit;
using static PDiff.Tests.Cli.CliKit;

namespace PDiff.Tests.Cli;

/// <summary>
/// Every size, count and thread number of the command line is bounded by this machine's memory and cores, checked
/// before any work: a value beyond its limit exits 2 with one line naming the flag, the value, the
/// limit and why (then the pointer to --help), prints no progress and makes no folder. A failure that still happens
/// in libtorch is one line too: its first meaningful line, never its C++ frames, which --verbose adds.
/// </summary>
[Collection(CliInProcess.Name)]
public sealed class BoundsTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("pdiff-cli-bounds-").FullName;
    string Out => Path.Combine(root, "out");
    static readonly string More = (Environment.ProcessorCount + 1).ToString();

    public void Dispose()
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }

    public static TheoryData<string[], string> Cases => new()
    {
        // args ({out}, {fix}, {more} = one thread more than the cores), the flag and value the line starts with
        { new[] { "zoo", "build", "--out", "{out}", "--width", "100000" }, "--width 100000: a ResNet-18 of width 100000" },
        { new[] { "zoo", "build", "--out", "{out}", "--arch", "convnet3", "--width", "2000000000" }, "--width 2000000000: a ConvNet-3" },
        { new[] { "zoo", "build", "--out", "{out}", "--arch", "vit", "--depth", "100000000" }, "--depth 100000000: a ViT" },
        { new[] { "zoo", "build", "--out", "{out}", "--k", "100000000" }, "--k 100000000: 100,000,000 checkpoints of 256 numbers" },
        { new[] { "zoo", "build", "--out", "{out}", "--profile", "smoke", "--save-every", "300000000" }, "--save-every 300000000: 10 checkpoints" },
        { new[] { "zoo", "build", "--out", "{out}", "--threads", "100000" }, "--threads 100000: this machine has" },
        { new[] { "zoo", "build", "--out", "{out}", "--threads", "{more}" }, "--threads {more}: this machine has" },
        { new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--arch", "mlp", "--hidden", "2000000000", "--out", "{out}" }, "--hidden 2000000000: an MLP" },
        { new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--arch", "mlp", "--classes", "2000000000", "--out", "{out}" }, "--classes 2000000000: an MLP" },
        { new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--arch", "resnet18", "--width", "100000", "--out", "{out}" }, "--width 100000: a ResNet-18" },
        { new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--arch", "vit", "--dim", "2999997", "--out", "{out}" }, "--dim 2999997: a ViT" },
        { new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--arch", "vit", "--mlp-dim", "2000000000", "--out", "{out}" }, "--mlp-dim 2000000000: a ViT" },
        { new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--arch", "vit", "--depth", "100000000", "--out", "{out}" }, "--depth 100000000: a ViT" },
        { new[] { "zoo", "import", "--checkpoints", "{fix}/checkpoints", "--base", "{fix}/base.pth", "--torchscript", "{fix}/model.pt", "--threads", "100000", "--out", "{out}" }, "--threads 100000" },
        { new[] { "zoo", "subsets", "--arch", "resnet18", "--width", "100000" }, "--width 100000: a ResNet-18" },
        { new[] { "zoo", "subsets", "--arch", "mlp", "--hidden", "64,2000000000" }, "--hidden 2000000000: an MLP" },
        { new[] { "zoo", "align", "{fix}", "--out", "{out}", "--threads", "100000" }, "--threads 100000" },
        { new[] { "run", "--out", "{out}", "--k", "100000000" }, "--k 100000000: 100,000,000 checkpoints" },
        { new[] { "run", "--out", "{out}", "--generate", "2000000000" }, "--generate 2000000000: p-diff on 200 vectors of 256 numbers" },
        { new[] { "run", "--out", "{out}", "--ae-batch", "2000000000" }, "--ae-batch 2000000000: p-diff on" },
        { new[] { "run", "--out", "{out}", "--diff-batch", "2000000000" }, "--diff-batch 2000000000: p-diff on" },
        { new[] { "run", "--out", "{out}", "--timesteps", "2000000000" }, "--timesteps 2000000000: p-diff on" },
        { new[] { "run", "--out", "{out}", "--latent-dim", "2000000000" }, "--latent-dim 2000000000: p-diff on" },
        { new[] { "run", "--out", "{out}", "--ae-channels", "64,128,100000000" }, "--ae-channels 100000000: p-diff on" },
        { new[] { "run", "--out", "{out}", "--ae-steps", "2000000000" }, "--ae-steps 2000000000: p-diff on" },
        { new[] { "run", "--out", "{out}", "--diff-steps", "2000000000" }, "--diff-steps 2000000000: p-diff on" },
        { new[] { "run", "--out", "{out}", "--validate-models", "2000000000" }, "--validate-models 2000000000: p-diff on" },
        { new[] { "run", "--out", "{out}", "--runs", "2000000000" }, "--runs 2000000000: p-diff on" },
        { new[] { "zoo", "build", "--out", "{out}", "--epochs", "2000000000" }, "--epochs 2000000000: 2000000000 epochs keep" },
        { new[] { "run", "--out", "{out}", "--profile", "smoke", "--arch", "mlp", "--threads", "{more}" }, "--threads {more}: this machine has" },
    };

    string Fill(string s) => s.Replace("{out}", Out).Replace("{fix}", ByoFixture).Replace("{more}", More);

    [Theory]
    [MemberData(nameof(Cases))]
    public void ASizeBeyondTheMachineIsRefusedInOneLineBeforeAnyWork(string[] args, string start)
    {
        var run = Pdiff(args.Select(Fill).ToArray());
        var context = $"exit {run.Code}\nstderr: {run.Stderr}\nstdout: {run.Stdout}";
        Assert.True(run.Code == 2, context);
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 2, context);   // the refusal, then the pointer to --help
        var command = $"pdiff {args[0]}" + (args[0] == "zoo" ? $" {args[1]}" : "");
        Assert.StartsWith($"{command}: {Fill(start)}", lines[0]);
        Assert.Matches(@"use at most (--[a-z-]+ )?\d+", lines[0]);   // the limit
        if (!start.StartsWith("--threads") && !start.StartsWith("--save-every"))
            Assert.Contains(" of memory available", lines[0]); // and why: the machine's memory
        Assert.Equal($"{command} --help shows the usage.", lines[1]);
        Assert.Equal("", run.Stdout);                      // no progress line: nothing started
        Assert.False(Directory.Exists(Out), context);      // no output folder
    }

    [Fact]
    public void ThreadsUpToTheCoresAreAccepted()
    {
        // --threads at the core count passes the check and the command goes on to its next one (here: the folder is no zoo).
        var run = Pdiff("zoo", "align", Path.Combine(root, "nope"), "--out", Out, "--threads", Environment.ProcessorCount.ToString());
        Assert.Equal(1, run.Code);
        Assert.Contains("does not exist", run.Stderr);
    }

    [Fact]
    public void ACountBeyondTheMachineOnAnExistingZooIsRefusedBeforeTraining()
    {
        var zoo = Path.Combine(root, "zoo");
        ZooImport.FromPthFolder(new ZooImportOptions
        {
            Checkpoints = Path.Combine(ByoFixture, "checkpoints"), BaseModel = Path.Combine(ByoFixture, "base.pth"),
            Model = new PDiff.Models.ModelSpec { Arch = PDiff.Models.ModelSpec.TorchScript, Source = Path.Combine(ByoFixture, "model.pt") }, Out = zoo,
        });
        var run = Pdiff("run", "--zoo", zoo, "--out", Out, "--generate", "2000000000");
        Assert.True(run.Code == 2, run.Stderr);
        Assert.StartsWith("pdiff run: --generate 2000000000: p-diff on 40 vectors of ", run.Stderr);
        Assert.Equal("", run.Stdout);
        Assert.False(Directory.Exists(Out));
    }

    // What TorchSharp 0.107 raises when libtorch's allocator fails (copied from `pdiff zoo subsets --width 100000` before the bounds).
    const string LibtorchOutOfMemory =
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate 360000000000 bytes. Error code 12 (Cannot allocate memory)\n" +
        "frame #0: c10::ThrowEnforceNotMet(char const*, int, char const*, std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const&, void const*) + 0x68 (0x7f04577a4fc8 in libc10.so)\n" +
        "frame #1: c10::alloc_cpu(unsigned long) + 0x358 (0x7f0457790148 in libc10.so)\n" +
        "frame #12: THSTensor_empty + 0xb0 (0x7f0454df3bc0 in libLibTorchSharp.so)\n";

    [Fact]
    public void LibtorchsOutOfMemoryIsOneLineWithTheFixAndItsFramesOnlyWithVerbose()
    {
        var e = new ExternalException(LibtorchOutOfMemory);
        var (code, stderr) = Capture(() => Program.ReportError("pdiff zoo subsets", e, verbose: false));
        Assert.Equal(1, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("pdiff zoo subsets: out of memory while building the network: DefaultCPUAllocator: can't allocate memory: you tried to allocate " +
                          "360000000000 bytes. Error code 12 (Cannot allocate memory) — reduce --width, --hidden, --dim, --mlp-dim, --depth or --classes, or free memory (", line);
        Assert.EndsWith(" available now). (--verbose shows libtorch's whole message)", line);
        Assert.DoesNotContain("frame #", stderr);

        (code, stderr) = Capture(() => Program.ReportError("pdiff zoo subsets", e, verbose: true));
        Assert.Equal(1, code);
        Assert.Contains("frame #12: THSTensor_empty", stderr);
    }

    [Fact]
    public void AnyMultiLineMessageIsCutToItsFirstLine()
    {
        const string shapes = "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 0\n" +
                              "Exception raised from infer_size_impl at /pytorch/aten/src/ATen/ExpandUtils.cpp:31 (most recent call first):\n" +
                              "frame #0: c10::Error::Error(c10::SourceLocation, std::string) + 0x96 (0x7f in libc10.so)\n";
        var (code, stderr) = Capture(() => Program.ReportError("pdiff run", new ExternalException(shapes), verbose: false));
        Assert.Equal((1, "pdiff run: internal error: System.Runtime.InteropServices.ExternalException: The size of tensor a (3) must match the size of tensor b (4) " +
                         "at non-singleton dimension 0 (run with --verbose for the stack trace)\n"), (code, stderr));
        (code, stderr) = Capture(() => Program.ReportError("pdiff run", new InvalidDataException("model.pt: not a TorchScript archive\ndetails: bad zip"), verbose: false));
        Assert.Equal((1, "pdiff run: model.pt: not a TorchScript archive (--verbose shows the rest)\n"), (code, stderr));
        (code, stderr) = Capture(() => Program.ReportError("pdiff run", new OutOfMemoryException(), verbose: false));
        Assert.Equal(1, code);
        Assert.StartsWith("pdiff run: out of memory while running p-diff (zoo, training, generation, evaluation): ", stderr);
        Assert.Contains("— reduce --k, --generate, --ae-batch, --diff-batch or --validate-models, or free memory", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void ARealAllocationFailureIsOneLine()
    {
        // 2^45 floats (128 TiB): libtorch's allocator refuses at once, without touching memory.
        Exception thrown = Assert.ThrowsAny<Exception>(() => TorchSharp.torch.empty(1L << 45).Dispose());
        var (code, stderr) = Capture(() => Program.ReportError("pdiff zoo build", thrown, verbose: false));
        Assert.Equal(1, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("pdiff zoo build: out of memory while building the zoo (training the base model, collecting and scoring its checkpoints): " +
                          "DefaultCPUAllocator: can't allocate memory: you tried to allocate 140737488355328 bytes.", line);
        Assert.Contains("— reduce --k, --width or --depth, or free memory", line);
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
