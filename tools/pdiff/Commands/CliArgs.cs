using System.Globalization;
using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Storage;
using PDiff.Models;
using PDiff.Zoo;

namespace PDiff.Cli.Commands;

/// <summary>
/// `--name value`, `--name=value` and `--switch` options plus positionals, for the zoo and run commands.
/// Names not declared are usage errors (or, with <c>passUnknown</c>, kept in order for another parser such
/// as the p-diff flags); a name given twice, a missing value and a value given to a switch are usage
/// errors. The typed getters check ranges, so every number is refused before any work starts.
/// </summary>
internal sealed class CliArgs
{
    readonly Dictionary<string, string?> values = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = new();
    /// <summary>Arguments that are not ours, in order (only with passUnknown).</summary>
    public List<string> Passthrough { get; } = new();

    public static CliArgs Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> valued, IReadOnlyCollection<string>? switches = null,
        bool passUnknown = false, int maxPositional = 0)
    {
        switches ??= Array.Empty<string>();
        var o = new CliArgs();
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a == "--")
            {
                if (passUnknown) o.Passthrough.Add(a);
                else if (o.Positional.Count < maxPositional) o.Positional.Add(a);
                else throw new UsageException($"unexpected argument '{a}'" + (a.StartsWith('-') ? " (options start with --)." : "."));
                continue;
            }
            var name = a[2..];
            string? value = null;
            var eq = name.IndexOf('=');
            if (eq >= 0) (name, value) = (name[..eq], name[(eq + 1)..]);
            if (switches.Contains(name))
            {
                if (value is not null) throw new UsageException($"--{name} is a switch and takes no value (got '{a}').");
            }
            else if (valued.Contains(name))
            {
                if (value is null)
                {
                    if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                        throw new UsageException($"--{name} needs a value.");
                    value = args[++i];
                }
            }
            else if (passUnknown)
            {
                o.Passthrough.Add(a);
                continue;
            }
            else
            {
                var known = valued.Concat(switches).Select(n => "--" + n);
                throw new UsageException($"unknown option --{name}. Options: {string.Join(", ", known)}.");
            }
            if (o.values.TryGetValue(name, out var before))
                throw new UsageException($"--{name} is given twice{(before is null ? "" : $" ('{before}' and '{value}')")}; give it once.");
            o.values[name] = value;
        }
        return o;
    }

    public bool Has(string name) => values.ContainsKey(name);
    public string? Get(string name) => values.TryGetValue(name, out var v) ? v : null;
    public string Required(string name) => Get(name) ?? throw new UsageException($"--{name} is required.");
    public bool Flag(string name) => values.ContainsKey(name);

    /// <summary>An integer of at least <paramref name="min"/>, or null when not given.</summary>
    public int? Int(string name, int min = 1) => Get(name) is { } s ? Check.Int($"--{name}", s, min) : null;

    /// <summary>--threads: a whole number from 1 to this machine's core count (<see cref="MachineBudget.MaxThreads"/>), or null when not given.</summary>
    public int? Threads() => Int("threads") is { } t ? Check.Threads(t) : null;

    /// <summary>A seed: a whole number ≥ 0.</summary>
    public ulong? Seed(string name) => Get(name) is { } s
        ? ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
            : throw new UsageException($"--{name} takes a whole number ≥ 0, not '{s}'.")
        : null;

    /// <summary>A finite number &gt; 0 (a learning rate), or null when not given.</summary>
    public double? Positive(string name) => Get(name) is { } s ? Check.PositiveFinite($"--{name}", s) : null;
}

/// <summary>The checks behind the getters, and the names of the command line, each turned into a usage error.</summary>
internal static class Check
{
    /// <summary>
    /// The flag of a library property in the library's limit messages: "Width" → --width, "AeBatch" → --ae-batch,
    /// "K" → --k, "Generate" → --generate (the p-diff flags are made from PDiffConfig's properties the same way).
    /// </summary>
    public static readonly Func<string, string> FlagName = ConfigText.FlagOf;

    /// <summary>
    /// Runs one of the library's memory checks (<see cref="ModelSize.CheckFits"/>, <see cref="ZooLimits"/>,
    /// <see cref="PDiffMemory"/>), turning its refusal into a usage error: a size that cannot fit is a bad command line.
    /// </summary>
    public static void Fits(Action check)
    {
        try { check(); }
        catch (BudgetExceededException e) { throw new UsageException(e.Message); }
    }

    /// <summary>A thread count within this machine's cores (see <see cref="MachineBudget.MaxThreads"/>).</summary>
    public static int Threads(int n)
    {
        Fits(() => MachineBudget.Current().CheckThreads(n, "--threads"));
        return n;
    }

    /// <summary>The network <paramref name="spec"/> describes fits this machine for <paramref name="use"/>: checked before it is built.</summary>
    public static void ModelFits(ModelSpec spec, ModelUse use, int batch = 0) =>
        Fits(() => ModelSize.CheckFits(spec, use, batch, name: FlagName));

