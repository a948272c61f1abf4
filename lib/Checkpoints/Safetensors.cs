using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Checkpoints;

/// <summary>
/// The tensors and metadata read from a safetensors file. Disposing it frees every tensor (they also
/// belong to the dispose scope that was current during <see cref="Safetensors.Load"/>).
/// </summary>
public sealed class SafetensorsContent : IDisposable
{
    public SafetensorsContent(OrderedDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Name to tensor, in the order of the data in the file.</summary>
    public OrderedDictionary<string, Tensor> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public void Deconstruct(out OrderedDictionary<string, Tensor> tensors, out IReadOnlyDictionary<string, string> metadata)
    {
        tensors = Tensors;
        metadata = Metadata;
    }

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}

/// <summary>
/// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
/// length N, N bytes of JSON <c>{name: {dtype, shape, data_offsets}, "__metadata__": {..}}</c>, then the
/// raw little-endian data. Files written here load in Python's <c>safetensors</c> and vice versa.
/// </summary>
/// <remarks>
/// Our own reader and writer, not TorchSharp.PyBridge's: its reader allocates the header and every
/// tensor from sizes it has not checked against the file, never checks offsets for overlaps or gaps,
/// and drops the metadata; its writer neither pads nor orders (README.md in this folder).
/// </remarks>
public static class Safetensors
{
    const int Chunk = 1 << 30; // Span lengths are ints: big tensors are copied in pieces.

    /// <summary>
    /// Writes <paramref name="tensors"/> (any device, any layout; copied to the CPU as needed) with their
    /// names in ordinal order, so the same tensors always give the same bytes. The file is written to a
    /// temporary name beside <paramref name="path"/> and renamed over it at the end: a reader never sees
    /// a half-written file, and a failed save leaves the old one in place.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var names = tensors.Keys.ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved by the format and cannot name a tensor.", nameof(tensors));
            var t = tensors[name] ?? throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
            if (t.IsInvalid) throw new ObjectDisposedException(nameof(Tensor), $"Tensor '{name}' was disposed before it could be saved to '{path}'.");
            SafetensorsHeader.DTypeName(t.dtype); // throws for element types the format lacks
        }
        RequireLittleEndian();

        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var header = Header(names, tensors, metadata);
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                foreach (var name in names) WriteData(fs, tensors[name]);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    static byte[] Header(string[] names, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    w.WriteString(k ?? throw new ArgumentException("Metadata keys cannot be null."),
                        v ?? throw new ArgumentException($"Metadata '{k}' is null; use an empty string."));
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var name in names)
            {
                var t = tensors[name];
                var bytes = t.numel() * ElementTypes.Size(t.dtype);
                w.WriteStartObject(name);
                w.WriteString("dtype", SafetensorsHeader.DTypeName(t.dtype));
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        // Pad with spaces so the data starts 8-byte aligned (what the reference writer does).
        var n = buffer.WrittenCount;
        var padded = new byte[(n + 7) / 8 * 8];
        buffer.WrittenSpan.CopyTo(padded);
        padded.AsSpan(n).Fill((byte)' ');
        return padded;
    }

    static void WriteData(FileStream fs, Tensor t)
    {
        if (t.numel() == 0) return;
        // Temporaries (a CPU copy, the flat view, its pieces) die with this scope; t is not in it.
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var src = t.device_type == DeviceType.CPU && t.is_contiguous() ? t : t.to(torch.CPU).contiguous();
        ForEachPiece(src, span => fs.Write(span));
    }

    // A contiguous CPU tensor's bytes in pieces of at most Chunk bytes (Span lengths are ints).
    static void ForEachPiece(Tensor contiguous, SpanAction action)
    {
        using var flat = contiguous.reshape(-1);
        long n = flat.shape[0], step = Chunk / ElementTypes.Size(flat.dtype);
        for (long at = 0; at < n; at += step)
        {
            using var part = flat.narrow(0, at, Math.Min(step, n - at));
            action(part.bytes);
        }
    }

    delegate void SpanAction(Span<byte> bytes);

