using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using PDiff.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Serialization;

[Collection(PDiff.Tests.TorchFixes.NativeStateCollection.Name)]
public class SafetensorsTests
{
    static Dictionary<string, Tensor> AllDtypes()
    {
        var f = torch.tensor(new float[] { 1.5f, -2, 3.25f, float.MaxValue, float.Epsilon, -0f }, 2, 3);
        return new Dictionary<string, Tensor>
        {
            ["f32"] = f,
            ["f64"] = torch.tensor(new[] { Math.PI, -1e300, double.NegativeInfinity }),
            ["f16"] = f.to(ScalarType.Float16),
            ["bf16"] = f.to(ScalarType.BFloat16),
            ["i64"] = torch.tensor(new[] { long.MinValue, long.MaxValue, 0L }),
            ["i32"] = torch.tensor(new[] { int.MinValue, 7 }),
            ["i16"] = torch.tensor(new long[] { -32768, 32767 }).to(ScalarType.Int16),
            ["i8"] = torch.tensor(new long[] { -128, 127 }).to(ScalarType.Int8),
            ["u8"] = torch.tensor(new byte[] { 0, 200, 255 }),
            ["bool"] = torch.tensor(new[] { true, false, true, true }),
            ["scalar"] = torch.tensor(4.5, ScalarType.Float64),
            ["empty"] = torch.zeros(new long[] { 0, 3 }),
            ["strided"] = f.transpose(0, 1), // not contiguous: written in logical order
        };
    }

    [Fact]
    public void RoundTripsEveryDtypeScalarEmptyAndMetadata()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var tensors = AllDtypes();
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode ✓", ["empty"] = "" };
        var path = dir.File("all.safetensors");
        Safetensors.Save(path, tensors, meta);

