using System.Buffers.Binary;
using System.IO.Compression;

namespace PDiff.Data;

/// <summary>An unsigned-byte IDX array: its dimensions and its values in row-major order.</summary>
public sealed record IdxArray(int[] Dims, byte[] Data)
{
    public int Count => Dims[0];
}

/// <summary>
/// Reads LeCun's IDX format (MNIST, Fashion-MNIST), gzipped or plain: a 4-byte magic
/// <c>00 00 type ndim</c>, then ndim big-endian int32 sizes, then the values. Only type 0x08 (unsigned
/// byte) is accepted, which is what image and label files use. Every check that can fail names the file:
/// a wrong magic, a wrong rank, sizes that disagree with what the caller expects, a short or long body.
/// </summary>
public static class IdxReader
{
    const byte UnsignedByte = 0x08;

    /// <summary>
    /// Reads <paramref name="path"/>. <paramref name="expectedDims"/>, when given, must match the header;
    /// an entry of -1 accepts any size on that axis (e.g. <c>{-1, 28, 28}</c> for images).
    /// </summary>
    public static IdxArray Read(string path, int[]? expectedDims = null) => Read(path, expectedDims, DataPaths.FashionMnist);

    internal static IdxArray Read(string path, int[]? expectedDims, DataSource src)
    {
        if (!File.Exists(path)) throw DatasetException.Missing(path, src);
        try
        {
            using var file = File.OpenRead(path);
            using var stream = IsGzip(file) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
            return ReadBody(path, stream, expectedDims, src);
        }
        catch (InvalidDataException e)
        {
            throw DatasetException.Corrupt(path, src, "not a valid gzip stream: " + e.Message, e);
        }
        catch (EndOfStreamException e)
        {
            throw DatasetException.Corrupt(path, src, "truncated: " + e.Message, e);
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw DatasetException.Corrupt(path, src, "unreadable: " + e.Message, e);
        }
    }

    static bool IsGzip(FileStream f)
    {
        Span<byte> head = stackalloc byte[2];
        var n = f.Read(head);
        f.Position = 0;
        return n == 2 && head[0] == 0x1f && head[1] == 0x8b;
    }

    static IdxArray ReadBody(string path, Stream s, int[]? expectedDims, DataSource src)
    {
        Span<byte> magic = stackalloc byte[4];
        ReadExactly(s, magic, "the 4-byte magic number");
        if (magic[0] != 0 || magic[1] != 0)
            throw DatasetException.Corrupt(path, src, $"magic number {Hex(magic)} does not start with 00 00: not an IDX file");
        if (magic[2] != UnsignedByte)
            throw DatasetException.Corrupt(path, src, $"element type 0x{magic[2]:x2} in magic {Hex(magic)}; expected 0x08 (unsigned byte)");
        int ndim = magic[3];
        if (ndim == 0 || (expectedDims != null && ndim != expectedDims.Length))
            throw DatasetException.Corrupt(path, src, $"{ndim} dimensions in magic {Hex(magic)}; expected {expectedDims?.Length.ToString() ?? "at least 1"}");

        var dims = new int[ndim];
        Span<byte> word = stackalloc byte[4];
        long total = 1;
        for (var i = 0; i < ndim; i++)
        {
            ReadExactly(s, word, $"size of dimension {i}");
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(word);
            if (dims[i] < 0) throw DatasetException.Corrupt(path, src, $"negative size {dims[i]} for dimension {i}");
            if (expectedDims != null && expectedDims[i] >= 0 && dims[i] != expectedDims[i])
                throw DatasetException.Corrupt(path, src, $"shape [{string.Join(", ", dims.Take(i + 1))}…] where [{string.Join(", ", expectedDims.Select(d => d < 0 ? "*" : d.ToString()))}] was expected");
            total *= dims[i];
            if (total > Array.MaxLength) throw DatasetException.Corrupt(path, src, $"shape [{string.Join(", ", dims.Take(i + 1))}…] holds more than {Array.MaxLength} values");
        }

        var data = new byte[total];
        ReadExactly(s, data, $"{total} values for shape [{string.Join(", ", dims)}]");
        Span<byte> extra = stackalloc byte[1];
        if (s.Read(extra) != 0)
            throw DatasetException.Corrupt(path, src, $"bytes left after the {total} values of shape [{string.Join(", ", dims)}]");
        return new IdxArray(dims, data);
    }

    static void ReadExactly(Stream s, Span<byte> buffer, string what)
    {
        var got = s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (got < buffer.Length) throw new EndOfStreamException($"the file ends after {got} of the {buffer.Length} bytes of {what}");
    }

    static string Hex(ReadOnlySpan<byte> b) => "0x" + Convert.ToHexString(b).ToLowerInvariant();
}
