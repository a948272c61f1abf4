using System.IO.Compression;
using System.Text.Json;
using PDiff.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Serialization;

[Collection(PDiff.Tests.TorchFixes.NativeStateCollection.Name)]
public class PtCheckpointTests
{
    [Fact]
    public void LoadsARealTorchSaveStateDictWithItsValuesAndOrder()
    {
        using var scope = torch.NewDisposeScope();
        using var expected = JsonDocument.Parse(File.ReadAllText(Kit.Fixture("conv_bn.json")));
        var sd = PtCheckpoint.Load(Kit.Fixture("conv_bn.pt"));
        Assert.Equal(expected.RootElement.EnumerateObject().Select(p => p.Name), sd.Keys); // state-dict order
        foreach (var p in expected.RootElement.EnumerateObject())
            Kit.AssertMatches(p.Name, p.Value, sd[p.Name]);
        var tracked = sd["features.0.bn.num_batches_tracked"];
        Assert.Equal(ScalarType.Int64, tracked.dtype);
        Assert.Equal(3L, tracked.item<long>());
        Assert.False(sd["features.0.conv.weight"].requires_grad);
        Assert.Equal(DeviceType.CPU, sd["head.weight"].device_type);
    }

    [Fact]
    public void FlattensNestedCheckpointsAndKeepsViewsAndParameters()
    {
        using var scope = torch.NewDisposeScope();
        using var expected = JsonDocument.Parse(File.ReadAllText(Kit.Fixture("nested.json")));
        var bytes = File.ReadAllBytes(Kit.Fixture("nested.pt"));
        var ck = PtCheckpoint.Load(bytes, "nested.pt");
        // epoch, lr, note and the tuple's 5 and "text" are skipped; names follow the saved order.
        Assert.Equal(new[] { "model.head.weight", "model.head.bias", "extra.base", "extra.view", "extra.f64", "extra.mask",
            "extra.bytes", "extra.scalar", "seq.0", "pair.0", "param" }, ck.Keys);
        foreach (var p in expected.RootElement.EnumerateObject())
            Kit.AssertMatches(p.Name, p.Value, ck[p.Name]);
        Assert.True(ck["param"].requires_grad);
        Assert.False(ck["extra.base"].requires_grad);

        // The view shares the storage of "base", as after torch.load.
        Assert.False(ck["extra.view"].is_contiguous());
        ck["extra.base"].fill_(-1);
        Assert.Equal(new float[] { -1, -1, -1 }, ck["extra.view"].contiguous().data<float>().ToArray());
    }

    [Fact]
    public void RefusesAPickledModuleWithAnExplanation()
    {
        var ex = Assert.Throws<InvalidDataException>(() => PtCheckpoint.Load(Kit.Fixture("whole_model.pt")));
        Assert.Contains("whole_model.pt", ex.Message);
        Assert.Contains("only pickled Python objects (__main__.Net)", ex.Message);
        Assert.Contains("state_dict()", ex.Message);
    }

    [Fact]
    public void LoadsFromMemoryAndFromDiskAlike()
    {
        using var scope = torch.NewDisposeScope();
        var a = PtCheckpoint.Load(Kit.Fixture("conv_bn.pt"));
        var b = PtCheckpoint.Load(File.ReadAllBytes(Kit.Fixture("conv_bn.pt")));
        Assert.Equal(a.Keys, b.Keys);
        foreach (var k in a.Keys) Assert.Equal(Kit.Values(a[k]), Kit.Values(b[k]));
    }

    static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void ReadsHandWrittenPicklesWithSharedStorage()
    {
        using var scope = torch.NewDisposeScope();
        // {"a": view [2] of storage 0 at offset 1, "b": [[0, 1], [2, 3]] transposed}
        var pickle = new PickleWriter().Op('}').Op('(')
            .Str("a").FloatTensor("0", 4, 1, new[] { 2 }, new[] { 1 })
            .Str("b").FloatTensor("0", 4, 0, new[] { 2, 2 }, new[] { 1, 2 })
            .Op('u').Stop();
        var ck = PtCheckpoint.Load(Kit.Archive(pickle, ("0", Floats(0, 1, 2, 3))), "hand");
        Assert.Equal(new float[] { 1, 2 }, ck["a"].data<float>().ToArray());
        Assert.Equal(new long[] { 2, 2 }, ck["b"].shape);
        Assert.Equal(new float[] { 0, 2, 1, 3 }, ck["b"].contiguous().data<float>().ToArray());
    }