        var (loaded, metadata) = Safetensors.Load(path);
        Assert.Equal(meta, metadata);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), loaded.Keys); // data order = ordinal name order
        foreach (var (name, t) in tensors)
        {
            var back = loaded[name];
            Assert.Equal(t.dtype, back.dtype);
            Assert.Equal(t.shape, back.shape);
            Assert.Equal(Kit.Values(t), Kit.Values(back));
        }
        Assert.Equal(new long[0], loaded["scalar"].shape);
        Assert.Equal(4.5, loaded["scalar"].item<double>());
        Assert.Equal(new float[] { 1.5f, float.MaxValue, -2, float.Epsilon, 3.25f, -0f }, loaded["strided"].data<float>().ToArray());
        Assert.True(float.IsNegative(loaded["f32"].data<float>().ToArray()[5])); // -0 keeps its sign bit
    }

    [Fact]
    public void WritesTheStandardLayoutDeterministically()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var tensors = AllDtypes();
        var a = dir.File("a.safetensors");
        var b = dir.File("b.safetensors");
        Safetensors.Save(a, tensors, new Dictionary<string, string> { ["k"] = "v" });
        Safetensors.Save(b, new Dictionary<string, Tensor>(tensors.Reverse()), new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(a);
        Assert.Equal(bytes, File.ReadAllBytes(b)); // insertion order does not matter

        var n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + n) % 8); // data 8-byte aligned, header padded with spaces
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n));
        var f32 = doc.RootElement.GetProperty("f32");
        Assert.Equal("F32", f32.GetProperty("dtype").GetString());
        Assert.Equal("[2,3]", f32.GetProperty("shape").GetRawText());
        Assert.Equal("v", doc.RootElement.GetProperty("__metadata__").GetProperty("k").GetString());
        var offsets = f32.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.Equal(24, offsets[1] - offsets[0]);
        // The raw bytes of f32 sit at 8 + n + begin, little-endian.
        Assert.Equal(1.5f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + offsets[0]))));
        Assert.Equal(8 + n + doc.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__")
            .Sum(p => p.Value.GetProperty("data_offsets")[1].GetInt64() - p.Value.GetProperty("data_offsets")[0].GetInt64()), bytes.Length);
    }

    [Fact]
    public void LoadsAFileFromAnIndependentWriter()
    {
        using var scope = torch.NewDisposeScope();
        using var expected = JsonDocument.Parse(File.ReadAllText(Kit.Fixture("independent.json")));
        var (tensors, metadata) = Safetensors.Load(Kit.Fixture("independent.safetensors"));
        Assert.Equal(expected.RootElement.GetProperty("data_order").EnumerateArray().Select(e => e.GetString()), tensors.Keys);
        foreach (var p in expected.RootElement.GetProperty("tensors").EnumerateObject())
            Kit.AssertMatches(p.Name, p.Value, tensors[p.Name]);
        Assert.Equal("make_fixtures.py", metadata["writer"]);
        Assert.Equal("pt", metadata["format"]);

        var header = Safetensors.ReadHeader(Kit.Fixture("independent.safetensors"));
        var brain = header.Entries.Single(e => e.Name == "brain");
        Assert.Equal(ScalarType.BFloat16, brain.DType);
        Assert.Equal("BF16", brain.DTypeName);
        Assert.Equal(6, brain.ByteLength);
    }

    [Fact]
    public void LoadedTensorsBelongToTheCurrentScopeAndSaveReplacesAtomically()
    {
        using var dir = new TempDir();
        var path = dir.File("x.safetensors");
        using (var t = torch.ones(3))
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["x"] = t });
        var live = Kit.LiveTensors;
        Tensor kept;
        using (torch.NewDisposeScope())
            kept = Safetensors.Load(path).Tensors["x"];
        Assert.True(kept.IsInvalid); // disposed with the scope
        Assert.Equal(live, Kit.LiveTensors);

        // A save that fails half-way (a null metadata value is found while the header is built) leaves
        // the old file as it was and no temporary file behind.
        var before = File.ReadAllBytes(path);
        using (var t = torch.zeros(5))
            Assert.Throws<ArgumentException>(() => Safetensors.Save(path, new Dictionary<string, Tensor> { ["y"] = t },
                new Dictionary<string, string> { ["bad"] = null! }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(dir.Path));

        using (var t = torch.zeros(5))
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["y"] = t });
        using var c = Safetensors.Load(path);
        Assert.Equal(new[] { "y" }, c.Tensors.Keys);
        Assert.Equal(new[] { path }, Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void RejectsBadArgumentsToSave()
    {
        using var dir = new TempDir();
        using var t = torch.ones(1);
        Assert.Throws<ArgumentException>(() => Safetensors.Save(dir.File("a"), new Dictionary<string, Tensor> { ["__metadata__"] = t }));
        var gone = torch.ones(1);
        gone.Dispose();
        var ex = Assert.Throws<ObjectDisposedException>(() => Safetensors.Save(dir.File("a"), new Dictionary<string, Tensor> { ["w"] = gone }));
        Assert.Contains("'w'", ex.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    // ---- malformed files: each gives InvalidDataException naming the file and the problem ----

    static byte[] Raw(string json, int dataBytes, ulong? declaredLength = null)
    {
        var h = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    static byte[] Patch(byte[] b, int at, byte v)
    {
        b[at] = v;
        return b;
    }

    public static TheoryData<string, byte[], string> Malformed() => new()
    {
        { "short", new byte[5], "fewer than the 8-byte header length" },
        { "beyond", Raw("{}", 0, 1000), "reaches beyond the end of the file" },
        { "negative", Raw("{}", 0, unchecked((ulong)-5L)), "reaches beyond the end of the file" },
        { "json", Raw("{\"a\": {\"dtype\": \"F32\",", 0), "not valid JSON" },
        { "array", Raw("[1, 2]", 0), "must be a JSON object" },
        { "dtype", Raw("""{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}""", 4), "unknown dtype 'F33'" },
        { "u32", Raw("""{"a":{"dtype":"U32","shape":[1],"data_offsets":[0,4]}}""", 4), "TorchSharp has no element type for" },
        { "nodtype", Raw("""{"a":{"shape":[1],"data_offsets":[0,4]}}""", 4), "has no string 'dtype'" },
        { "negdim", Raw("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4), "negative dimension -1" },
        { "floatdim", Raw("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", 4), "not a 64-bit integer" },
        { "disagree", Raw("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", 4), "needs 8 bytes but its data offsets [0, 4] span 4" },
        { "outside", Raw("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4), "beyond the end of the file" },
        { "reversed", Raw("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", 4), "invalid data offsets [4, 0]" },
        { "overlap", Raw("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8), "overlaps" },
        { "gap", Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8), "belong to no tensor" },
        { "trailing", Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 8), "cover 4 bytes but the data section after the header holds 8" },
        { "overflow", Raw("""{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", 8), "too many elements" },
        { "bytesoverflow", Raw("""{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}""", 8), "too many elements" },
        { "duplicate", Raw("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""", 2), "appears twice" },
        { "metadata", Raw("""{"__metadata__":{"k":1}}""", 0), "metadata 'k' must be a string" },
        { "dims", Raw("{\"a\":{\"dtype\":\"U8\",\"shape\":[" + string.Join(",", Enumerable.Repeat(1, 65)) + "],\"data_offsets\":[0,1]}}", 1), "65 dimensions" },
        { "utf8", Patch(Raw("{\"a?\":1}", 0), 8 + 3, 0xff), "its header" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void RejectsMalformedFilesWithTheFileAndTheProblem(string name, byte[] bytes, string problem)
    {
        using var dir = new TempDir();
        var path = dir.File(name + ".safetensors");
        System.IO.File.WriteAllBytes(path, bytes);
        var live = Kit.LiveTensors;
        var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(problem, ex.Message);
        Assert.Equal(live, Kit.LiveTensors); // nothing leaked on the error path
    }

    [Fact]
    public void RejectsBoolBytesOtherThanZeroAndOne()
    {
        using var dir = new TempDir();
        var path = dir.File("bool.safetensors");
        var bytes = Raw("""{"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}""", 3);
        bytes[^1] = 2;
        System.IO.File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
        Assert.Contains("holds the byte 2 at element 2", ex.Message);
    }
}
