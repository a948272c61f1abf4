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
/// moment never leaves a file of ours off the list.
/// </summary>
public sealed class OwnedFolder
{
    public const string MarkerName = ".pdiff-folder.json";
    const string Format = "pdiff-folder";

    readonly SortedSet<string> files;

    // What this claim found and made, so that Abandon can undo it: the folders Claim created (the folder and any
    // missing parents, deepest first), the marker's text before the claim (null: this claim wrote the marker),
    // files first written under this claim, and sub-folders handed out by Sub that did not exist yet.
    List<string> createdDirs = new();
    string? markerBefore;
    readonly HashSet<string> created = new(StringComparer.Ordinal);
    readonly List<string> createdSubs = new();

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
    /// there (relative paths), else it is refused unless <paramref name="force"/>.
    /// </summary>
    public static OwnedFolder Claim(string dir, string kind, bool force = false, Func<string, IEnumerable<string>?>? legacy = null)
    {
        var full = Path.GetFullPath(dir);
        if (File.Exists(full)) throw new IOException($"{full} is a file, not a folder; choose a folder for the {kind}.");
        var createdDirs = Missing(full);
        System.IO.Directory.CreateDirectory(full);
        var marker = Path.Combine(full, MarkerName);
        if (File.Exists(marker))
        {
            var text = File.ReadAllText(marker);
            var m = Read(marker);
            if (m.Kind != kind)
                throw new ForeignFolderException($"{full} holds a pdiff {m.Kind}, not a {kind}; choose another folder (nothing was written).");
            return new OwnedFolder(full, kind, m.Files, m.Tag) { createdDirs = createdDirs, markerBefore = text };
        }
        var entries = System.IO.Directory.EnumerateFileSystemEntries(full).ToList();
        IEnumerable<string>? ours = entries.Count == 0 ? Array.Empty<string>() : legacy?.Invoke(full);
        if (ours is null && !force)
            throw new ForeignFolderException($"{full} is not empty and was not written by pdiff (it has no {MarkerName}), so nothing is written " +
                $"into it: your files there are left alone. Choose a new or empty folder, or pass --force to write beside them " +
                $"(pdiff then overwrites or deletes only the files it writes itself).");
        var folder = new OwnedFolder(full, kind, ours ?? Array.Empty<string>()) { createdDirs = createdDirs };
        folder.Save();
        return folder;
    }

    /// <summary><paramref name="full"/> and those of its parents that do not exist, deepest first.</summary>
    static List<string> Missing(string full)
    {
        var missing = new List<string>();
        for (var d = full; d is not null && !System.IO.Directory.Exists(d); d = Path.GetDirectoryName(d)) missing.Add(d);
        return missing;
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
    public string Sub(string relative)
    {
        var path = Confine(Directory, relative, "a folder name");
        if (!System.IO.Directory.Exists(path) && !createdSubs.Contains(path)) createdSubs.Add(path);
        return path;
    }

    /// <summary>Puts files on the list (before they are written) and returns nothing; the marker is saved once.</summary>
    public void Record(params string[] relatives) => Record((IEnumerable<string>)relatives);

    public void Record(IEnumerable<string> relatives)
    {
        var added = false;
        foreach (var r in relatives)
        {
            var path = Confine(Directory, r, "a file name");
            if (!File.Exists(path)) created.Add(Normal(r));
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
    /// Undoes this claim after a failed job, so the folder is left as the job found it: deletes the files first
    /// written under it and the sub-folders it handed out (<see cref="Sub"/>) that did not exist (their own marker's
    /// files, <c>.pdiff-*</c> bookkeeping and empty folders; anything else in them stays), restores the marker as it
    /// was (deletes it when this claim wrote it), and removes the folder and parents that <see cref="Claim"/> created
    /// when nothing is left in them. Files that were there before the claim, ours or not, are not touched (one of
    /// ours rewritten meanwhile keeps its new content). Best effort: a file that cannot be deleted is left, the
    /// job's own error is what the caller reports.
    /// </summary>
    public void Abandon()
    {
        foreach (var sub in createdSubs.OrderByDescending(p => p.Length)) Try(() => RemoveOurs(sub));
        foreach (var r in created)
            Try(() =>
            {
                var p = Confine(Directory, r, "a file name");
                if (File.Exists(p)) File.Delete(p);
                files.Remove(r);
            });
        foreach (var d in created.Select(r => Path.GetDirectoryName(Path.Combine(Directory, r))!).Distinct().OrderByDescending(d => d.Length))
            Try(() => DeleteEmptyUpTo(d, Directory));
        var marker = Path.Combine(Directory, MarkerName);
        Try(() =>
        {
            if (markerBefore is null) File.Delete(marker);
            else if (!File.Exists(marker) || File.ReadAllText(marker) != markerBefore) AtomicFile.WriteAllText(marker, markerBefore);
        });
        foreach (var d in createdDirs)
            Try(() =>
            {
                if (System.IO.Directory.Exists(d) && !System.IO.Directory.EnumerateFileSystemEntries(d).Any()) System.IO.Directory.Delete(d);
            });
        created.Clear();
        createdSubs.Clear();
    }

    /// <summary>In a folder that did not exist before our claim: what its marker lists, our <c>.pdiff-*</c> entries, then empty folders.</summary>
    static void RemoveOurs(string dir)
    {
        if (!System.IO.Directory.Exists(dir)) return;
        var marker = Path.Combine(dir, MarkerName);
        if (File.Exists(marker))
        {
            Marker? m = null;
            try { m = Read(marker); } catch (InvalidDataException) { }
            foreach (var f in m?.Files ?? new List<string>())
            {
                var p = Confine(dir, f, marker);
                if (File.Exists(p)) File.Delete(p);
            }
        }
        foreach (var e in System.IO.Directory.EnumerateFileSystemEntries(dir, ".pdiff-*").ToList())
            if (System.IO.Directory.Exists(e)) System.IO.Directory.Delete(e, true); else File.Delete(e);
        foreach (var d in System.IO.Directory.EnumerateDirectories(dir, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length))
            if (!System.IO.Directory.EnumerateFileSystemEntries(d).Any()) System.IO.Directory.Delete(d);
        if (!System.IO.Directory.EnumerateFileSystemEntries(dir).Any()) System.IO.Directory.Delete(dir);
    }

    static void DeleteEmptyUpTo(string dir, string root)
    {
        for (var d = dir; d.Length > root.Length && System.IO.Directory.Exists(d) && !System.IO.Directory.EnumerateFileSystemEntries(d).Any(); d = Path.GetDirectoryName(d)!)
            System.IO.Directory.Delete(d);
    }

    static void Try(Action a)
    {
        try { a(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException) { }
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
