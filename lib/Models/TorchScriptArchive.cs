using System.IO.Compression;
using PDiff.Checkpoints;

namespace PDiff.Models;

/// <summary>
/// What .NET can tell about a TorchScript archive before libtorch reads it. A TorchScript file is a zip holding
/// <c>&lt;name&gt;/constants.pkl</c> and <c>&lt;name&gt;/code/…</c>; a torch.save file is a zip with <c>data.pkl</c>
/// only (or a legacy raw pickle): telling them apart gives a precise message instead of libtorch's "constants.pkl
/// not found". The zip itself is checked as torch.save files are (Checkpoints/TorchArchive), since libtorch checks
/// none of it: one entry a name (zip readers differ on which copy of a duplicate they take), plain relative names,
/// nothing encrypted, no declared size libtorch would allocate from that the file cannot hold (deflate expands at
/// most 1032-fold), and every entry's CRC (libtorch loads a flipped weight byte as a different number).
/// </summary>
internal static class TorchScriptArchive
{
    const int MaxRatio = 1032;

    /// <summary>Why <paramref name="bytes"/> cannot be a TorchScript archive (one sentence), or null.</summary>
    public static string? WhyNot(byte[] bytes)
    {
        var fileLength = bytes.LongLength;
        ZipArchive zip;
        List<ZipArchiveEntry> entries;
        try
        {
            zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
            entries = zip.Entries.ToList();
        }
        catch (InvalidDataException)
        {
            var head = bytes.AsSpan(0, Math.Min(4, bytes.Length));
            if (head.Length >= 2 && head[0] == 0x80 && head[1] <= 5)
                return "it is a legacy (pre-1.6) torch.save pickle, which holds weights, not TorchScript code.";
            // A zip starts with "PK\x03\x04"; one whose end (the central directory) is missing was cut short.
            return head.Length == 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4
                ? $"the zip archive is incomplete ({fileLength} bytes; truncated download or copy?)."
                : $"it is not a zip archive ({fileLength} bytes; TorchScript files are zips).";
        }
        using (zip)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in entries)
            {
                var n = e.FullName;
                if (!names.Add(n))
                    return $"the zip entry {SafeText.Quote(n)} appears twice (a file made to show different contents to different readers).";
                if (n.Length == 0 || n[0] == '/' || n.Contains('\\') || n.Split('/').Any(part => part is ".." or ".") || n.Any(char.IsControl))
                    return $"the zip entry {SafeText.Quote(n)} is not a plain relative name (absolute, '..', backslashes or control characters).";
                if (e.IsEncrypted)
                    return $"the zip entry {SafeText.Quote(n)} is encrypted; torch.jit.save never encrypts.";
                if (e.Length < 0 || e.CompressedLength < 0 || e.CompressedLength > fileLength || e.Length > Math.Max(e.CompressedLength, 1) * MaxRatio)
                    return $"the zip entry {SafeText.Quote(n)} claims {e.Length} bytes ({e.CompressedLength} compressed) in a file of {fileLength} " +
                           "(a zip bomb or a damaged zip directory).";
            }
            var hasCode = names.Any(n => n.Contains("/code/", StringComparison.Ordinal));
            var hasConstants = names.Any(n => n.EndsWith("/constants.pkl", StringComparison.Ordinal));
            if (hasCode && !hasConstants)
                return "it holds TorchScript code but no constants.pkl (a record is missing: damaged, or re-zipped by hand?).";
            if (!hasCode)
            {
                if (names.Any(n => n.EndsWith("/data.pkl", StringComparison.Ordinal) || n == "data.pkl"))
                    return "it is a torch.save() pickle (a state dict or a pickled module), which holds no TorchScript code.";
                return "it is a zip archive without TorchScript code (no code/ folder or constants.pkl).";
            }
            var buffer = new byte[64 * 1024];
            foreach (var e in entries)
                if (Damaged(e, buffer) is { } why) return why;
            return null;
        }
    }

    // Reads the entry as any zip reader would (bounded by its declared size, checked above) and compares its CRC.
    static string? Damaged(ZipArchiveEntry e, byte[] buffer)
    {
        try
        {
            using var s = e.Open();
            uint crc = 0;
            long total = 0;
            int n;
            while ((n = s.Read(buffer, 0, (int)Math.Min(buffer.Length, e.Length - total + 1))) > 0)
            {
                total += n;
                if (total > e.Length) break;
                crc = Crc32.Compute(crc, buffer.AsSpan(0, n));
            }
            if (total != e.Length)
                return $"the zip entry {SafeText.Quote(e.FullName)} holds {(total > e.Length ? "more" : "fewer")} bytes than its declared {e.Length} (the file is damaged).";
            if (crc != e.Crc32)
                return $"the zip entry {SafeText.Quote(e.FullName)} fails its CRC check (the file is damaged: copy or download it again).";
            return null;
        }
        catch (Exception x) when (x is InvalidDataException or IOException or NotSupportedException)
        {
            return $"the zip entry {SafeText.Quote(e.FullName)} cannot be read ({SafeText.Reason(x)}).";
        }
    }
}
