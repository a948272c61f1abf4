using System.Text.Json;
using System.Text.Json.Serialization;

namespace PDiff.Storage;

/// <summary>A folder that holds a user's files and was not written by us, refused unless forced.</summary>
public sealed class ForeignFolderException(string message) : IOException(message);

/// <summary>
/// A folder we write into (a zoo, a results folder, a run folder), with a marker file
/// (<see cref="MarkerName"/>) saying what wrote it and listing every file we wrote there. We overwrite or
/// delete only files on that list: a user's own files beside ours are never touched. A non-empty folder
/// without a marker is refused unless forced (then we still touch only what we write). The marker is
/// rewritten atomically, and a file is put on the list before it is first written, so a kill at any
/// moment never leaves a file of ours off the list. A claim holds the folder's <see cref="FolderLock"/> (one
/// writer at a time) until it is disposed.
/// </summary>
public sealed class OwnedFolder : IDisposable
{
    public const string MarkerName = ".pdiff-folder.json";
    const string Format = "pdiff-folder";

    readonly SortedSet<string> files;

    OwnedFolder(string dir, string kind, IEnumerable<string> owned, string? tag = null)
    {
        (Directory, Kind, Tag) = (dir, kind, tag);
        files = new SortedSet<string>(owned, StringComparer.Ordinal);
    }

    public string Directory { get; }
    public string Kind { get; }
    /// <summary>What the folder's content was made from (e.g. a configuration's fingerprint), when the writer says.</summary>
    public string? Tag { get; private set; }
    public IReadOnlyCollection<string> Files => files;

    sealed record Marker(
        [property: JsonPropertyName("format")] string Format,
        [property: JsonPropertyName("kind")] string Kind,
        [property: JsonPropertyName("writer")] string Writer,
        [property: JsonPropertyName("files")] List<string> Files,
        [property: JsonPropertyName("tag")] string? Tag = null);

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>
    /// Opens <paramref name="dir"/> for writing as a folder of <paramref name="kind"/> (created when missing).
    /// A folder with our marker must be of the same kind. A folder without one is claimed when empty; when
    /// not, <paramref name="legacy"/> may recognise an older folder of ours and name the files we wrote
    /// there (relative paths), else it is refused unless <paramref name="force"/>. The claim holds the folder's
    /// <see cref="FolderLock"/> until disposed: a folder another process writes is refused
    /// (<see cref="FolderInUseException"/>), or waited for when <paramref name="wait"/> (said once in <paramref name="log"/>).
    /// </summary>
    public static OwnedFolder Claim(string dir, string kind, bool force = false, Func<string, IEnumerable<string>?>? legacy = null,
        bool wait = false, TextWriter? log = null)
    {
        var full = Path.GetFullPath(dir);
        if (File.Exists(full)) throw new IOException($"{full} is a file, not a folder; choose a folder for the {kind}.");
        System.IO.Directory.CreateDirectory(full);
        Examine(full, kind, force, legacy);   // a folder that is not ours is refused before even the lock file is written into it
        var hold = wait ? FolderLock.Wait(full, kind, log) : FolderLock.Take(full, kind);
        try
        {
            var (folder, isNew) = Examine(full, kind, force, legacy);   // again, now that no other writer can change it
            if (isNew) folder.Save();
            folder.hold = hold;
            return folder;
        }
        catch
        {
            hold.Dispose();
            throw;
        }
    }

    FolderLock? hold;

    /// <summary>Releases the folder's lock (the claim's files stay as they are).</summary>
    public void Dispose() => hold?.Dispose();

    static (OwnedFolder Folder, bool New) Examine(string full, string kind, bool force, Func<string, IEnumerable<string>?>? legacy)
    {
        var marker = Path.Combine(full, MarkerName);
        if (File.Exists(marker))
        {
            var m = Read(marker);
            if (m.Kind != kind)
                throw new ForeignFolderException($"{full} holds a pdiff {m.Kind}, not a {kind}; choose another folder (nothing was written).");
            return (new OwnedFolder(full, kind, m.Files, m.Tag), false);
        }
        var entries = System.IO.Directory.EnumerateFileSystemEntries(full).Where(e => !FolderLock.IsLockFile(Path.GetFileName(e))).ToList();
        IEnumerable<string>? ours = entries.Count == 0 ? Array.Empty<string>() : legacy?.Invoke(full);
        if (ours is null && !force)
            throw new ForeignFolderException($"{full} is not empty and was not written by pdiff (it has no {MarkerName}), so nothing is written " +
                $"into it: your files there are left alone. Choose a new or empty folder, or pass --force to write beside them " +
                $"(pdiff then overwrites or deletes only the files it writes itself).");
        return (new OwnedFolder(full, kind, ours ?? Array.Empty<string>()), true);
    }

    /// <summary>The marker's kind when <paramref name="dir"/> has one, else null.</summary>
    public static string? KindOf(string dir)
    {
        var marker = Path.Combine(dir, MarkerName);
        return File.Exists(marker) ? Read(marker).Kind : null;
    }

