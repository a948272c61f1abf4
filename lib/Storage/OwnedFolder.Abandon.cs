namespace PDiff.Storage;

/// <summary>Undoing a claim after a failed job (<see cref="Abandon"/>): the folder is left as the job found it.</summary>
public sealed partial class OwnedFolder
{
    /// <summary><paramref name="full"/> and those of its parents that do not exist, deepest first.</summary>
    static List<string> Missing(string full)
    {
        var missing = new List<string>();
        for (var d = full; d is not null && !System.IO.Directory.Exists(d); d = Path.GetDirectoryName(d)) missing.Add(d);
        return missing;
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
        // The lock's files go too when this claim made them: the folder is left as the job found it. (Removing a lock
        // file can let a waiting writer lock a new one before we release ours; we hold it only until the caller
        // disposes, right after this, and write nothing more.)
        if (!lockBefore)
            foreach (var name in new[] { FolderLock.FileName, FolderLock.HolderFileName })
                Try(() => File.Delete(Path.Combine(Directory, name)));
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
}
