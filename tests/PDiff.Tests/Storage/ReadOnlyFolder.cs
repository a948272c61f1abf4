using System.Diagnostics;
using PDiff.Storage;
using Xunit;

namespace PDiff.Tests.Storage;

/// <summary>
/// A folder this process cannot write, made for a test. Tests run as root here, and root writes through permission
/// bits, so <c>chmod -w</c> proves nothing: the folder is made immutable with <c>chattr +i</c> (which stops root too),
/// else, for an ordinary user, its write bits are cleared. Either way it counts only when a real write into it fails.
/// </summary>
public sealed class ReadOnlyFolder : IDisposable
{
    public string Path { get; }
    readonly bool immutable;

    ReadOnlyFolder(string path, bool immutable) => (Path, this.immutable) = (path, immutable);

    /// <summary>Makes <paramref name="dir"/> (which must exist) unwritable, or returns null when this machine allows neither way.</summary>
    public static ReadOnlyFolder? Make(string dir)
    {
        if (Run("chattr", "+i", dir) && !Writes(dir)) return new ReadOnlyFolder(dir, true);
        Run("chattr", "-i", dir);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
            if (!Writes(dir)) return new ReadOnlyFolder(dir, false);
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return null;
    }

    /// <summary>Whether this machine lets a test make a folder unwritable (see <see cref="ReadOnlyFolderFactAttribute"/>).</summary>
    public static readonly Lazy<bool> Possible = new(() =>
    {
        var d = Directory.CreateTempSubdirectory("pdiff-ro-probe-").FullName;
        using (var ro = Make(d)) if (ro is null) { Directory.Delete(d); return false; }
        Directory.Delete(d);
        return true;
    });

    /// <summary>A real write (not the probe under test): true when a file could be created in <paramref name="dir"/>.</summary>
    public static bool Writes(string dir)
    {
        var f = System.IO.Path.Combine(dir, "write-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            File.WriteAllText(f, "x");
            File.Delete(f);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    static bool Run(string tool, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(tool) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (immutable) Run("chattr", "-i", Path);
        else if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}

/// <summary>A fact that runs only where a test can make a folder unwritable (chattr +i, or chmod as a non-root user), and says why not elsewhere.</summary>
public sealed class ReadOnlyFolderFactAttribute : FactAttribute
{
    public ReadOnlyFolderFactAttribute()
    {
        if (!ReadOnlyFolder.Possible.Value)
            Skip = "this machine lets no test make a folder unwritable (chattr +i failed, and chmod does not stop this user, e.g. root)";
    }
}
