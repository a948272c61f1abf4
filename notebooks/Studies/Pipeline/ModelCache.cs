using PDiff.Storage;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>
/// Where trained p-diff models are cached (their training checkpoints, so the same configuration on the same zoo
/// trains once; docs/design-notes.md, "Caches"). The rule, decided and checked before any work:
/// <list type="bullet">
/// <item><c>off</c> (<see cref="Setting"/>, else the environment variable <see cref="Variable"/>): nowhere; every training runs in full.</item>
/// <item>a folder: there, as <c>&lt;folder&gt;/&lt;zoo task&gt;/&lt;hash&gt;/</c>; it must be writable, else an error names it.</item>
/// <item>unset: beside the zoo (<c>&lt;zoo&gt;/pdiff/&lt;hash&gt;/</c>) when the zoo folder is writable, else the user's cache
/// folder (<see cref="UserCacheFolder"/>), so a read-only or shared zoo is usable; when neither is writable, an error
/// says so and how to choose.</item>
/// </list>
/// The hash (configuration, K, the zoo's creation stamp) is the same wherever the cache is.
/// </summary>
public static class ModelCache
{
    public const string Variable = "PDIFF_MODEL_CACHE";
    public const string Off = "off";

    /// <summary>This process's choice (an entry point's flag, e.g. <c>pdiff run --model-cache</c>); null: <see cref="Variable"/>.</summary>
    public static string? Setting { get; set; }

    static string? Current => Setting ?? (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } e ? e : null);

    /// <summary>$XDG_CACHE_HOME/pdiff/models, else ~/.cache/pdiff/models (the local application-data folder where there is no home).</summary>
    public static string UserCacheFolder()
    {
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "pdiff", "models");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length > 0
            ? Path.Combine(home, ".cache", "pdiff", "models")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "pdiff", "models");
    }

    /// <summary>
    /// The folder under which the trained models of the zoo in <paramref name="zooDir"/> (task <paramref name="task"/>)
    /// go, one sub-folder per hash; null when caching is off. Throws <see cref="IOException"/> naming the folder and
    /// the fix when the chosen one cannot be written. <paramref name="setting"/>, <paramref name="canWrite"/> and
    /// <paramref name="userCache"/> are this process's in <see cref="FolderFor(string, string)"/>; tests pass their own.
    /// </summary>
    public static string? FolderFor(string zooDir, string task, string? setting, Func<string, bool> canWrite, string userCache)
    {
        if (string.Equals(setting, Off, StringComparison.OrdinalIgnoreCase)) return null;
        if (setting is not null)
        {
            var chosen = Path.GetFullPath(setting);
            if (!canWrite(chosen))
                throw new IOException($"The p-diff model cache {chosen} ({Variable} / --model-cache) cannot be written; choose a folder you can write, " +
                    $"or {Variable}=off to train without caching (nothing was done).");
            return Path.Combine(chosen, task);
        }
        var beside = Path.Combine(Path.GetFullPath(zooDir), ZooStore.TrainedModelsFolder);
        if (canWrite(beside)) return beside;
        var user = Path.GetFullPath(userCache);
        if (canWrite(user)) return Path.Combine(user, task);
        throw new IOException($"Trained p-diff models have nowhere to be cached: neither the zoo folder {Path.GetFullPath(zooDir)} nor the user cache " +
            $"folder {user} can be written. Set --model-cache <dir> ({Variable}=<dir>) to a folder you can write, or {Variable}=off to train " +
            "without caching (nothing was done).");
    }

    /// <summary><see cref="FolderFor(string, string, string?, Func{string, bool}, string)"/> with this process's setting, a real write probe and the user's cache folder.</summary>
    public static string? FolderFor(string zooDir, string task) => FolderFor(zooDir, task, Current, FolderProbe.CanWrite, UserCacheFolder());

    /// <summary>The same for an open zoo.</summary>
    public static string? FolderFor(ZooTask zoo) => FolderFor(zoo.Directory, zoo.Manifest.Task);
}