    /// <summary>Reads and validates only the header: names, element types, shapes, offsets, metadata.</summary>
    public static SafetensorsHeader ReadHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RequireFile(path);
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return ReadHeader(h, path);
    }

    static SafetensorsHeader ReadHeader(SafeFileHandle h, string path)
    {
        var length = RandomAccess.GetLength(h);
        if (length < 8) throw SafetensorsHeader.Bad(path, $"it has {length} bytes, fewer than the 8-byte header length that starts the format");
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(h, prefix, 0, path);
        var n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        // Both bounds are checked before the header buffer is allocated.
        if (n > (ulong)(length - 8))
            throw SafetensorsHeader.Bad(path, $"its header length {n} (the first 8 bytes) reaches beyond the end of the file ({length} bytes): truncated, or not a safetensors file");
        if (n > SafetensorsHeader.MaxHeaderBytes)
            throw SafetensorsHeader.Bad(path, $"its header length {n} is above the {SafetensorsHeader.MaxHeaderBytes}-byte limit");
        var json = new byte[n];
        ReadExactly(h, json, 8, path);
        return SafetensorsHeader.Parse(path, json, length - 8 - (long)n);
    }

    /// <summary>
    /// Reads every tensor of a safetensors file (onto <paramref name="device"/>, the CPU by default).
    /// Throws <see cref="InvalidDataException"/> naming the file and the problem for any malformed file;
    /// no memory is allocated from a size that was not first checked against the file's length.
    /// Values are not judged: this is the reader of any tensor file (a loss history may hold NaN). Weights
    /// go through <see cref="LoadParameters"/> or <see cref="LoadInto"/>, which refuse NaN and ±inf.
    /// </summary>
    public static SafetensorsContent Load(string path, Device? device = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RequireFile(path);
        RequireLittleEndian();
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var header = ReadHeader(h, path);
        var result = new OrderedDictionary<string, Tensor>(header.Entries.Count, StringComparer.Ordinal);
        try
        {
            // Every size below was checked against the file by ReadHeader before this allocates.
            foreach (var e in header.Entries)
            {
                var t = torch.empty(e.Shape, e.DType, torch.CPU);
                result.Add(e.Name, t);
                if (e.ByteLength == 0) continue;
                long at = 0;
                ForEachPiece(t, span =>
                {
                    ReadExactly(h, span, header.DataStart + e.Begin + at, path);
                    if (e.DType == ScalarType.Bool) CheckBools(path, e, span, at);
                    at += span.Length;
                });
            }
            if (device is { } d && d.type != DeviceType.CPU)
                foreach (var name in result.Keys.ToArray())
                {
                    var cpu = result[name];
                    result[name] = cpu.to(d);
                    cpu.Dispose();
                }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return new SafetensorsContent(result, header.Metadata);
    }

    /// <summary>
    /// <see cref="Load"/> for weights: a floating-point tensor holding NaN or ±inf is refused, naming the
    /// tensor and the file (<see cref="NonFinite"/>), unless <paramref name="allowNonFinite"/>.
    /// </summary>
    public static SafetensorsContent LoadParameters(string path, bool allowNonFinite = false, Device? device = null)
    {
        var content = Load(path);
        try
        {
            if (!allowNonFinite) NonFinite.CheckAll(content.Tensors, path);
            if (device is { } d && d.type != DeviceType.CPU)
                foreach (var name in content.Tensors.Keys.ToArray())
                {
                    var cpu = content.Tensors[name];
                    content.Tensors[name] = cpu.to(d);
                    cpu.Dispose();
                }
            return content;
        }
        catch
        {
            content.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies the tensors of a safetensors file into <paramref name="module"/>'s parameters and buffers of
    /// the same names; <see cref="PtCheckpoint.LoadInto"/> describes <paramref name="strict"/>,
    /// <paramref name="allowNonFinite"/> and the checks.
    /// </summary>
    public static StateDictMatch LoadInto(nn.Module module, string path, bool strict = true, bool allowNonFinite = false)
    {
        using var scope = torch.NewDisposeScope();
        return ModuleState.CopyInto(module, LoadParameters(path, allowNonFinite).Tensors, path, strict);
    }

    static void RequireFile(string path)
    {
        if (Directory.Exists(path))
            throw SafetensorsHeader.Bad(path, "it is a directory, not a file", "pass the path of the .safetensors file inside it");
    }

    // libtorch assumes a bool byte is 0 or 1; any other value would give wrong results silently.
    static void CheckBools(string path, SafetensorsEntry e, ReadOnlySpan<byte> bytes, long at)
    {
        var bad = bytes.IndexOfAnyExcept((byte)0, (byte)1);
        if (bad >= 0)
            throw SafetensorsHeader.Bad(path, $"BOOL tensor {SafeText.Quote(e.Name)} holds the byte {bytes[bad]} at element {at + bad} (only 0 and 1 are booleans)");
    }

    static void ReadExactly(SafeFileHandle h, Span<byte> dst, long offset, string path)
    {
        while (!dst.IsEmpty)
        {
            var got = RandomAccess.Read(h, dst, offset);
            if (got <= 0) throw SafetensorsHeader.Bad(path, $"the file ended at byte {offset} while reading (was it truncated while being read?)");
            dst = dst[got..];
            offset += got;
        }
    }

    static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("Safetensors stores little-endian data; this reader/writer only runs on little-endian machines.");
    }
}
