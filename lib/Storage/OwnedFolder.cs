using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Serialization;

namespace PDiff.Storage;

/// <summary>A folder, or a file in one, that holds a user's files and is refused (nothing is written).</summary>
public class ForeignFolderException(string message) : IOException(message);

/// <summary>
/// A file that pdiff did not write lies where a writer would put one of its own (a name clash): refused,
/// with or without force, since a file we did not write is never replaced. <see cref="Path"/> names it.
/// </summary>
public sealed class ForeignFileException(string path, string message) : ForeignFolderException(message)
{
    public string Path { get; } = path;
}

/// <summary>
/// A folder we write into (a zoo, a results folder, a run folder), with a marker file
/// (<see cref="MarkerName"/>) saying what wrote it and listing every file we wrote there. We overwrite or
/// delete only files on that list: a user's own files beside ours are never touched. A non-empty folder
/// without a marker is refused unless forced (then we still touch only what we write). The marker is
/// rewritten atomically, and a file is put on the list before it is first written, so a kill at any
/// moment never leaves a file of ours off the list. A claim holds the folder's <see cref="FolderLock"/> (one
/// writer at a time) until it is disposed.
/// <para>
/// One ownership rule: a file that is not on the list is never replaced or deleted, forced or not. Each
/// writer names what it plans to write when it claims the folder (<see cref="Claim"/>'s <c>planned</c>), and
/// a file of someone else's at one of those names is refused before any work (<see cref="ForeignFileException"/>);
/// <see cref="Record"/> checks again at write time and never puts an existing file on the list.
/// </para>
/// <para>
/// Planned names are paths relative to the folder: an exact file (<c>manifest.json</c>), a folder we fill
/// (<c>.pdiff-staging/</c>, trailing '/': every file under it must be ours), or a pattern in the last name, where
/// <c>*</c> stands for any characters and <c>#</c> for one or more digits (<c>checkpoints/#.safetensors</c>). A list
/// entry ending in '/' owns the whole folder under it.
/// </para>
/// </summary>
public sealed partial class OwnedFolder : IDisposable
{
    public const string MarkerName = ".pdiff-folder.json";
    const string Format = "pdiff-folder";

    readonly SortedSet<string> files;

    // What this claim found and made, so that Abandon can undo it: the folders Claim created (the folder and any
    // missing parents, deepest first), the marker's text before the claim (null: this claim wrote the marker),
    // files first written under this claim, and sub-folders handed out by Sub that did not exist yet.
    List<string> createdDirs = new();
    string? markerBefore;
    bool lockBefore;
    readonly HashSet<string> created = new(StringComparer.Ordinal);
    readonly List<string> createdSubs = new();

