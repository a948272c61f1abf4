using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Serialization;

/// <summary>
/// The committed corpus of hostile and corrupt files (fixtures/hostile, written by make_corpus.py, listed
/// with the expected error in manifest.json) through the public readers. Each file must end in
/// InvalidDataException whose message names the file and the problem, carries no control characters and
/// no run of the file's own bytes longer than a quoted name; nothing may recurse on the file's nesting
/// (read on a 256 KB stack), allocate from a declared size, leak a native tensor or crash the process.
/// TorchScript files (reader "torchscript") go through TorchScriptModel.Load, whose probe process takes the
/// crashes; TorchScriptBoundaryTests runs them through the CLI.
/// </summary>
[Collection(PDiff.Tests.TorchFixes.NativeStateCollection.Name)]
public class HostileCorpusTests
{
    internal sealed record Case(string File, string Reader, string Exception, string Class, string Expect, string[] Forbid, bool NonFinite);

    internal static string Dir => Path.Combine(AppContext.BaseDirectory, "fixtures", "hostile");

    internal static readonly Lazy<Dictionary<string, Case>> Manifest = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "manifest.json")));
        return doc.RootElement.GetProperty("files").EnumerateArray().Select(e => new Case(
            e.GetProperty("file").GetString()!, e.GetProperty("reader").GetString()!, e.GetProperty("exception").GetString()!,
            e.GetProperty("cls").GetString()!, e.GetProperty("expect").GetString()!,
            e.GetProperty("forbid").EnumerateArray().Select(f => f.GetString()!).ToArray(), e.GetProperty("nonfinite").GetBoolean()))
            .ToDictionary(c => c.File, StringComparer.Ordinal);
    });

    public static TheoryData<string> Files() => FilesWhere(_ => true);

    /// <summary>The files that are valid apart from NaN/inf values.</summary>
    public static TheoryData<string> NonFiniteFiles() => FilesWhere(c => c.NonFinite);

    static TheoryData<string> FilesWhere(Func<Case, bool> keep)
    {
        var data = new TheoryData<string>();
        foreach (var c in Manifest.Value.Values.Where(keep).OrderBy(c => c.File, StringComparer.Ordinal)) data.Add(c.File);
        return data;
    }

    /// <summary>The public reader a file of this kind goes through: tensors are disposed when it loads.</summary>
    static void Read(Case c, string path, bool allowNonFinite = false)
    {
        switch (c.Reader)
        {
            case "pt":
                foreach (var t in PtCheckpoint.Load(path, allowNonFinite).Values) t.Dispose();
                break;
            case "safetensors":
                Safetensors.LoadParameters(path, allowNonFinite).Dispose();
                break;
            case "torchscript":
                // The probe process stops a model that hangs after its timeout; 5 s says the same as the default 120.
                var timeout = TorchScriptProbe.Timeout;
                if (c.Class == "timeout") TorchScriptProbe.Timeout = TimeSpan.FromSeconds(5);
                try { TorchScriptModel.Load(path, inputShape: new long[] { 1, 28, 28 }).Dispose(); }
                finally { TorchScriptProbe.Timeout = timeout; }
                break;
            default:
                throw new InvalidOperationException($"manifest.json names an unknown reader '{c.Reader}' for {c.File}");
        }
    }

    // The first load in a process initialises TorchSharp and the JSON reader; that is not the file's doing.
    static readonly Lazy<bool> Warm = new(() =>
    {
        var pickle = new PickleWriter().Op('}').Op('(').Str("w").FloatTensor("0", 1, 0, new[] { 1 }, new[] { 1 }).Op('u').Stop();
        foreach (var t in PtCheckpoint.Load(Kit.Archive(pickle, ("0", BitConverter.GetBytes(1f))), "warm.pt").Values) t.Dispose();
        using var dir = new TempDir();
        using (var t = torch.ones(2)) Safetensors.Save(dir.File("warm.safetensors"), new Dictionary<string, Tensor> { ["w"] = t });
        Safetensors.LoadParameters(dir.File("warm.safetensors")).Dispose();
        try { Safetensors.LoadParameters(Path.Combine(Dir, "st_nan.safetensors")).Dispose(); } catch (InvalidDataException) { }
        return true;
    });

    // A reader that recursed once per nesting level would overflow this stack long before 10,000 levels
    // (and a stack overflow ends the whole test process: the run fails loudly either way).
    static (Exception? Error, long Allocated, long Leaked) OnSmallStack(Action read)
    {
        Exception? caught = null;
        long allocated = 0, leaked = 0;
        var thread = new Thread(() =>
        {
            var live = Kit.LiveTensors; // counted per thread
            var before = GC.GetAllocatedBytesForCurrentThread();
            try { read(); }
            catch (Exception e) { caught = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            leaked = Kit.LiveTensors - live;
        }, maxStackSize: 256 * 1024);
        thread.Start();
        thread.Join();
        return (caught, allocated, leaked);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EachFileIsRefusedWithItsErrorClass(string file)
    {
        var c = Manifest.Value[file];
        var path = Path.Combine(Dir, file);
        Assert.True(File.Exists(path) || Directory.Exists(path), $"{path} is missing: run make_corpus.py");

        Assert.True(Warm.Value);
        var (error, allocated, leaked) = OnSmallStack(() => Read(c, path));

        Assert.True(error is not null, $"{file} ({c.Class}) loaded; expected {c.Exception} with \"{c.Expect}\"");
        Assert.True(error!.GetType().Name == c.Exception, $"{file}: {error.GetType().FullName} instead of {c.Exception}: {error.Message}");
        var message = error.Message;
        Assert.True(message.Contains(path, StringComparison.Ordinal), $"{file}: the message does not name the file: {message}");
        Assert.True(message.Contains(c.Expect, StringComparison.Ordinal), $"{file}: expected \"{c.Expect}\" in: {message}");
        Assert.True(message.Contains("To fix:", StringComparison.Ordinal) || message.Contains("pass ", StringComparison.Ordinal)
                    || message.Contains("re-save", StringComparison.Ordinal) || message.Contains("do not load it", StringComparison.Ordinal),
            $"{file}: the message says what to do nowhere: {message}");
        AssertNoFileContent(file, path, message, c.Forbid);
        Assert.Equal(0, leaked);
        // Declared sizes (2^40 elements, a 4 MB zip bomb, a 2^64-byte header) never become allocations:
        // what is allocated stays in proportion to the file's real size.
        var length = File.Exists(path) ? new FileInfo(path).Length : 0;
        Assert.True(allocated < 256 * length + (2 << 20), $"{file}: allocated {allocated} bytes for a file of {length}");
    }

    static void AssertNoFileContent(string file, string path, string message, string[] forbid)
    {
        var bad = message.FirstOrDefault(ch => char.IsControl(ch) || CharUnicodeInfo.GetUnicodeCategory(ch) == UnicodeCategory.Format);
        Assert.True(bad == default(char), $"{file}: the message carries the control or format character U+{(int)bad:X4}: {message}");
        foreach (var f in forbid)
            Assert.False(message.Contains(f, StringComparison.Ordinal), $"{file}: the message quotes \"{f}\" from the file: {message}");
        if (!File.Exists(path)) return;
        // No run of the file's bytes longer than a quoted name (64 characters) may reach the message.
        var bytes = File.ReadAllBytes(path);
        var texts = new[] { Encoding.Latin1.GetString(bytes), Encoding.UTF8.GetString(bytes) };
        var body = message.Replace(path, "", StringComparison.Ordinal);
        const int run = 65;
        for (var i = 0; i + run <= body.Length; i++)
        {
            var piece = body.Substring(i, run);
            Assert.False(texts.Any(t => t.Contains(piece, StringComparison.Ordinal)), $"{file}: the message copies the file's bytes \"{piece}\": {message}");
        }
    }

    [Theory]
    [MemberData(nameof(NonFiniteFiles))]
    public void NonFiniteFilesLoadWhenTheCallerOptsIn(string file)
    {
        var c = Manifest.Value[file];
        Assert.True(c.NonFinite);
        var path = Path.Combine(Dir, file);
        using var scope = torch.NewDisposeScope();
        var tensors = c.Reader == "pt" ? PtCheckpoint.Load(path, allowNonFinite: true) : Safetensors.LoadParameters(path, allowNonFinite: true).Tensors;
        Assert.Contains(tensors.Values, t => t.is_floating_point() && !t.isfinite().all().item<bool>());
        if (c.Reader == "safetensors")
        {
            // Safetensors.Load reads any tensor file (a loss history may hold NaN): it does not judge values.
            var raw = Safetensors.Load(path);
            Assert.Equal(tensors.Keys, raw.Tensors.Keys);
        }
    }

    [Fact]
    public void TheCorpusCoversEveryKindOfAttackAndMatchesItsManifest()
    {
        var listed = Manifest.Value;
        Assert.True(listed.Count >= 30, $"only {listed.Count} files in the corpus");
        var onDisk = Directory.EnumerateFileSystemEntries(Dir).Select(p => Path.GetFileName(p))
            .Where(n => n is not ("manifest.json" or "make_corpus.py")).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(listed.Keys.Order(StringComparer.Ordinal), onDisk);
        var classes = listed.Values.Select(c => c.Class).ToHashSet();
        foreach (var needed in new[] { "truncated", "crc", "pickle", "nesting", "code-global", "size", "shape", "offset", "dtype", "zip",
                     "zip-bomb", "json", "duplicate", "nonfinite", "directory", "not-a-checkpoint" })
            Assert.Contains(needed, classes);
        foreach (var reader in new[] { "pt", "safetensors" })
        {
            Assert.Contains(listed.Values, c => c.Reader == reader && c.Class == "nesting");
            Assert.Contains(listed.Values, c => c.Reader == reader && c.Class == "nonfinite");
        }
        // TorchScript: what ends libtorch's process (abort, stack), what it refuses, what only a call shows, the zip.
        foreach (var needed in new[] { "abort", "stack", "code", "nesting", "missing", "unsupported-format", "size", "offset", "signature",
                     "forward", "timeout", "not-a-checkpoint", "zip", "zip-bomb", "truncated", "crc", "duplicate", "path" })
            Assert.Contains(listed.Values, c => c.Reader == "torchscript" && c.Class == needed);
        var total = listed.Keys.Select(f => Path.Combine(Dir, f)).Where(File.Exists).Sum(f => new FileInfo(f).Length);
        Assert.True(total < 1 << 20, $"the corpus holds {total} bytes; keep it under 1 MB");
    }

    [Fact]
    public void NonFiniteCheckNamesTheTensorAndTheFile()
    {
        using var scope = torch.NewDisposeScope();
        NonFinite.Check("ok", torch.tensor(new[] { 1f, -2f, float.MaxValue }), "f.pt");
        NonFinite.Check("ints", torch.tensor(new long[] { long.MaxValue }), "f.pt"); // integers are always finite
        NonFinite.Check("empty", torch.zeros(0), "f.pt");
        var ex = Assert.Throws<InvalidDataException>(() =>
            NonFinite.Check("layer.w", torch.tensor(new[] { 0f, 1f, float.NaN, float.PositiveInfinity, float.NaN }).reshape(5, 1).t(), "f.pt"));
        Assert.Contains("'f.pt': tensor 'layer.w' holds 2 NaN and 1 infinite value (of 5; the first at flat index 2)", ex.Message);
        Assert.Contains("allowNonFinite: true", ex.Message);
    }

    /// <summary>
    /// The nastiest files through the built CLI, as a user would meet them (`pdiff zoo import --base FILE`
    /// reads the base model with the public readers): each run must end as a reported failure (exit 1, the
    /// file and the problem on stderr), never as a crash (134 SIGABRT, 139 SIGSEGV) or a hang.
    /// </summary>
    [Fact]
    public void TheCliSurvivesTheNastiestFilesInItsOwnProcess()
    {
        var files = new[]
        {
            "pt_nest_lists.pt", "pt_nest_reduce.pt", "pt_nest_rebuild.pt", "pt_global_os_system.pt", "pt_zip_bomb_deflate.pt",
            "pt_storage_huge.pt", "pt_nan.pt", "st_nested_objects.safetensors", "st_header_len_huge.safetensors", "st_shape_overflow.safetensors",
        };
        using var dir = new TempDir();
        var checkpoints = Directory.CreateDirectory(dir.File("checkpoints")).FullName;
        // One file named as a checkpoint, so the import gets past listing the folder to reading the base model (before any checkpoint).
        File.WriteAllBytes(Path.Combine(checkpoints, "0000.pth"), Array.Empty<byte>());
        foreach (var file in files)
        {
            var c = Manifest.Value[file];
            var path = Path.Combine(Dir, file);
            var (code, stdout, stderr) = RunPdiff("zoo", "import", "--checkpoints", checkpoints, "--base", path, "--arch", "mlp", "--out", dir.File("zoo-" + file));
            Assert.True(code is not (134 or 139) && code >= 0, $"{file}: pdiff crashed (exit {code})\n{stderr}");
            Assert.True(code == 1, $"{file}: exit {code}, expected 1 (a reported failure)\nstdout:\n{stdout}\nstderr:\n{stderr}");
            Assert.Contains(path, stderr);
            Assert.Contains(c.Expect, stderr);
            Assert.DoesNotContain("internal error", stderr);
        }
    }

    static (int Code, string Stdout, string Stderr) RunPdiff(params string[] args) => RunPdiff(TimeSpan.FromMinutes(2), null, args);

    /// <summary>
    /// The built CLI as its own process, with <paramref name="environment"/> added to ours; a run longer than
    /// <paramref name="patience"/> (a safety net against a hang, not a measurement) is killed and fails the test.
    /// </summary>
    internal static (int Code, string Stdout, string Stderr) RunPdiff(TimeSpan patience, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "pdiff.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: PDiff.Tests.csproj references tools/pdiff/pdiff.csproj");
        var psi = new ProcessStartInfo(TestHost.Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(patience))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"pdiff {string.Join(' ', args)} did not finish within {patience.TotalMinutes} minutes");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
