using System.Globalization;

namespace PDiff.Storage;

/// <summary>A folder another process is writing: refused before any work, naming the folder and the other process.</summary>
public sealed class FolderInUseException(string message) : IOException(message);

/// <summary>
/// One writer per folder, across processes. The writer holds an exclusive lock on <see cref="FileName"/> inside
/// the folder: .NET's <see cref="FileShare.None"/>, which is an advisory <c>flock</c> on Linux and macOS (a
/// sharing lock on Windows). The kernel drops it when the process ends in any way, SIGKILL included, so a
/// killed writer never leaves the folder locked. The lock file stays after release (removing it would race
/// with a writer about to lock it). Who holds the lock (pid, command line, since when) is written beside it in
/// <see cref="HolderFileName"/>: another .NET process cannot even read the locked file.
/// <para>
/// Two ways to meet a held lock: <see cref="Take"/> refuses at once (<see cref="FolderInUseException"/>): what the
/// CLI's writers do, since a second build into the same folder is a mistake. <see cref="Wait"/> waits, saying
/// so once in the log: what caches do (two notebooks wanting the same cached zoo or trained model), since the
/// second then finds the first one's result and reuses it instead of computing it again.
/// </para>
/// <para>
/// Within one process the lock is re-entrant (nested writers of one folder, e.g. a zoo build inside a cache
/// check, share it); it is released when the last holder is disposed, or by a finalizer when a holder is
/// dropped without disposing. Locking is advisory: it orders writers that use it (every pdiff writer does), not
/// other programs. .NET skips it when DOTNET_SYSTEM_IO_DISABLEFILELOCKING is set.
/// </para>
/// </summary>
public sealed class FolderLock : IDisposable
{
    public const string FileName = ".pdiff-lock";
    public const string HolderFileName = ".pdiff-lock.holder";

    /// <summary>Whether a file name is the lock's own bookkeeping (never a user's file, never listed as content).</summary>
    public static bool IsLockFile(string name) => name is FileName or HolderFileName;

    sealed class Held(FileStream stream)
    {
        public FileStream Stream { get; } = stream;
        public int Count;
    }

    static readonly Dictionary<string, Held> held = new(StringComparer.Ordinal);
    static readonly object gate = new();

    int released;

    FolderLock(string dir) => Directory = dir;

    /// <summary>The locked folder (full path).</summary>
    public string Directory { get; }

    /// <summary>
    /// Locks <paramref name="dir"/> (created when missing) for this process, or throws <see cref="FolderInUseException"/>
    /// at once when another process holds it; <paramref name="what"/> names the folder in that message ("zoo").
    /// </summary>
    public static FolderLock Take(string dir, string what) =>
        TryTake(dir, out var l) ?? throw new FolderInUseException(
            $"{l} is being written by {Holder(l)}; wait for it to finish or choose another folder for the {what} (nothing was done).");

    /// <summary>
    /// Locks <paramref name="dir"/>, waiting while another process holds it (one line in <paramref name="log"/> says
    /// who and that we wait). Polls, backing off to once a second; <paramref name="cancel"/> ends the wait.
    /// </summary>
    public static FolderLock Wait(string dir, string what, TextWriter? log = null, CancellationToken cancel = default)
    {
        var pause = 20;
        var said = false;
        while (true)
        {
            if (TryTake(dir, out var full) is { } l) return l;
            if (!said)
            {
                log?.WriteLine($"[lock] {full} is being written by {Holder(full)}; waiting for it to finish before using the {what}");
                said = true;
            }
            cancel.WaitHandle.WaitOne(pause);
            cancel.ThrowIfCancellationRequested();
            pause = Math.Min(1000, pause * 2);
        }
    }

    static FolderLock? TryTake(string dir, out string full)
    {
        full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        lock (gate)
        {
            if (held.TryGetValue(full, out var h))
            {
                h.Count++;
                return new FolderLock(full);
            }
            System.IO.Directory.CreateDirectory(full);
            FileStream stream;
            try
            {
                stream = new FileStream(Path.Combine(full, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException and not PathTooLongException && IsSharingViolation(e))
            {
                return null;
            }
            held[full] = new Held(stream) { Count = 1 };
            try
            {
                AtomicFile.WriteAllText(Path.Combine(full, HolderFileName), string.Create(CultureInfo.InvariantCulture,
                    $"pid {Environment.ProcessId} ({CommandLine()}), since {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC\n"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Only the refusal message of another process loses its detail.
            }
            return new FolderLock(full);
        }
    }

    // EWOULDBLOCK from flock (Unix) and ERROR_SHARING_VIOLATION / ERROR_LOCK_VIOLATION (Windows) all surface as these HResults.
    static bool IsSharingViolation(IOException e) => (e.HResult & 0xFFFF) is 32 or 33 || e.HResult == 11;

    /// <summary>Who holds the lock of <paramref name="dir"/>, as its holder wrote it, when that process still runs.</summary>
    static string Holder(string dir)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(dir, HolderFileName)).Trim();
            // The file may still name an earlier holder that has died (the new one is about to rewrite it): then say no more.
            var pid = text.Split(' ', 3) is ["pid", var p, ..] && int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
            if (pid == Environment.ProcessId || pid > 0 && Alive(pid))
                return "another pdiff process: " + (text.Length > 300 ? text[..300] + "…" : text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return "another pdiff process";
    }

    static bool Alive(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    static string CommandLine()
    {
        var args = Environment.GetCommandLineArgs();
        if (args.Length == 0) return "?";
        var line = string.Join(' ', args.Skip(1).Prepend(Path.GetFileName(args[0])));
        return line.Length > 200 ? line[..200] + "…" : line;
    }

    /// <summary>Releases this hold; the lock goes when the process's last hold on the folder does.</summary>
    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    ~FolderLock() => Release();

    void Release()
    {
        if (Interlocked.Exchange(ref released, 1) != 0) return;
        lock (gate)
        {
            if (!held.TryGetValue(Directory, out var h) || --h.Count > 0) return;
            held.Remove(Directory);
            h.Stream.Dispose();
        }
    }
}