    static Marker Read(string marker)
    {
        Marker? m = null;
        try { m = JsonSerializer.Deserialize<Marker>(File.ReadAllText(marker), Json); }
        catch (JsonException) { }
        if (m is null || m.Format != Format || m.Kind is null || m.Files is null)
            throw new InvalidDataException($"{marker} is damaged (not a {Format} marker); move the folder's own files elsewhere and remove it, or choose another folder.");
        foreach (var f in m.Files) Confine(Path.GetDirectoryName(marker)!, f, marker);
        return m;
    }

    void Save() => AtomicFile.WriteAllText(Path.Combine(Directory, MarkerName),
        JsonSerializer.Serialize(new Marker(Format, Kind, $"PDiff.NET {typeof(OwnedFolder).Assembly.GetName().Version}", files.ToList(), Tag), Json));

    /// <summary>Sets <see cref="Tag"/> and saves the marker.</summary>
    public void SetTag(string? tag)
    {
        if (tag == Tag) return;
        Tag = tag;
        Save();
    }

    static string Normal(string relative) => relative.Replace('\\', '/');

    public bool Owns(string relative) => files.Contains(Normal(relative));

    /// <summary>
    /// Claims a sub-folder of this one for another writer (e.g. a zoo inside a results folder): returns its
    /// full path; the sub-folder gets its own marker when its writer claims it.
    /// </summary>
    public string Sub(string relative) => Confine(Directory, relative, "a folder name");

    /// <summary>Puts files on the list (before they are written) and returns nothing; the marker is saved once.</summary>
    public void Record(params string[] relatives) => Record((IEnumerable<string>)relatives);

    public void Record(IEnumerable<string> relatives)
    {
        var added = false;
        foreach (var r in relatives)
        {
            Confine(Directory, r, "a file name");
            added |= files.Add(Normal(r));
        }
        if (added) Save();
    }

    /// <summary>The full path of <paramref name="relative"/>, put on the list first (its folder created): the path to write.</summary>
    public string Writable(string relative)
    {
        Record(relative);
        var path = Confine(Directory, relative, "a file name");
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    /// <summary>Deletes files of ours (names not on the list are left alone) and takes them off the list.</summary>
    public void Delete(IEnumerable<string> relatives)
    {
        var removed = false;
        foreach (var r in relatives.Select(Normal).ToList())
        {
            if (!files.Contains(r)) continue;
            var p = Confine(Directory, r, "a file name");
            if (File.Exists(p)) File.Delete(p);
            removed |= files.Remove(r);
        }
        if (removed) Save();
    }

    /// <summary>Deletes every file of ours except <paramref name="keep"/>, and empty folders they leave.</summary>
    public void DeleteAllBut(IEnumerable<string> keep)
    {
        var k = keep.Select(Normal).ToHashSet(StringComparer.Ordinal);
        var gone = files.Where(f => !k.Contains(f)).ToList();
        Delete(gone);
        foreach (var d in gone.Select(f => Path.GetDirectoryName(Path.Combine(Directory, f))!).Distinct().OrderByDescending(d => d.Length))
            if (d.Length > Directory.Length && System.IO.Directory.Exists(d) && !System.IO.Directory.EnumerateFileSystemEntries(d).Any())
                System.IO.Directory.Delete(d);
    }

    /// <summary>
    /// <paramref name="relative"/> resolved inside <paramref name="root"/>: a rooted path, a ".." that climbs
    /// out, or a symbolic link anywhere on the way that leads outside is refused (the error names
    /// <paramref name="source"/>, never the file's content).
    /// </summary>
    public static string Confine(string root, string relative, string source)
    {
        var rootFull = Path.GetFullPath(root);
        if (string.IsNullOrWhiteSpace(relative) || Path.IsPathRooted(relative) || relative.Contains('\0'))
            throw new InvalidDataException($"{source}: the path '{Shown(relative)}' must be relative to {rootFull}.");
        var full = Path.GetFullPath(Path.Combine(rootFull, relative));
        var realRoot = RealPath(rootFull);
        if (!Inside(full, rootFull) || !Inside(RealPath(full), realRoot))
            throw new InvalidDataException($"{source}: the path '{Shown(relative)}' leads outside {rootFull}; refused.");
        return full;
    }

    static bool Inside(string path, string root) =>
        path.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>The path with every symbolic link on the way (of the parts that exist) resolved.</summary>
    static string RealPath(string full)
    {
        var parts = full.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var current = Path.GetPathRoot(full)!;
        foreach (var part in parts)
        {
            current = Path.Combine(current, part);
            FileSystemInfo info = System.IO.Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (!info.Exists) continue;
            if (info.LinkTarget is not null)
                current = Path.GetFullPath(info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? current);
        }
        return current;
    }

    /// <summary>A name from a file, as an error may show it: short, printable.</summary>
    static string Shown(string s)
    {
        var clean = new string(s.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return s.Length > 80 ? clean + "…" : clean;
    }
}
