using System.Text.Json;
using static TorchSharp.torch;

namespace PDiff.Checkpoints;

/// <summary>One tensor of a safetensors file: its name, element type, shape and byte range in the data section.</summary>
public sealed record SafetensorsEntry(string Name, ScalarType DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
    /// <summary>The format's spelling of the element type (<c>F32</c>, <c>I64</c>, <c>BOOL</c>, ...).</summary>
    public string DTypeName => SafetensorsHeader.DTypeName(DType);
}

/// <summary>
/// The parsed, validated header of a safetensors file. Entries are in data order (by offset); every byte
/// of the data section belongs to exactly one entry, as the format requires.
/// </summary>
public sealed class SafetensorsHeader
{
    /// <summary>Headers above this size are refused before anything is allocated for them.</summary>
    public const long MaxHeaderBytes = 100_000_000;
    /// <summary>More dimensions than any real tensor has; a sanity bound on untrusted shapes.</summary>
    public const int MaxDims = 64;

    public IReadOnlyList<SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>File offset of the data section: 8 + the header length.</summary>
    public long DataStart { get; }

    SafetensorsHeader(IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string> metadata, long dataStart)
    {
        Entries = entries;
        Metadata = metadata;
        DataStart = dataStart;
    }

    static readonly (string Name, ScalarType Type)[] DTypes =
    {
        ("F64", ScalarType.Float64), ("F32", ScalarType.Float32), ("F16", ScalarType.Float16), ("BF16", ScalarType.BFloat16),
        ("I64", ScalarType.Int64), ("I32", ScalarType.Int32), ("I16", ScalarType.Int16), ("I8", ScalarType.Int8),
        ("U8", ScalarType.Byte), ("BOOL", ScalarType.Bool),
    };

    // Valid in the format, but TorchSharp 0.107 has no element type for them.
    static readonly string[] Unsupported = { "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64" };

    public static string DTypeName(ScalarType t)
    {
        foreach (var (name, type) in DTypes)
            if (type == t) return name;
        throw new NotSupportedException($"Element type {ElementTypes.Name(t)} cannot be stored in safetensors.");
    }

    const string DefaultFix = "get an intact copy of the file, or write it again with safetensors' save_file (or Safetensors.Save)";

    /// <summary>The one error of this reader: names the file, the problem and what to do ("" when the problem says it).</summary>
    internal static InvalidDataException Bad(string path, string problem, string fix = DefaultFix) =>
        new($"'{path}' is not a valid safetensors file: {problem}." + (fix.Length > 0 ? $" To fix: {fix}." : ""));

    // The format nests three levels (header, entry, shape or offsets); a few more are tolerated.
    const int MaxJsonDepth = 16;

