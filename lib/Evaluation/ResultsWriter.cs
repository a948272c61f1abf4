using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Analysis;
using PDiff.Storage;

namespace PDiff.Evaluation;

/// <summary>
/// JSON conventions of the results folder: snake_case names (as the CSV headers), enums as strings,
/// NaN / ∞ as the named literals (a group of one has no within-group IoU), indented for diffs.
/// </summary>
public static class ResultsJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}

/// <summary>
/// What made a results folder: the tool, when, on what, with which configuration and seeds, and the files
/// it holds. Written last as <c>run.json</c> beside the files it describes.
/// </summary>
public sealed record RunInfo(
    string Tool,
    DateTime CreatedUtc,
    string TorchVersion,
    string Machine,
    object Configuration,
    IReadOnlyDictionary<string, ulong> Seeds,
    IReadOnlyDictionary<string, object> Inputs,
    IReadOnlyList<string> Notes,
    IReadOnlyDictionary<string, double> Seconds,
    IReadOnlyList<string> Files);

/// <summary>
/// Writes result files under one folder with predictable names (no sub-paths), remembers what it wrote,
/// and closes with <c>run.json</c> (<see cref="WriteRun"/>) so every file travels with its configuration.
/// </summary>
public sealed class ResultsWriter
{
    readonly List<string> written = new();
    readonly OwnedFolder? owner;

    /// <param name="owner">The claimed folder this one lies in (or is): every file is put on its list before it is written.</param>
    public ResultsWriter(string folder, OwnedFolder? owner = null)
    {
        if (string.IsNullOrWhiteSpace(folder)) throw new ArgumentException("The results folder path is empty.", nameof(folder));
        Folder = Path.GetFullPath(folder);
        this.owner = owner;
        Directory.CreateDirectory(Folder);
    }

    public string Folder { get; }
    public IReadOnlyList<string> Written => written;

    public string WriteText(string name, string text)
    {
        var path = PathFor(name);
        AtomicFile.WriteAllText(path, text);
        return Record(name, path);
    }

    public string WriteCsv(string name, TextTable table) => WriteCsv(name, table.ToDataFrame());

    /// <summary>Writes the frame with <see cref="Tables.SaveCsv"/> (through DataFrame.SaveCsv; doubles round-trip unless <paramref name="doubleFormat"/>).</summary>
    public string WriteCsv(string name, DataFrame frame, string? doubleFormat = null)
    {
        var path = PathFor(name);
        AtomicFile.WriteVia(path, tmp => Tables.SaveCsv(frame, tmp, doubleFormat));
        return Record(name, path);
    }

    public string WriteJson<T>(string name, T value) => WriteText(name, JsonSerializer.Serialize(value, ResultsJson.Options));

    /// <summary>Writes <c>run.json</c> listing every file written so far (it is not listed itself).</summary>
    public string WriteRun(string tool, object configuration, IReadOnlyDictionary<string, ulong> seeds,
        IReadOnlyDictionary<string, object>? inputs = null, IReadOnlyList<string>? notes = null, IReadOnlyDictionary<string, double>? seconds = null)
    {
        var run = new RunInfo(tool, DateTime.UtcNow, TorchSharp.torch.__version__,
            $"{Environment.OSVersion}; {Environment.ProcessorCount} cores; .NET {Environment.Version}",
            configuration, seeds, inputs ?? new Dictionary<string, object>(), notes ?? Array.Empty<string>(),
            seconds ?? new Dictionary<string, double>(), written.Where(f => f != "run.json").ToList());
        var path = PathFor("run.json");
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(run, ResultsJson.Options));
        return path;
    }

    public static T ReadJson<T>(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No JSON file at '{path}'.", path);
        return JsonSerializer.Deserialize<T>(File.ReadAllText(path), ResultsJson.Options)
            ?? throw new FormatException($"'{path}' holds JSON null, not a {typeof(T).Name}.");
    }

    string Record(string name, string path)
    {
        if (!written.Contains(name)) written.Add(name);
        return path;
    }

    string PathFor(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains('/') || name.Contains('\\') || name is "." or "..")
            throw new ArgumentException($"'{name}' is not a plain file name; results files live directly in the results folder.", nameof(name));
        var path = Path.Combine(Folder, name);
        owner?.Record(Path.GetRelativePath(owner.Directory, path));
        return path;
    }
}