    OwnedFolder(string dir, string kind, IEnumerable<string> owned, string? tag = null)
    {
        (Directory, Kind, Tag) = (dir, kind, tag);
        files = new SortedSet<string>(owned.Select(Normal), StringComparer.Ordinal);
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
    /// there (relative paths; only existing plain files are taken), else it is refused unless <paramref name="force"/>.
    /// Then every name in <paramref name="planned"/> (see the class summary) must be free or ours, forced or not:
    /// a file of someone else's there throws <see cref="ForeignFileException"/> naming it. Nothing is written
    /// before both checks pass. The claim holds the folder's <see cref="FolderLock"/> until disposed: a folder another
    /// process writes is refused (<see cref="FolderInUseException"/>), or waited for when <paramref name="wait"/> (said
    /// once in <paramref name="log"/>).
    /// </summary>
    public static OwnedFolder Claim(string dir, string kind, bool force = false, Func<string, IEnumerable<string>?>? legacy = null,
        IEnumerable<string>? planned = null, bool wait = false, TextWriter? log = null)
    {
        var full = Path.GetFullPath(dir);
        if (File.Exists(full)) throw new IOException($"{full} is a file, not a folder; choose a folder for the {kind}.");
        Examine(full, kind, force, legacy, planned);   // a folder that is not ours is refused before even the lock file is written into it
        var createdDirs = Missing(full);
        System.IO.Directory.CreateDirectory(full);
        var lockBefore = File.Exists(Path.Combine(full, FolderLock.FileName));
        var hold = wait ? FolderLock.Wait(full, kind, log) : FolderLock.Take(full, kind);
        try
        {
            var marker = Path.Combine(full, MarkerName);
            var markerBefore = File.Exists(marker) ? File.ReadAllText(marker) : null;
            var (folder, fresh) = Examine(full, kind, force, legacy, planned);   // again, now that no other writer can change it
            (folder.createdDirs, folder.markerBefore, folder.lockBefore) = (createdDirs, markerBefore, lockBefore);
            if (fresh) folder.Save();
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

    /// <summary>
    /// What <see cref="Claim"/> would refuse, thrown the same way, but nothing is created, written or locked: for a
    /// writer that claims its folder only after long work and must refuse a foreign one before it.
    /// </summary>
    public static void Check(string dir, string kind, bool force = false, Func<string, IEnumerable<string>?>? legacy = null,
        IEnumerable<string>? planned = null) => Examine(dir, kind, force, legacy, planned);

    static (OwnedFolder Folder, bool Fresh) Examine(string dir, string kind, bool force, Func<string, IEnumerable<string>?>? legacy, IEnumerable<string>? planned)
    {
        var full = Path.GetFullPath(dir);
        if (File.Exists(full)) throw new IOException($"{full} is a file, not a folder; choose a folder for the {kind}.");
        var marker = Path.Combine(full, MarkerName);
        OwnedFolder folder;
        if (File.Exists(marker))
        {
            var text = File.ReadAllText(marker);
            var m = Read(marker);
            if (m.Kind != kind)
                throw new ForeignFolderException($"{full} holds a pdiff {m.Kind}, not a {kind} folder; choose another folder (nothing was written).");
            folder = new OwnedFolder(full, kind, m.Files, m.Tag);
        }
        else
        {
            var empty = !System.IO.Directory.Exists(full) ||
                        !System.IO.Directory.EnumerateFileSystemEntries(full).Any(e => !FolderLock.IsLockFile(Path.GetFileName(e)));
            IReadOnlyList<string>? ours = empty ? Array.Empty<string>() : legacy?.Invoke(full)?.Where(f => IsPlainFile(full, f)).ToList();
            folder = new OwnedFolder(full, kind, ours ?? (IEnumerable<string>)Array.Empty<string>());
            // A clash is named first: forcing would not help there.
            if (planned is not null && folder.FirstForeign(planned) is { } first) throw folder.Clash(first, "nothing was written");
            if (ours is null && !force)
                throw new ForeignFolderException($"{full} is not empty and was not written by pdiff (it has no {MarkerName}), so nothing is written " +
                    $"into it: your files there are left alone. Choose a new or empty folder, or pass --force to write beside them " +
                    $"(pdiff then overwrites or deletes only the files it writes itself).");
            return (folder, true);
        }
        if (planned is not null && folder.FirstForeign(planned) is { } clash) throw folder.Clash(clash, "nothing was written");
        return (folder, false);
    }

    /// <summary>Whether <paramref name="relative"/> names an existing plain file (no folder, no link) inside <paramref name="root"/>.</summary>
    static bool IsPlainFile(string root, string relative)
    {
        try
        {
            var info = new FileInfo(Confine(root, relative, "an older manifest"));
            return info.Exists && info.LinkTarget is null;
        }
        catch (InvalidDataException) { return false; }
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

    /// <summary>Whether <paramref name="relative"/> is on the list, itself or under a folder entry ("x/") of the list.</summary>
    public bool Owns(string relative)
    {
        var r = Normal(relative);
        if (files.Contains(r)) return true;
        for (var i = r.IndexOf('/'); i >= 0 && i < r.Length - 1; i = r.IndexOf('/', i + 1))
            if (files.Contains(r[..(i + 1)])) return true;
        return false;
    }

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

    /// <summary>
    /// Puts files (or folders, "x/") on the list before they are written; the marker is saved once. A name that
    /// is not ours yet and already holds someone else's file throws <see cref="ForeignFileException"/> and
    /// nothing is put on the list: an existing file never becomes ours by being written over.
    /// </summary>
    public void Record(params string[] relatives) => Record((IEnumerable<string>)relatives);

    public void Record(IEnumerable<string> relatives)
    {
        var names = relatives.Select(Normal).ToList();
        if (FirstForeign(names) is { } clash) throw Clash(clash, "it was not written over");
        foreach (var r in names) Confine(Directory, r, "a file name");
        var added = false;
        foreach (var r in names)
        {
            if (!File.Exists(Confine(Directory, r, "a file name"))) created.Add(r);   // undone by Abandon
            added |= files.Add(r);
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
            if (!r.EndsWith('/') && File.Exists(p)) File.Delete(p);
            removed |= files.Remove(r);
        }
        if (removed) Save();
    }

    /// <summary>
    /// Deletes every file of ours except <paramref name="keep"/>, and empty folders they leave. Folder entries
    /// ("x/", e.g. a staging folder) stay on the list: their writer removes them.
    /// </summary>
    public void DeleteAllBut(IEnumerable<string> keep)
    {
        var k = keep.Select(Normal).ToHashSet(StringComparer.Ordinal);
        var gone = files.Where(f => !k.Contains(f) && !f.EndsWith('/')).ToList();
        Delete(gone);
        foreach (var d in gone.Select(f => Path.GetDirectoryName(Path.Combine(Directory, f))!).Distinct().OrderByDescending(d => d.Length))
            if (d.Length > Directory.Length && System.IO.Directory.Exists(d) && !System.IO.Directory.EnumerateFileSystemEntries(d).Any())
                System.IO.Directory.Delete(d);
    }

    /// <summary>
    /// The first existing entry, relative, that lies at one of the <paramref name="planned"/> names (see the
    /// class summary) and is not ours; null when there is none. A folder with a marker of its own under a
    /// planned folder answers for itself when its writer claims it.
    /// </summary>
    public string? FirstForeign(IEnumerable<string> planned)
    {
        foreach (var name in planned.Select(Normal))
        {
            var slash = name.TrimEnd('/').LastIndexOf('/');
            var last = name.TrimEnd('/')[(slash + 1)..];
            if (last.Contains('*') || last.Contains('#'))
            {
                var parent = slash < 0 ? "" : name[..slash];
                if (ForeignAncestor(name) is { } a) return a;
                var dir = Lexical(parent);
                if (!System.IO.Directory.Exists(dir)) continue;
                var pattern = Pattern(last);
                foreach (var entry in System.IO.Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
                {
                    var rel = parent.Length == 0 ? Path.GetFileName(entry) : $"{parent}/{Path.GetFileName(entry)}";
                    if (pattern.IsMatch(Path.GetFileName(entry)) && ForeignAt(rel + (name.EndsWith('/') ? "/" : "")) is { } f) return f;
                }
            }
            else if (ForeignAt(name) is { } f) return f;
        }
        return null;
    }

    /// <summary>The foreign entry at one exact planned name (a file, or a folder "x/" and all under it), or null.</summary>
    string? ForeignAt(string name)
    {
        var trimmed = name.TrimEnd('/');
        if (ForeignAncestor(name) is { } a) return a;
        var full = Lexical(trimmed);
        var info = new FileInfo(full);
        var dir = new DirectoryInfo(full);
        if (!info.Exists && !dir.Exists && info.LinkTarget is null) return null;
        if (Owns(name) || Owns(trimmed)) return null;
        if (!name.EndsWith('/') || info.Exists || dir.LinkTarget is not null) return trimmed;
        // A folder with a marker of its own (a zoo inside a results folder) answers for itself when claimed.
        return File.Exists(Path.Combine(full, MarkerName)) ? null : ForeignUnder(full, trimmed);
    }

    /// <summary>A part of the way to <paramref name="name"/> that exists as a file (or link) not ours: the folder cannot be made there.</summary>
    string? ForeignAncestor(string name)
    {
        var parts = name.TrimEnd('/').Split('/');
        for (var i = 1; i < parts.Length; i++)
        {
            var rel = string.Join('/', parts[..i]);
            if (rel.Length == 0) continue;
            var full = Lexical(rel);
            var info = new FileInfo(full);
            if ((info.Exists || new DirectoryInfo(full).LinkTarget is not null || info.LinkTarget is not null) && !Owns(rel)) return rel;
        }
        return null;
    }

    /// <summary>
    /// The full path of a planned name, without following links (a link on the way is someone else's entry, reported
    /// as such); a name that climbs out of the folder is refused as <see cref="Confine"/> refuses it.
    /// </summary>
    string Lexical(string relative)
    {
        if (relative.Length == 0) return Directory;
        var full = Path.GetFullPath(Path.Combine(Directory, relative));
        if (Path.IsPathRooted(relative) || !Inside(full, Directory))
            throw new InvalidDataException($"a planned name: the path '{Shown(relative)}' leads outside {Directory}; refused.");
        return full;
    }

    string? ForeignUnder(string full, string relative)
    {
        foreach (var entry in System.IO.Directory.EnumerateFileSystemEntries(full).Order(StringComparer.Ordinal))
        {
            var rel = $"{relative}/{Path.GetFileName(entry)}";
            var sub = new DirectoryInfo(entry);
            if (sub.Exists && sub.LinkTarget is null)
            {
                if (File.Exists(Path.Combine(entry, MarkerName))) continue;
                if (!Owns(rel + "/") && ForeignUnder(entry, rel) is { } f) return f;
            }
            else if (!Owns(rel)) return rel;
        }
        return null;
    }

    /// <summary>A planned name's last part as a regular expression: '*' any characters, '#' one or more digits.</summary>
    static Regex Pattern(string last) =>
        new("^" + Regex.Escape(last).Replace("\\*", "[^/]*").Replace("\\#", "[0-9]+") + "$", RegexOptions.CultureInvariant);

    ForeignFileException Clash(string relative, string outcome)
    {
        var full = Path.Combine(Directory, relative);
        return new ForeignFileException(full, $"{full} was not written by pdiff and lies where pdiff writes its own {Kind} file, so it is " +
            $"never replaced ({outcome}; --force does not change this): move it elsewhere or choose another folder.");
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