    public static int Int(string flag, string s, int min)
    {
        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"{flag} takes a whole number{(min == 1 ? " ≥ 1" : min == 0 ? " ≥ 0" : "")}, not '{s}'.");
        if (v < min) throw new UsageException($"{flag} must be at least {min}, not {v}.");
        return v;
    }

    public static double PositiveFinite(string flag, string s)
    {
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v <= 0)
            throw new UsageException($"{flag} takes a finite number > 0 (such as 0.01 or 1e-3), not '{s}'.");
        return v;
    }

    /// <summary>Runs <paramref name="f"/>, turning the library's ArgumentException (an unknown name) into a usage error.</summary>
    public static T Name<T>(string flag, Func<T> f)
    {
        try { return f(); }
        catch (ArgumentException e) { throw new UsageException($"{flag}: {e.Message}"); }
    }

    public static Profile ParseProfile(string? s) => Name("--profile", () => Profiles.Parse(s ?? "quick"));
    public static string ParseDataset(string? s) => Name("--dataset", () => Datasets.Canonical(s ?? Datasets.FashionMnistName));
    public static PDiffConfig ParsePreset(string? s) => Name("--preset", () => PDiffConfig.Preset(s ?? "default"));

    public static RecipeKind ParseRecipe(string? s) => (s ?? "v2").Trim().ToLowerInvariant() switch
    {
        "v2" => RecipeKind.V2,
        "v1" => RecipeKind.V1,
        _ => throw new UsageException($"--recipe takes v2 or v1, not '{s}'."),
    };

    /// <summary>
    /// Resolves <paramref name="subset"/> on the network <paramref name="spec"/> describes (built, not trained;
    /// a second at most): a network too large for <paramref name="use"/> in batches of <paramref name="batch"/>
    /// (<see cref="ModelFits"/>) and an unknown layer are refused before anything is built or trained, the latter with
    /// the presets and layer names. Returns the subset's length N.
    /// </summary>
    public static long Subset(ModelSpec spec, string subset, ModelUse use = ModelUse.Build, int batch = 0)
    {
        ModelSpec complete;
        try { complete = ModelRegistry.Complete(spec); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        ModelFits(complete, use, batch);
        using var model = ModelRegistry.Build(complete, 0);
        try { return Subsets.Resolve(model, subset).Length; }
        catch (ArgumentException e) { throw new UsageException($"--subset: {e.Message}"); }
    }

    /// <summary>
    /// The results folder <paramref name="path"/> (given by <paramref name="flag"/>) can be written: it, or its
    /// nearest existing parent, takes a new file (created and deleted here). Nothing else is created.
    /// </summary>
    public static void WritableFolder(string flag, string path)
    {
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new UsageException($"{flag} '{path}' is not a usable path ({e.Message}).");
        }
        if (File.Exists(full)) throw new UsageException($"{flag} {full} is a file; give a folder.");
        var dir = full;
        while (!Directory.Exists(dir))
        {
            var parent = Path.GetDirectoryName(dir);
            if (parent is null) break;
            if (File.Exists(parent)) throw new UsageException($"{flag} {full}: {parent} is a file, so the folder cannot be made; give another folder.");
            dir = parent;
        }
        var probe = Path.Combine(dir, $".pdiff-write-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new UsageException($"{flag} {full}: cannot write in {dir} ({e.Message.TrimEnd('.')}); give a folder you can write to.");
        }
        finally
        {
            try { if (File.Exists(probe)) File.Delete(probe); } catch (Exception) { /* best effort */ }
        }
    }

    /// <summary>An input file that must exist: exit 1 naming it when it does not.</summary>
    public static void FileExists(string flag, string path, string what)
    {
        if (Directory.Exists(path)) throw new JobFailedException($"{flag} {Path.GetFullPath(path)} is a folder; it should be {what}.");
        if (!File.Exists(path)) throw new JobFailedException($"{flag} {Path.GetFullPath(path)} does not exist: it should be {what}.");
    }

    /// <summary>An input folder that must exist: exit 1 naming it when it does not.</summary>
    public static void FolderExists(string flag, string path, string what)
    {
        if (File.Exists(path)) throw new JobFailedException($"{flag} {Path.GetFullPath(path)} is a file; it should be {what}.");
        if (!Directory.Exists(path)) throw new JobFailedException($"{flag} {Path.GetFullPath(path)} does not exist: it should be {what}.");
    }

    /// <summary>
    /// The p-diff flags among <paramref name="args"/> (a preset basis, then `--ae-steps 300` …), validated; the
    /// flags set are recorded in the config (<see cref="PDiffConfig.Explicit"/>) so profiles leave them alone.
    /// </summary>
    public static PDiffConfig PDiffFlags(IReadOnlyList<string> args, PDiffConfig basis)
    {
        var known = ConfigText.Flags().Select(f => f.Flag).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in args)
        {
            var flag = a.Contains('=') ? a[..a.IndexOf('=')] : a;
            if (known.Contains(flag) && !seen.Add(flag)) throw new UsageException($"{flag} is given twice; give it once.");
        }
        PDiffConfig config;
        List<string> rest;
        try { config = ConfigText.FromArgs(args, basis, out rest); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        if (rest.Count > 0)
        {
            var first = rest[0];
            throw new UsageException(first.StartsWith('-')
                ? $"unknown option {first} (neither a flag of this command nor a p-diff flag: `pdiff run --help-config` lists those)."
                : $"unexpected argument '{first}'.");
        }
        return config;
    }
}
