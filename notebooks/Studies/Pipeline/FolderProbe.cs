namespace PDiff.Studies;

/// <summary>
/// Whether this process can create files in a folder, found by trying: a probe file is created there and removed
/// at once. Permission bits alone do not say (root writes through them; a read-only mount or an immutable folder
/// stops even root), so nothing short of a write answers truthfully.
/// </summary>
public static class FolderProbe
{
    /// <summary>
    /// Whether a file can be created in <paramref name="dir"/> or, when it does not exist yet, in its nearest existing
    /// parent (where it would be made).
    /// </summary>
    public static bool CanWrite(string dir)
    {
        var existing = Path.GetFullPath(dir);
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing)) return false;
            if (Path.GetDirectoryName(existing) is not { } parent) return false;
            existing = parent;
        }
        var probe = Path.Combine(existing, $".pdiff-write-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }
}
