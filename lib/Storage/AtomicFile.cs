using System.Security.Cryptography;
using System.Text;

namespace PDiff.Storage;

/// <summary>
/// Whole-file writes that a kill at any moment leaves as the old file or the new one, never a half: the
/// content goes to a hidden temporary name in the same folder (same file system, so the rename is atomic),
/// is flushed to disk, then renamed over the target. A failed write removes its temporary file.
/// </summary>
public static class AtomicFile
{
    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    public static void WriteAllText(string path, string text) => Write(path, s => { var b = Utf8.GetBytes(text); s.Write(b); });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="path"/> through a temporary file.</summary>
    public static void Copy(string source, string path) => Write(path, s => { using var f = File.OpenRead(source); f.CopyTo(s); });

    /// <summary>Writes whatever <paramref name="write"/> puts into the stream, then renames it into place.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = TemporaryName(full);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>
    /// For writers that take a path (e.g. a CSV writer): <paramref name="writeTo"/> writes the temporary file,
    /// which is then flushed to disk and renamed into place.
    /// </summary>
    public static void WriteVia(string path, Action<string> writeTo)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = TemporaryName(full);
        try
        {
            writeTo(tmp);
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>The hidden temporary name a write of <paramref name="fullPath"/> uses (".name.&lt;guid&gt;.tmp").</summary>
    static string TemporaryName(string fullPath) =>
        Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");

    /// <summary>Lower-case hex SHA-256 of a file's bytes.</summary>
    public static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f)).ToLowerInvariant();
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