    public static TheoryData<string, byte[], string> Broken()
    {
        byte[] Tensor(int numel, int offset, int[] size, int[] stride, int recordFloats) =>
            Kit.Archive(new PickleWriter().Op('}').Op('(').Str("w").FloatTensor("0", numel, offset, size, stride).Op('u').Stop(),
                ("0", Floats(new float[recordFloats])));
        var good = File.ReadAllBytes(Kit.Fixture("conv_bn.pt"));
        var crc = (byte[])good.Clone();
        crc[good.AsSpan().IndexOf("running_mean"u8) + 3] ^= 0x20; // inside the stored data.pkl: only the CRC notices
        return new()
        {
            { "not zip", "hello world"u8.ToArray(), "not a zip archive" },
            { "legacy", new byte[] { 0x80, 2, 0x8a, 0x0a }, "legacy torch.save format" },
            { "empty", Array.Empty<byte>(), "not a zip archive" },
            { "no pickle", Rename(Kit.Archive(new PickleWriter().Op('N').Stop())), "no <name>/data.pkl" },
            { "crc", crc, "fails its CRC check" },
            { "outside", Tensor(4, 2, new[] { 3 }, new[] { 1 }, 4), "reaches outside its storage '0' of 4 elements" },
            { "stride", Tensor(4, 0, new[] { 2, 2 }, new[] { 3, 1 }, 4), "reaches outside its storage" },
            { "huge", Tensor(4, 0, new[] { int.MaxValue, int.MaxValue, int.MaxValue }, new[] { int.MaxValue, int.MaxValue, int.MaxValue }, 4), "invalid sizes" },
            { "negative", Tensor(4, 0, new[] { -1 }, new[] { 1 }, 4), "invalid sizes" },
            { "record size", Tensor(100, 0, new[] { 2 }, new[] { 1 }, 4), "record 'data/0' holds 16 bytes but its tensor storage needs 400" },
            { "missing record", Kit.Archive(new PickleWriter().Op('}').Op('(').Str("w").FloatTensor("7", 1, 0, new[] { 1 }, new[] { 1 }).Op('u').Stop()), "record 'data/7' of a tensor storage is missing" },
            { "underflow", Kit.Archive(new PickleWriter().Op('t').Stop()), "needs a MARK" },
            { "pop", Kit.Archive(new PickleWriter().Op('s').Stop()), "stack is empty" },
            { "memo", Kit.Archive(new PickleWriter().Raw((byte)'h', 9).Stop()), "memo entry 9" },
            { "opcode", Kit.Archive(new PickleWriter().Raw(0xff).Stop()), "unsupported pickle opcode 0xff" },
            { "string", Kit.Archive(new PickleWriter().Raw((byte)'X', 0xff, 0xff, 0xff, 0x7f).Stop()), "exceeds the" },
            { "no stop", Kit.Archive(new PickleWriter().Op('N').Stop()[..^1]), "without a STOP" },
            { "two values", Kit.Archive(new PickleWriter().Op('N').Op('N').Stop()), "stops with 2 values" },
            { "cycle", Kit.Archive(new PickleWriter().Op(']').Raw((byte)'q', 0, (byte)'h', 0).Op('a').Stop()), "nest deeper than 100" },
            { "sparse", Kit.Archive(new PickleWriter().Global("torch._utils", "_rebuild_sparse_tensor").Op(')').Op('R').Stop()), "only dense tensors" },
            { "shared", Kit.Archive(SharedDag(40)), "reference each other too many times" },
        };
    }

    static byte[] Rename(byte[] zip)
    {
        using var src = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var ms = new MemoryStream();
        using (var dst = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var e in src.Entries)
                using (var s = dst.CreateEntry(e.FullName.Replace("data.pkl", "other.pkl"), CompressionLevel.NoCompression).Open())
                using (var es = e.Open())
                    es.CopyTo(s);
        return ms.ToArray();
    }

    // x0 = [None]; x(k+1) = [xk, xk]: a few bytes describing 2^depth leaves.
    static byte[] SharedDag(int depth)
    {
        var w = new PickleWriter().Op(']').Op('N').Op('a');
        for (var i = 0; i < depth; i++)
            w.Raw((byte)'q', (byte)i).Op(']').Op('(').Raw((byte)'h', (byte)i).Raw((byte)'h', (byte)i).Op('e')
                .Raw((byte)'q', 200).Op('0').Op('0').Raw((byte)'h', 200); // keep only the new list on the stack
        return w.Stop();
    }

    [Theory]
    [MemberData(nameof(Broken))]
    public void RejectsBrokenCheckpointsWithTheFileAndTheProblem(string name, byte[] bytes, string problem)
    {
        var live = Kit.LiveTensors;
        var ex = Assert.Throws<InvalidDataException>(() => PtCheckpoint.Load(bytes, name + ".pt"));
        Assert.Contains($"'{name}.pt'", ex.Message);
        Assert.Contains(problem, ex.Message);
        Assert.Equal(live, Kit.LiveTensors);
    }
}
