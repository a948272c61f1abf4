using PDiff.Data;
using PDiff.Models;

namespace PDiff.Zoo;

/// <summary>
/// One checkpoint: its file, when it was taken, and its scores on the fixed base model (NaN when an
/// import had no data to score on). <see cref="Origin"/> names the file it was imported from;
/// <see cref="Sha256"/> is the file's hash, checked whenever it is read (null in zoos written before hashes).
/// </summary>
public sealed record CheckpointRecord(int Index, string File, long Iteration, double TrainLoss, double ValAccuracy, double TestAccuracy,
    string? Origin = null, string? Sha256 = null);

/// <summary>Mean / min / max / median / population std of a list of accuracies.</summary>
public sealed record AccuracyStats(double Mean, double Min, double Max, double Median, double Std)
{
    public static AccuracyStats Of(IReadOnlyList<double> xs)
    {
        if (xs.Count == 0) return new(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        // Mean and std are summed over the sorted copy, as manifests written before have them: the same bits.
        var s = xs.OrderBy(x => x).ToArray();
        var mean = Statistics.Mean(s);
        return new(mean, s[0], s[^1], Statistics.Median(s), Statistics.PopulationStd(s, mean));
    }
}

/// <summary>The subset part of a zoo manifest: the selector the user gave and the resolved tensors in order.</summary>
public sealed record SubsetRecord(string Selector, IReadOnlyList<TensorSpec> Tensors, long Length)
{
    public SubsetLayout Layout() => new(Tensors);

    /// <summary>
    /// Why this subset, read from <paramref name="manifestPath"/>, cannot size a tensor (null when it can): tensors
    /// are allocated from these shapes, so each has at most 64 non-negative sizes whose product, and the sum of all,
    /// fit in 64 bits, and the recorded <see cref="Length"/> is that sum.
    /// </summary>
    internal string? Problem()
    {
        if (Tensors.Count == 0) return "its subset names no tensors";
        long total = 0;
        try
        {
            foreach (var t in Tensors)
            {
                if (t?.Name is null || t.Shape is null) return "its subset lists a tensor without a name or shape";
                if (t.Shape.Length > 64 || t.Shape.Any(d => d < 0))
                    return $"its subset tensor {PDiff.Checkpoints.SafeText.Quote(t.Name)} has the shape [{string.Join(", ", t.Shape.Take(8))}{(t.Shape.Length > 8 ? ", …" : "")}]";
                total = checked(total + t.Shape.Aggregate(1L, (a, b) => checked(a * b)));
            }
        }
        catch (OverflowException)
        {
            return "its subset's shapes hold more numbers than fit in 64 bits";
        }
        return total == Length ? null : $"its subset's shapes hold {total} numbers but it records a length of {Length}";
    }
}

/// <summary>
/// The <c>manifest.json</c> of one zoo task (dataset × architecture × subset): everything needed to
/// rebuild the data split and the fixed base model, how the checkpoints were made, and each
/// checkpoint's validation and test accuracy measured on the fixed base model.
/// </summary>
public sealed record ZooManifest
{
    public string Format { get; init; } = "pdiff-zoo";
    public int Version { get; init; } = 1;
    /// <summary>E.g. "fashion-mnist_resnet18_last-two-norms".</summary>
    public required string Task { get; init; }
    public required string Dataset { get; init; }
    /// <summary>The split (seeds, sizes, normalisation, fingerprint); null for imports made without data.</summary>
    public SplitInfo? Data { get; init; }
    public DataOptions? DataOptions { get; init; }
    public required ModelSpec Model { get; init; }
    /// <summary>The fixed base model the vectors belong to, relative to the task folder.</summary>
    public string BaseModel { get; init; } = "base.safetensors";
    /// <summary>SHA-256 of <see cref="BaseModel"/>, checked when it is loaded (null in zoos written before hashes).</summary>
    public string? BaseSha256 { get; init; }
    /// <summary>SHA-256 of the TorchScript file a relative <see cref="ModelSpec.Source"/> names, when there is one.</summary>
    public string? SourceSha256 { get; init; }
    /// <summary>The base training manifest (relative), when the base was trained here.</summary>
    public string? BaseManifest { get; init; }
    public double? BaseValAccuracy { get; init; }
    public double? BaseTestAccuracy { get; init; }
    public required SubsetRecord Subset { get; init; }
    /// <summary>The collection recipe; null for imported zoos (see <see cref="Source"/>).</summary>
    public CollectionRecipe? Recipe { get; init; }
    /// <summary>"collected" or "imported:&lt;folder&gt;".</summary>
    public string Source { get; init; } = "collected";
    public string? Profile { get; init; }
    public IReadOnlyDictionary<string, ulong> Seeds { get; init; } = new Dictionary<string, ulong>();
    public required IReadOnlyList<CheckpointRecord> Checkpoints { get; init; }
    public AccuracyStats? Validation { get; init; }
    public AccuracyStats? Test { get; init; }
    /// <summary>The checkpoints' wrong-prediction sets as scored at build time (<see cref="ZooScores"/>), relative; null when not kept.</summary>
    public string? Scores { get; init; }
    /// <summary>SHA-256 of <see cref="Scores"/>, checked when it is read.</summary>
    public string? ScoresSha256 { get; init; }
    /// <summary>Stage from which collection and scoring ran (earlier stages frozen and cached).</summary>
    public string? CutStage { get; init; }
    public IReadOnlyDictionary<string, double> Seconds { get; init; } = new Dictionary<string, double>();
    public string Torch { get; init; } = "";
    public int Threads { get; init; }
    public string Created { get; init; } = "";

    public int K => Checkpoints.Count;

    /// <summary>
    /// The files this manifest names inside the zoo folder, besides itself and the base training manifest: the base
    /// model, a TorchScript network stored in the zoo (relative <see cref="ModelSpec.Source"/>), the checkpoints and
    /// the scores. Opening confines them to the folder; the writer owns, moves and keeps exactly these.
    /// </summary>
    public IEnumerable<string> DataFiles()
    {
        yield return BaseModel;
        if (Model.Source is { } s && !Path.IsPathRooted(s)) yield return s;
        foreach (var c in Checkpoints) yield return c.File;
        if (Scores is { } sc) yield return sc;
    }
}
