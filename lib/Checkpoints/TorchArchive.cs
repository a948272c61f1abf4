using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Checkpoints;

/// <summary>
/// The zip container of a torch.save file: <c>&lt;name&gt;/data.pkl</c> (the pickle) and
/// <c>&lt;name&gt;/data/&lt;key&gt;</c> (one raw little-endian record per storage), all stored
/// uncompressed. Each record is checked (size, CRC) before its bytes become a tensor, and each view
/// (sizes, strides, offset) is checked against the storage it reads before libtorch sees it.
/// </summary>
internal sealed class TorchArchive : IDisposable
{
    const int Chunk = 1 << 30; // Span lengths are ints: storages are filled in pieces.
    const long MaxRepeatedElements = 1 << 24;

    readonly string path;
    readonly long fileLength;
    readonly ZipArchive zip;
    readonly string prefix;
    // One 1-D tensor per storage key, owned here (outside any dispose scope); views keep it alive natively.
    readonly Dictionary<string, (Tensor Storage, StorageRef Ref)> storages = new(StringComparer.Ordinal);

    public TorchArchive(Stream s, string path)
    {
        this.path = path;
        fileLength = s.Length;
        Span<byte> magic = stackalloc byte[2];
        var got = s.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        s.Position = 0;
        if (got == 2 && magic[0] == 0x80 && magic[1] <= 5)
            throw PtCheckpoint.Bad(path, "it is in the legacy torch.save format (PyTorch < 1.6, or _use_new_zipfile_serialization=False)",
                                         "load it in PyTorch and re-save it with torch.save from PyTorch 1.6 or later");
        if (got < 2 || magic[0] != (byte)'P' || magic[1] != (byte)'K')
            throw PtCheckpoint.Bad(path, "it is not a zip archive (torch.save writes zip files)");
        zip = Zip("its zip directory is corrupt", () => new ZipArchive(s, ZipArchiveMode.Read, leaveOpen: true));
        try
        {
            CheckEntries();
            var pickles = Zip("its zip directory is corrupt", () => zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.IndexOf('/') == e.FullName.Length - 9).ToList());
            if (pickles.Count != 1)
            {
                var torchScript = zip.Entries.Any(e => e.FullName.EndsWith("/constants.pkl", StringComparison.Ordinal));
                throw PtCheckpoint.Bad(path, pickles.Count == 0
                    ? torchScript ? "it is a TorchScript archive (torch.jit.save), not a torch.save file" : "it has no <name>/data.pkl entry"
                    : "it has more than one <name>/data.pkl entry",
                    torchScript && pickles.Count == 0 ? "pass it as a network (--torchscript), or save the weights with torch.save(model.state_dict(), path)" : PtCheckpoint.DefaultFix);
            }
            prefix = pickles[0].FullName[..^"data.pkl".Length];
            var order = Entry("byteorder");
            if (order != null)
            {
                var text = Encoding.ASCII.GetString(Read(order, 16, "byteorder"));
                if (text != "little") throw PtCheckpoint.Bad(path, $"its byteorder record says {SafeText.Quote(text, 16)}; only little-endian files can be read",
                    "re-save it with torch.save on a little-endian machine (x86, ARM)");
            }
        }
        catch
        {
            zip.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var (t, _) in storages.Values) t.Dispose();
        zip.Dispose();
    }

    public byte[] ReadPickle() => Read(Entry("data.pkl")!, int.MaxValue, "data.pkl");

    // The directory itself: torch.save writes each name once, with no encryption, as a relative path.
    // Two entries of one name are read differently by different zip readers (first or last wins), so a
    // file can show one content to a checker and another to a loader: refused, like names that climb out.
    void CheckEntries()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in Zip("its zip directory is corrupt", () => zip.Entries.ToList()))
        {
            var n = e.FullName;
            if (!names.Add(n))
                throw PtCheckpoint.Bad(path, $"the zip entry {SafeText.Quote(n)} appears twice (a file made to show different contents to different readers)");
            if (n.Length == 0 || n[0] == '/' || n.Contains('\\') || n.Split('/').Any(part => part is ".." or ".")
                || n.Any(c => char.IsControl(c)))
                throw PtCheckpoint.Bad(path, $"the zip entry {SafeText.Quote(n)} is not a plain relative name (absolute, '..', backslashes or control characters)");
            if (e.IsEncrypted)
                throw PtCheckpoint.Bad(path, $"the zip entry {SafeText.Quote(n)} is encrypted; torch.save never encrypts");
        }
    }

    T Zip<T>(string what, Func<T> f)
    {
        try { return f(); }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
        {
            throw PtCheckpoint.Bad(path, $"{what} ({SafeText.Reason(e)})");
        }
    }

    ZipArchiveEntry? Entry(string name) => Zip("its zip directory is corrupt", () => zip.GetEntry(prefix + name));

    // Sizes come from the zip directory, which a corrupt file can fill with anything: nothing is
    // allocated before the size is checked against the file.
    // A zip bomb's declared size is caught by the first test: an uncompressed (stored) record cannot be
    // larger than the file. Reads never go past the declared size, which the CRC then confirms.
    void CheckSize(ZipArchiveEntry e, long want, string name)
    {
        if (e.Length < 0 || e.Length > fileLength || e.CompressedLength < 0 || e.CompressedLength > fileLength)
            throw PtCheckpoint.Bad(path, $"record {SafeText.Quote(name)} claims {e.Length} bytes ({e.CompressedLength} compressed) in a file of {fileLength}");
        if (e.Length != e.CompressedLength)
            throw PtCheckpoint.Bad(path, $"record {SafeText.Quote(name)} is compressed; torch.save stores records uncompressed (was the file re-zipped?)",
                "re-save it with torch.save, or re-zip it with no compression (zip -0)");
        if (want >= 0 && e.Length != want)
            throw PtCheckpoint.Bad(path, $"record {SafeText.Quote(name)} holds {e.Length} bytes but its tensor storage needs {want}");
    }

    byte[] Read(ZipArchiveEntry e, int max, string name)
    {
        CheckSize(e, -1, name);
        if (e.Length > max) throw PtCheckpoint.Bad(path, $"record {SafeText.Quote(name)} is too large ({e.Length} bytes)");
        var bytes = new byte[e.Length];
        Zip($"record {SafeText.Quote(name)} cannot be read", () =>
        {
            using var s = e.Open();
            s.ReadExactly(bytes);
            return 0;
        });
        if (Crc32.Compute(0, bytes) != e.Crc32) throw PtCheckpoint.Bad(path, $"record {SafeText.Quote(name)} fails its CRC check (the file is corrupt)");
        return bytes;
    }

    /// <summary>A tensor of the checkpoint: a view of its storage, which is read once per key.</summary>
    public Tensor View(TensorRef r)
    {
        var (storage, numel) = Storage(r.Storage);
        // The view must stay inside the storage (libtorch would read past it otherwise).
        long last = r.Offset;
        var empty = false;
        try
        {
            for (var d = 0; d < r.Size.Length; d++)
            {
                if (r.Size[d] < 0 || r.Stride[d] < 0) throw new OverflowException();
                if (r.Size[d] == 0) empty = true;
                last = checked(last + checked((r.Size[d] - 1) * r.Stride[d]));
            }
        }
        catch (OverflowException)
        {
            throw PtCheckpoint.Bad(path, $"a tensor has invalid sizes [{string.Join(", ", r.Size)}] or strides [{string.Join(", ", r.Stride)}]");
        }
        if (r.Offset < 0 || (!empty && last >= numel))
            throw PtCheckpoint.Bad(path, $"a tensor (sizes [{string.Join(", ", r.Size)}], strides [{string.Join(", ", r.Stride)}], offset {r.Offset}) " +
                                         $"reaches outside its storage {SafeText.Quote(r.Storage.Key)} of {numel} elements");
        // Stride 0 lets a tiny storage stand for a vast tensor (torch.save keeps expand()'s views as they
        // are): legal, but the first contiguous copy of [2^40] over one float would take 4 TB. A view may
        // repeat its storage up to MaxRepeatedElements in all, as real expanded buffers do.
        long count = 1;
        try
        {
            foreach (var d in r.Size) count = checked(count * d);
        }
        catch (OverflowException)
        {
            count = long.MaxValue;
        }
        if (!empty && count > Math.Max(numel, MaxRepeatedElements))
            throw PtCheckpoint.Bad(path, $"a tensor of sizes [{string.Join(", ", r.Size)}] repeats its storage {SafeText.Quote(r.Storage.Key)} of {numel} elements " +
                                         $"(zero strides) beyond {MaxRepeatedElements} elements; save it with .contiguous() if it is meant");
        // An empty view may carry any offset in PyTorch; libtorch still wants it inside the storage.
        var t = Torch("a tensor view", () => storage.as_strided(r.Size, r.Stride, empty ? 0 : r.Offset));
        if (r.RequiresGrad) t.requires_grad = true;
        return t;
    }

    (Tensor Storage, long Numel) Storage(StorageRef r)
    {
        if (storages.TryGetValue(r.Key, out var known))
        {
            if (known.Ref.DType != r.DType)
                throw PtCheckpoint.Bad(path, $"storage {SafeText.Quote(r.Key)} is used both as {ElementTypes.Name(known.Ref.DType)} and {ElementTypes.Name(r.DType)}");
            if (known.Ref.Numel != r.Numel)
                throw PtCheckpoint.Bad(path, $"storage {SafeText.Quote(r.Key)} is declared with both {known.Ref.Numel} and {r.Numel} elements");
            return (known.Storage, known.Ref.Numel);
        }
        var name = "data/" + r.Key;
        var e = Entry(name) ?? throw PtCheckpoint.Bad(path, $"record {SafeText.Quote(name)} of a tensor storage is missing");
        long bytes;
        try { bytes = checked(r.Numel * ElementTypes.Size(r.DType)); }
        catch (OverflowException) { throw PtCheckpoint.Bad(path, $"storage {SafeText.Quote(r.Key)} claims {r.Numel} elements"); }
        // Only now, with the size matched against the record (and the record against the file), is memory taken.
        CheckSize(e, bytes, name);

        var t = Torch("a storage", () => torch.empty(new[] { r.Numel }, r.DType, torch.CPU)).DetachFromDisposeScope();
        try
        {
            var (crc, boolsOk) = bytes == 0 ? (0u, true) : Zip($"record {SafeText.Quote(name)} cannot be read", () =>
            {
                using var s = e.Open();
                return Fill(t, s, r);
            });
            if (crc != e.Crc32) throw PtCheckpoint.Bad(path, $"record {SafeText.Quote(name)} fails its CRC check (the file is corrupt)");
            // libtorch assumes a bool byte is 0 or 1; any other value would give wrong results silently.
            if (!boolsOk) throw PtCheckpoint.Bad(path, $"bool storage {SafeText.Quote(r.Key)} holds bytes other than 0 and 1");
        }
        catch
        {
            t.Dispose();
            throw;
        }
        storages[r.Key] = (t, r);
        return (t, r.Numel);
    }

    // Reads the record into the storage piece by piece: the CRC of what was read, and whether every
    // byte of a bool storage is 0 or 1.
    static (uint Crc, bool BoolsOk) Fill(Tensor storage, Stream s, StorageRef r)
    {
        long step = Chunk / ElementTypes.Size(r.DType);
        uint crc = 0;
        var boolsOk = true;
        for (long at = 0; at < r.Numel; at += step)
        {
            using var part = storage.narrow(0, at, Math.Min(step, r.Numel - at));
            var span = part.bytes;
            s.ReadExactly(span);
            crc = Crc32.Compute(crc, span);
            if (r.DType == ScalarType.Bool && span.IndexOfAnyExcept((byte)0, (byte)1) >= 0) boolsOk = false;
        }
        return (crc, boolsOk);
    }

    // libtorch's own refusals (it checks views and allocations too) become our error, naming the file.
    T Torch<T>(string what, Func<T> f)
    {
        try { return f(); }
        catch (Exception e) when (e is not InvalidDataException and not OutOfMemoryException)
        {
            throw PtCheckpoint.Bad(path, $"libtorch refused {what} ({SafeText.Reason(e)})");
        }
    }
}

/// <summary>The zip format's CRC-32 (IEEE, reflected); .NET's ZipArchive does not check it when reading.</summary>
internal static class Crc32
{
    static readonly uint[] Table = MakeTable();

    static uint[] MakeTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    /// <summary>Continues the CRC <paramref name="crc"/> (0 to start) over <paramref name="data"/>.</summary>
    public static uint Compute(uint crc, ReadOnlySpan<byte> data)
    {
        var c = ~crc;
        foreach (var x in data) c = Table[(c ^ x) & 0xFF] ^ (c >> 8);
        return ~c;
    }
}