    /// <summary>Parses and checks a header against the size of the data section that follows it.</summary>
    internal static SafetensorsHeader Parse(string path, ReadOnlyMemory<byte> json, long dataLength)
    {
        // Measured before parsing, so that a 10,000-deep nest gets its own message (the parser's would
        // quote the path of property names it had read, which is file content).
        var depth = JsonDepth(json.Span);
        if (depth > MaxJsonDepth)
            throw Bad(path, $"its header nests JSON {depth} levels deep (at most {MaxJsonDepth}; the format needs 3)");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
        }
        catch (JsonException e)
        {
            // The parser's message quotes the offending text; only the position is kept.
            throw Bad(path, $"its header is not valid JSON (at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1} of the line; the header is {json.Length} bytes)");
        }
        using (doc)
        {
            try
            {
                return Parse(path, doc.RootElement, dataLength, json.Length);
            }
            catch (InvalidOperationException)
            {
                // GetString on text that is not valid UTF-8.
                throw Bad(path, "its header holds text that is not valid UTF-8");
            }
        }
    }

    /// <summary>The deepest nesting of objects and arrays, outside strings; stops counting past the limit.</summary>
    static int JsonDepth(ReadOnlySpan<byte> json)
    {
        int depth = 0, max = 0;
        var inString = false;
        for (var i = 0; i < json.Length; i++)
        {
            var c = json[i];
            if (inString)
            {
                if (c == (byte)'\\') i++;
                else if (c == (byte)'"') inString = false;
            }
            else if (c == (byte)'"') inString = true;
            else if (c is (byte)'{' or (byte)'[')
            {
                if (++depth > max) max = depth;
                if (max > 1_000_000) return max;
            }
            else if (c is (byte)'}' or (byte)']') depth--;
        }
        return max;
    }

    static SafetensorsHeader Parse(string path, JsonElement root, long dataLength, long headerLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw Bad(path, $"its header must be a JSON object, found {root.ValueKind}");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<SafetensorsEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var prop in root.EnumerateObject())
        {
            if (!seen.Add(prop.Name)) throw Bad(path, $"the name {SafeText.Quote(prop.Name)} appears twice in the header");
            if (prop.Name == "__metadata__") ReadMetadata(path, prop.Value, metadata);
            else entries.Add(ReadEntry(path, prop.Name, prop.Value, dataLength));
        }

        // Data order; ties (empty tensors at one offset) keep header order, since OrderBy is stable.
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long expected = 0;
        foreach (var e in ordered)
        {
            if (e.Begin < expected)
                throw Bad(path, $"the data of {SafeText.Quote(e.Name)} [{e.Begin}, {e.End}) overlaps the tensor before it (which ends at {expected})");
            if (e.Begin > expected)
                throw Bad(path, $"bytes [{expected}, {e.Begin}) of the data section belong to no tensor (before {SafeText.Quote(e.Name)})");
            expected = e.End;
        }
        if (expected != dataLength)
            throw Bad(path, $"the tensors cover {expected} bytes but the data section after the header holds {dataLength}");
        return new SafetensorsHeader(ordered, metadata, 8 + headerLength);
    }

    static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, "'__metadata__' must be an object of string values");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw Bad(path, $"metadata {SafeText.Quote(m.Name)} must be a string, found {m.Value.ValueKind}");
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                throw Bad(path, $"metadata {SafeText.Quote(m.Name)} appears twice");
        }
    }

    static SafetensorsEntry ReadEntry(string path, string rawName, JsonElement value, long dataLength)
    {
        var name = SafeText.Clean(rawName); // for messages only; the entry keeps the file's name
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, $"the entry of tensor '{name}' must be an object, found {value.ValueKind}");
        if (!value.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw Bad(path, $"tensor '{name}' has no string 'dtype'");
        if (!value.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw Bad(path, $"tensor '{name}' has no array 'shape'");
        if (!value.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad(path, $"tensor '{name}' has no 'data_offsets' pair [begin, end]");

        var type = ParseDType(path, name, dt.GetString()!);
        if (sh.GetArrayLength() > MaxDims)
            throw Bad(path, $"tensor '{name}' has {sh.GetArrayLength()} dimensions (at most {MaxDims} are accepted)");
        var shape = new long[sh.GetArrayLength()];
        var i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            var v = Integer(path, d, $"dimension {i} of tensor '{name}'");
            if (v < 0) throw Bad(path, $"tensor '{name}' has a negative dimension {v} in its shape");
            shape[i++] = v;
        }
        var begin = Integer(path, off[0], $"the begin offset of tensor '{name}'");
        var end = Integer(path, off[1], $"the end offset of tensor '{name}'");
        if (begin < 0 || end < begin)
            throw Bad(path, $"tensor '{name}' has invalid data offsets [{begin}, {end}]");
        if (end > dataLength)
            throw Bad(path, $"the data of tensor '{name}' [{begin}, {end}) lies beyond the end of the file (the data section holds {dataLength} bytes; truncated?)");

        long bytes;
        try
        {
            long numel = 1;
            foreach (var d in shape) numel = checked(numel * d);
            bytes = checked(numel * ElementTypes.Size(type));
        }
        catch (OverflowException)
        {
            throw Bad(path, $"the shape [{string.Join(", ", shape)}] of tensor '{name}' has too many elements");
        }
        if (bytes != end - begin)
            throw Bad(path, $"tensor '{name}' ({DTypeName(type)}, shape [{string.Join(", ", shape)}]) needs {bytes} bytes but its data offsets [{begin}, {end}] span {end - begin}");
        return new SafetensorsEntry(rawName, type, shape, begin, end);
    }

    static ScalarType ParseDType(string path, string tensor, string dtype)
    {
        foreach (var (name, type) in DTypes)
            if (name == dtype) return type;
        if (Array.IndexOf(Unsupported, dtype) >= 0)
            throw Bad(path, $"tensor '{tensor}' has dtype {dtype}, which TorchSharp has no element type for (convert it to a supported type before saving)");
        throw Bad(path, $"tensor '{tensor}' has unknown dtype {SafeText.Quote(dtype, 16)} (expected one of {string.Join(", ", DTypes.Select(d => d.Name))})");
    }

    static long Integer(string path, JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out var v))
            throw Bad(path, $"{what} is not a 64-bit integer (found {(e.ValueKind == JsonValueKind.Number ? SafeText.Clean(e.GetRawText(), 24) : e.ValueKind.ToString())})");
        return v;
    }
}
