using System.Collections;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using PDiff.Models;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Models;

/// <summary>
/// "Bring your own architecture": a user's CNN scripted by PyTorch 1.13 (fixtures/byo_cnn, written by
/// make_fixture.py) loads through <see cref="TorchScriptModel"/>, takes base.pth and each of the 40 subset
/// checkpoints by PyTorch name, and scores on the stored evaluation digits exactly as PyTorch did.
/// </summary>
public class TorchScriptModelTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "byo_cnn", name);

    static readonly Lazy<JsonElement> Expected = new(() => JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement);

    /// <summary>The evaluation digits as PyTorch saw them: byte / 255, [count, 1, 28, 28]; and their labels.</summary>
    static (Tensor X, Tensor Y) EvalSet()
    {
        var ev = Expected.Value.GetProperty("eval");
        var count = ev.GetProperty("count").GetInt32();
        using var gz = new GZipStream(File.OpenRead(Fixture(ev.GetProperty("images_file").GetString()!)), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var pixels = ms.ToArray();
        Assert.Equal(count * 28 * 28, pixels.Length);
        using var bytes = tensor(pixels, ScalarType.Byte);
        var x = bytes.reshape(count, 1, 28, 28).to(ScalarType.Float32).div_(255f).DetachFromDisposeScope();
        var y = tensor(ev.GetProperty("labels").EnumerateArray().Select(l => (long)l.GetInt32()).ToArray()).DetachFromDisposeScope();
        return (x, y);
    }

    static Dictionary<string, Tensor> ReadStateDict(string file)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry e in PyTorchUnpickler.UnpickleStateDict(Fixture(file))) d[(string)e.Key] = (Tensor)e.Value!;
        return d;
    }

    static void DisposeAll(Dictionary<string, Tensor> sd)
    {
        foreach (var t in sd.Values) t.Dispose();
    }

    static double Accuracy(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return model.forward(x).argmax(1).eq(y).sum().item<long>() / (double)y.shape[0];
    }

    static void AssertAccuracy(string what, double pytorch, double ours) =>
        Assert.True(Math.Abs(ours - pytorch) < 1e-3, $"{what}: TorchSharp {ours:F4}, PyTorch {pytorch:F4}");

    static string Sha256(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Fixture(file))));

    [Fact]
    public void NamesAndShapesArePyTorchs()
    {
        using var model = TorchScriptModel.Load(Fixture("model.pt"));
        var m = Expected.Value.GetProperty("model");
        var parameters = m.GetProperty("parameters").EnumerateObject().Select(p => (p.Name, Shape: p.Value.EnumerateArray().Select(v => v.GetInt64()).ToArray())).ToList();
        var buffers = m.GetProperty("buffers").EnumerateObject().Select(p => (p.Name, Shape: p.Value.EnumerateArray().Select(v => v.GetInt64()).ToArray())).ToList();

        Assert.Equal(parameters.Select(p => p.Name), model.named_parameters().Select(p => p.name));
        foreach (var ((name, shape), (_, p)) in parameters.Zip(model.named_parameters())) Assert.True(shape.SequenceEqual(p.shape), name);
        Assert.Equal(buffers.Select(b => b.Name), model.named_buffers().Select(b => b.name));
        Assert.Equal(parameters.Select(p => p.Name).Concat(buffers.Select(b => b.Name)).OrderBy(n => n), model.state_dict().Keys.OrderBy(n => n));
        foreach (var s in Expected.Value.GetProperty("subset").EnumerateArray())
            Assert.Contains(s.GetProperty("name").GetString(), model.named_parameters().Select(p => p.name));
    }

    [Fact]
    public void CheckpointAccuraciesMatchPyTorch()
    {
        var (x, y) = EvalSet();
        using var _x = x;
        using var _y = y;
        using var model = TorchScriptModel.Load(Fixture("model.pt"));
        model.eval();
        var exp = Expected.Value;

        // Zero everything first: the accuracies below must come from the files, not from the weights the archive holds.
        using (no_grad())
            foreach (var p in model.parameters()) p.zero_();
        var baseSd = ReadStateDict("base.pth");
        try
        {
            Assert.Equal(exp.GetProperty("base").GetProperty("sha256").GetString(), Sha256("base.pth"));
            model.Assign(baseSd, strict: true);
            AssertAccuracy("base.pth", exp.GetProperty("base").GetProperty("accuracy").GetDouble(), Accuracy(model, x, y));
            AssertLogitsHead(model, x, exp.GetProperty("base"));

            var subset = exp.GetProperty("subset").EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToHashSet();
            var seen = new HashSet<double>();
            var checkpoints = exp.GetProperty("checkpoints").EnumerateArray().ToList();
            Assert.Equal(40, checkpoints.Count);
            foreach (var c in checkpoints)
            {
                var file = c.GetProperty("file").GetString()!;
                Assert.Equal(c.GetProperty("sha256").GetString(), Sha256(file));
                var sd = ReadStateDict(file);
                try
                {
                    Assert.True(subset.SetEquals(sd.Keys), $"{file} holds {string.Join(", ", sd.Keys)}");
                    model.Assign(baseSd);
                    model.Assign(sd);
                    var acc = Accuracy(model, x, y);
                    AssertAccuracy(file, c.GetProperty("accuracy").GetDouble(), acc);
                    seen.Add(acc);
                    if (c.TryGetProperty("logits_head", out _)) AssertLogitsHead(model, x, c);
                }
                finally { DisposeAll(sd); }
            }
            // The checkpoints really differ: writing a 42-number subset moves the accuracy.
            Assert.True(seen.Count > 1, "all checkpoints scored the same");
        }
        finally { DisposeAll(baseSd); }
    }

    static void AssertLogitsHead(TorchScriptModel model, Tensor x, JsonElement entry)
    {
        var rows = entry.GetProperty("logits_head").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var got = model.forward(x.narrow(0, 0, rows.Length));
        var want = tensor(rows.SelectMany(r => r).ToArray()).reshape(rows.Length, rows[0].Length);
        var diff = got.sub(want).abs().max().item<float>();
        Assert.True(diff < 1e-4, $"max |TorchSharp − PyTorch| logit = {diff:G3}");
    }

    [Fact]
    public void LoadPyFillsTheScriptsParameters()
    {
        var (x, y) = EvalSet();
        using var _x = x;
        using var _y = y;
        using var model = TorchScriptModel.Load(Fixture("model.pt"));
        model.load_py(Fixture("base.pth"));
        model.load_py(Fixture("checkpoints/0039.pth"), strict: false);
        model.eval();
        var last = Expected.Value.GetProperty("checkpoints").EnumerateArray().Last();
        AssertAccuracy("load_py 0039.pth", last.GetProperty("accuracy").GetDouble(), Accuracy(model, x, y));
    }

    [Fact]
    public void WritingUnderNoGradChangesOutputs()
    {
        using var model = TorchScriptModel.Load(Fixture("model.pt"));
        model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = ones(2, 1, 28, 28).mul_(0.5f);
        var before = model.forward(input);
        model.named_parameters().Single(p => p.name == "fc.bias").parameter.add_(1f);
        var after = model.forward(input);
        Assert.True(after.sub(before).sub(1f).abs().max().item<float>() < 1e-5, "fc.bias + 1 must add 1 to every logit");
    }

    [Fact]
    public void TrainAndEvalSwitchTheWholeScript()
    {
        using var model = TorchScriptModel.Load(Fixture("model.pt"));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = rand(new long[] { 8, 1, 28, 28 }, generator: new Generator(7));
        model.eval();
        Assert.False(model.training);
        Assert.All(model.Script.named_modules(), m => Assert.False(m.module.training));
        var evalOut = model.forward(input);
        model.train();
        Assert.True(model.training);
        Assert.All(model.Script.named_modules(), m => Assert.True(m.module.training));
        // BatchNorm on batch statistics gives other logits than on running statistics, and updates them.
        var runningMean = model.named_buffers().Single(b => b.name == "bn2.running_mean").buffer;
        var meanBefore = runningMean.clone();
        Assert.True(model.forward(input).sub(evalOut).abs().max().item<float>() > 1e-3);
        Assert.True(runningMean.sub(meanBefore).abs().max().item<float>() > 0);
        model.eval();
        var meanAfter = runningMean.clone();
        model.forward(input);
        Assert.True(runningMean.sub(meanAfter).abs().max().item<float>() == 0, "eval() must freeze the running statistics");
    }

    [Fact]
    public void ToDoubleKeepsTheParametersShared()
    {
        using var model = TorchScriptModel.Load(Fixture("model.pt"));
        model.eval();
        model.to(ScalarType.Float64);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = ones(2, 1, 28, 28, ScalarType.Float64).mul_(0.5);
        var before = model.forward(input);
        Assert.Equal(ScalarType.Float64, before.dtype);
        model.named_parameters().Single(p => p.name == "fc.bias").parameter.sub_(2.0);
        Assert.True(model.forward(input).sub(before).add(2.0).abs().max().item<double>() < 1e-9);
    }

    [Fact]
    public void MissingFileNamesItAndTheExport()
    {
        var path = Path.Combine(Path.GetTempPath(), $"pdiff-no-such-{Guid.NewGuid():N}.pt");
        var e = Assert.Throws<FileNotFoundException>(() => TorchScriptModel.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("torch.jit.script", e.Message);
    }

    [Fact]
    public void StateDictIsNotTorchScript()
    {
        var e = Assert.Throws<InvalidDataException>(() => TorchScriptModel.Load(Fixture("base.pth")));
        Assert.Contains("base.pth", e.Message);
        Assert.Contains("torch.save", e.Message);
        Assert.Contains("torch.jit.script", e.Message);
    }

    [Fact]
    public void NonZipAndTruncatedFilesAreRefused()
    {
        var json = Assert.Throws<InvalidDataException>(() => TorchScriptModel.Load(Fixture("expected.json")));
        Assert.Contains("not a zip archive", json.Message);

        var cut = Path.Combine(Path.GetTempPath(), $"pdiff-cut-{Guid.NewGuid():N}.pt");
        try
        {
            var bytes = File.ReadAllBytes(Fixture("model.pt"));
            File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
            var e = Assert.Throws<InvalidDataException>(() => TorchScriptModel.Load(cut));
            Assert.Contains(cut, e.Message);
            Assert.Contains("incomplete", e.Message);
        }
        finally { File.Delete(cut); }
    }

    [Fact]
    public void ZipWithBrokenCodeGetsLibtorchsReason()
    {
        // Looks like TorchScript from the outside (code/ and constants.pkl), but libtorch cannot read it.
        var fake = Path.Combine(Path.GetTempPath(), $"pdiff-fake-{Guid.NewGuid():N}.pt");
        try
        {
            using (var zip = ZipFile.Open(fake, ZipArchiveMode.Create))
            {
                foreach (var name in new[] { "fake/code/__torch__.py", "fake/constants.pkl", "fake/data.pkl", "fake/version" })
                {
                    using var w = new StreamWriter(zip.CreateEntry(name).Open());
                    w.Write("not what libtorch expects");
                }
            }
            var e = Assert.Throws<InvalidDataException>(() => TorchScriptModel.Load(fake));
            Assert.Contains(fake, e.Message);
            Assert.Contains("libtorch could not load", e.Message);
        }
        finally { File.Delete(fake); }
    }

    [Fact]
    public void WrongInputShapeNamesTheFileAndTheShape()
    {
        using var model = TorchScriptModel.Load(Fixture("model.pt"));
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => model.forward(zeros(2, 3, 28, 28)));
        Assert.Contains("model.pt", e.Message);
        Assert.Contains("[2, 3, 28, 28]", e.Message);
        Assert.Contains("channels", e.Message); // libtorch's own reason, not just "the interpreter failed"

        var d = Assert.Throws<ArgumentException>(() => model.forward(zeros(new long[] { 2, 1, 28, 28 }, ScalarType.Float64)));
        Assert.Contains("Float64", d.Message);

        using var declared = TorchScriptModel.Load(Fixture("model.pt"), inputShape: new long[] { 1, 28, 28 });
        var s = Assert.Throws<ArgumentException>(() => declared.forward(zeros(2, 784)));
        Assert.Contains("[batch, 1, 28, 28]", s.Message);
        Assert.Contains("[2, 784]", s.Message);
    }

    [Fact]
    public void AssignRefusesUnknownNamesAndWrongShapes()
    {
        using var model = TorchScriptModel.Load(Fixture("model.pt"));
        using var scope = NewDisposeScope();
        var unknown = Assert.Throws<ArgumentException>(() => model.Assign(new Dictionary<string, Tensor> { ["bn3.weight"] = zeros(16) }));
        Assert.Contains("bn3.weight", unknown.Message);
        Assert.Contains("bn2.weight", unknown.Message); // lists what the model has
        var shape = Assert.Throws<ArgumentException>(() => model.Assign(new Dictionary<string, Tensor> { ["fc.bias"] = zeros(11) }));
        Assert.Contains("fc.bias", shape.Message);
        Assert.Contains("[10]", shape.Message);
        var strict = Assert.Throws<ArgumentException>(() => model.Assign(new Dictionary<string, Tensor> { ["fc.bias"] = zeros(10) }, strict: true));
        Assert.Contains("conv1.weight", strict.Message);
    }
}
