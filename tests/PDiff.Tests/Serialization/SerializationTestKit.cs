using System.IO.Compression;
using System.Text.Json;
using PDiff.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Serialization;

/// <summary>A scratch folder removed at the end of a test.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pdiff-ser-" + Guid.NewGuid().ToString("N"));
    public TempDir() => Directory.CreateDirectory(Path);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

internal static class Kit
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "serialization", name);

    /// <summary>Tensors alive on this thread (TorchSharp counts creations and disposals per thread).</summary>
    public static long LiveTensors => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    /// <summary>PyTorch's name of an element type, as make_fixtures.py writes it.</summary>
    public static string Name(ScalarType t) => t == ScalarType.Byte ? "uint8" : t.ToString().ToLowerInvariant();

    /// <summary>Every element as a double, whatever the element type (half and bfloat16 included).</summary>
    public static double[] Values(Tensor t)
    {
        if (t.numel() == 0) return []; // TorchSharp's accessor cannot copy out of an empty tensor
        using var d = t.to(ScalarType.Float64);
        using var c = d.contiguous();
        return c.data<double>().ToArray();
    }

    /// <summary>Checks a loaded tensor against make_fixtures.py's description {dtype, shape, values}.</summary>
    public static void AssertMatches(string name, JsonElement expected, Tensor actual)
    {
        Assert.True(expected.GetProperty("dtype").GetString() == Name(actual.dtype), $"{name}: dtype {Name(actual.dtype)}, expected {expected.GetProperty("dtype").GetString()}");
        Assert.Equal(expected.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(), actual.shape);
        var want = expected.GetProperty("values").EnumerateArray().Select(e => e.ValueKind switch
        {
            JsonValueKind.True => 1.0,
            JsonValueKind.False => 0.0,
            _ => e.GetDouble(),
        }).ToArray();
        var got = Values(actual);
        Assert.Equal(want.Length, got.Length);
        for (var i = 0; i < want.Length; i++)
            Assert.True(want[i] == got[i], $"{name}[{i}]: {got[i]:R}, expected {want[i]:R}");
    }

    /// <summary>
    /// A copy of a torch.save zip with its data.pkl replaced (and correct CRCs), so that a mutated
    /// pickle reaches the pickle parser instead of being stopped by the CRC check.
    /// </summary>
    public static byte[] WithPickle(byte[] pt, Func<byte[], byte[]> change)
    {
        using var src = new ZipArchive(new MemoryStream(pt), ZipArchiveMode.Read);
        var outStream = new MemoryStream();
        using (var dst = new ZipArchive(outStream, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var e in src.Entries)
            {
                using var es = e.Open();
                var ms = new MemoryStream();
                es.CopyTo(ms);
                var bytes = ms.ToArray();
                if (e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)) bytes = change(bytes);
                var ne = dst.CreateEntry(e.FullName, CompressionLevel.NoCompression);
                using var ns = ne.Open();
                ns.Write(bytes);
            }
        return outStream.ToArray();
    }

    /// <summary>A torch.save-shaped zip made from a hand-written pickle and raw records.</summary>
    public static byte[] Archive(byte[] pickle, params (string Key, byte[] Data)[] records)
    {
        var outStream = new MemoryStream();
        using (var dst = new ZipArchive(outStream, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] data)
            {
                using var s = dst.CreateEntry(name, CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
            Add("archive/data.pkl", pickle);
            foreach (var (k, d) in records) Add("archive/data/" + k, d);
            Add("archive/version", "3\n"u8.ToArray());
        }
        return outStream.ToArray();
    }
}

/// <summary>Writes pickle opcodes by hand, for checkpoints that Python would never write.</summary>
internal sealed class PickleWriter
{
    readonly MemoryStream s = new();
    public PickleWriter() => s.Write(new byte[] { 0x80, 2 });
    public PickleWriter Op(char c) { s.WriteByte((byte)c); return this; }
    public PickleWriter Raw(params byte[] b) { s.Write(b); return this; }
    public PickleWriter Str(string v)
    {
        var b = System.Text.Encoding.UTF8.GetBytes(v);
        s.WriteByte((byte)'X');
        s.Write(BitConverter.GetBytes((uint)b.Length));
        s.Write(b);
        return this;
    }
    public PickleWriter Int(int v) { s.WriteByte((byte)'J'); s.Write(BitConverter.GetBytes(v)); return this; }
    public PickleWriter Global(string module, string name) { s.WriteByte((byte)'c'); s.Write(System.Text.Encoding.ASCII.GetBytes(module + "\n" + name + "\n")); return this; }
    public PickleWriter IntTuple(params int[] v) { Op('('); foreach (var x in v) Int(x); return Op('t'); }

    /// <summary>_rebuild_tensor_v2(storage(key, FloatStorage, numel), offset, size, stride, False, OrderedDict()).</summary>
    public PickleWriter FloatTensor(string key, int numel, int offset, int[] size, int[] stride) =>
        Tensor("FloatStorage", key, numel, offset, size, stride);

    public PickleWriter Tensor(string storageType, string key, int numel, int offset, int[] size, int[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2");
        return TensorArgs(storageType, key, numel, offset, size, stride).Op('R');
    }

    /// <summary>The argument tuple of _rebuild_tensor_v2.</summary>
    public PickleWriter TensorArgs(string storageType, string key, int numel, int offset, int[] size, int[] stride)
    {
        Op('(');
        Op('(').Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel).Op('t').Op('Q');
        Int(offset).IntTuple(size).IntTuple(stride).Raw(0x89);
        Global("collections", "OrderedDict").Op(')').Op('R');
        return Op('t');
    }

    public byte[] Stop() { s.WriteByte((byte)'.'); return s.ToArray(); }
}
