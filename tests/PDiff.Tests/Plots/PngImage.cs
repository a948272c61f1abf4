using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace PDiff.Tests.Plots;

/// <summary>
/// A minimal PNG decoder for tests (8-bit RGB/RGBA, non-interlaced — what Chromium writes): checks the
/// signature and chunk layout, inflates IDAT with ZLibStream and reverses the five row filters, so tests
/// can look at real pixels instead of trusting that "some bytes came back".
/// </summary>
public sealed class PngImage
{
    public int Width { get; }
    public int Height { get; }
    /// <summary>Pixels as 0xRRGGBB, row by row.</summary>
    public int[] Pixels { get; }

    PngImage(int w, int h, int[] px)
    {
        Width = w;
        Height = h;
        Pixels = px;
    }

    static readonly byte[] Signature = { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };

    /// <summary>Width and height from the IHDR chunk only.</summary>
    public static (int Width, int Height) ReadSize(byte[] png)
    {
        if (png.Length < 24 || !png.AsSpan(0, 8).SequenceEqual(Signature)) throw new InvalidDataException("not a PNG (bad signature)");
        if (Encoding.ASCII.GetString(png, 12, 4) != "IHDR") throw new InvalidDataException("first chunk is not IHDR");
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    public static PngImage Decode(byte[] png)
    {
        var (w, h) = ReadSize(png);
        int bitDepth = png[24], colorType = png[25], interlace = png[28];
        if (bitDepth != 8 || (colorType != 2 && colorType != 6) || interlace != 0)
            throw new NotSupportedException($"test decoder handles 8-bit RGB/RGBA non-interlaced only (depth {bitDepth}, type {colorType}, interlace {interlace})");
        var bpp = colorType == 6 ? 4 : 3;

        var idat = new MemoryStream();
        var pos = 8;
        var sawEnd = false;
        while (pos + 8 <= png.Length)
        {
            var len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            var type = Encoding.ASCII.GetString(png, pos + 4, 4);
            if (type == "IDAT") idat.Write(png, pos + 8, len);
            pos += 12 + len; // length, type, data, CRC
            if (type == "IEND") { sawEnd = true; break; }
        }
        if (!sawEnd) throw new InvalidDataException("PNG has no IEND chunk (truncated)");

        idat.Position = 0;
        var raw = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionMode.Decompress)) z.CopyTo(raw);
        var data = raw.ToArray();
        var stride = w * bpp;
        if (data.Length != h * (stride + 1)) throw new InvalidDataException($"inflated {data.Length} bytes, expected {h * (stride + 1)}");

        var prev = new byte[stride];
        var cur = new byte[stride];
        var px = new int[w * h];
        for (var y = 0; y < h; y++)
        {
            var filter = data[y * (stride + 1)];
            Array.Copy(data, y * (stride + 1) + 1, cur, 0, stride);
            for (var i = 0; i < stride; i++)
            {
                int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
                cur[i] = (byte)(cur[i] + filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"row {y}: unknown PNG filter {filter}"),
                });
            }
            for (var x = 0; x < w; x++)
                px[y * w + x] = cur[x * bpp] << 16 | cur[x * bpp + 1] << 8 | cur[x * bpp + 2];
            (prev, cur) = (cur, prev);
        }
        return new PngImage(w, h, px);
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    public int DistinctColours => Pixels.Distinct().Count();

    /// <summary>Pixels within <paramref name="tolerance"/> per channel of the colour 0xRRGGBB.</summary>
    public int CountNear(int rgb, int tolerance = 8) => Pixels.Count(p =>
        Math.Abs((p >> 16 & 255) - (rgb >> 16 & 255)) <= tolerance &&
        Math.Abs((p >> 8 & 255) - (rgb >> 8 & 255)) <= tolerance &&
        Math.Abs((p & 255) - (rgb & 255)) <= tolerance);
}
