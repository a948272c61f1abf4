using System.Globalization;
using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Data;
using PDiff.Models;
using PDiff.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// A zoo task on disk:
/// <code>
/// &lt;dir&gt;/manifest.json                       what, how, seeds, per-checkpoint accuracies, every file's path and SHA-256
/// &lt;dir&gt;/rev-3/base.safetensors              the fixed base model (full state dict)
/// &lt;dir&gt;/rev-3/base.json                     its training manifest (when trained here)
/// &lt;dir&gt;/rev-3/checkpoints/0000.safetensors  checkpoint k: the subset tensors by name
/// &lt;dir&gt;/rev-3/model.pt                      a TorchScript network, when the spec names one (relative Source)
/// </code>
/// The files live in the revision folder the manifest names (<see cref="ZooWriter"/> swaps a zoo by writing a new
/// revision, then the manifest); zoos written before revisions hold them beside the manifest, and read the same,
/// since every path is taken from the manifest. Checkpoints keep the reference's per-checkpoint-file form (tensors by name, so any tool can read one)
/// and are read back in manifest order, never in directory order (reference §8-4).
/// </summary>
public sealed class ZooTask
{
    ZooTask(string dir, ZooManifest manifest) => (Directory, Manifest) = (dir, manifest);

    public string Directory { get; }
    public ZooManifest Manifest { get; }
    public SubsetLayout Layout => Manifest.Subset.Layout();
    public int K => Manifest.K;
    public string BaseModelPath => Path.Combine(Directory, Manifest.BaseModel);

    public static ZooTask Open(string dir)
    {
        var path = Path.Combine(dir, "manifest.json");
        if (!File.Exists(path))
            throw new FileNotFoundException($"No zoo manifest at {path}. Build one with `pdiff zoo build ... --out {dir}` or import PyTorch checkpoints with `pdiff zoo import`.", path);
        ZooManifest? m;
        try { m = JsonSerializer.Deserialize<ZooManifest>(File.ReadAllText(path), BaseModels.Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not a valid zoo manifest: {e.Message}", e); }
        if (m is null || m.Format != "pdiff-zoo") throw new InvalidDataException($"{path} is not a pdiff-zoo manifest (format '{m?.Format}').");
        if (m.Version != 1) throw new InvalidDataException($"{path}: zoo format version {m.Version} is not supported (this library reads version 1).");
        if (m.Checkpoints is null || m.Subset is null || m.Model is null || string.IsNullOrEmpty(m.BaseModel))
            throw new InvalidDataException($"{path} is incomplete (no checkpoints, subset, model or base model); rebuild or re-import the zoo.");
        if (m.Subset.Problem() is { } subset)
            throw new InvalidDataException($"{path} is damaged: {subset}. Rebuild or re-import the zoo.");
        // Every file the manifest names stays inside the zoo folder (no absolute paths, no "..", no links out).
        foreach (var f in m.DataFiles()) OwnedFolder.Confine(dir, f, path);
        if (m.BaseManifest is { } b) OwnedFolder.Confine(dir, b, path);
        return new ZooTask(dir, m);
    }

    /// <summary>The zoo in <paramref name="dir"/>, or null when there is none or its manifest is unreadable.</summary>
    public static ZooTask? TryOpen(string dir)
    {
        try { return Open(dir); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>The folder holding the base model's training manifest (base.json) and weights; null when the zoo records none.</summary>
    public string? BaseFolder => Manifest.BaseManifest is { } b ? Path.GetDirectoryName(Path.GetFullPath(Path.Combine(Directory, b))) : null;

    /// <summary>
    /// The full path of a file the manifest names, checked to exist and, when the manifest records its hash,
    /// to have the same SHA-256 (a damaged or swapped file is refused, naming it and the fix).
    /// </summary>
    string Verified(string relative, string? sha256, string what)
    {
        var path = OwnedFolder.Confine(Directory, relative, Path.Combine(Directory, "manifest.json"));
        if (!File.Exists(path) && Rewritten())
            throw new FileNotFoundException($"The zoo at {Directory} was rewritten while it was being read ({relative} belonged to the zoo " +
                "before); open it again (ZooTask.Open) to read the new one.", path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"The zoo at {Directory} lacks its {what} {relative}; rebuild it (pdiff zoo build --out {Directory}) or re-import it.", path);
        if (sha256 is not null && !string.Equals(AtomicFile.Sha256(path), sha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{path} ({what}) does not match the SHA-256 in {Path.Combine(Directory, "manifest.json")}: it changed or was " +
                $"damaged after the zoo was written. Rebuild the zoo (pdiff zoo build ... --out {Directory}) or re-import it.");
        return path;
    }

    /// <summary>Whether manifest.json on disk is no longer the one this zoo was opened from (a writer swapped a new zoo in).</summary>
    bool Rewritten()
    {
        var now = TryOpen(Directory);
        return now is null || now.Manifest.Created != Manifest.Created || !now.Manifest.Checkpoints.Select(c => c.File).SequenceEqual(Manifest.Checkpoints.Select(c => c.File));
    }

    /// <summary>
    /// Checks that every file the manifest names is there and, where the manifest records a hash, unchanged
    /// (throws naming the first that is not, and how to rebuild). Returns how many files were hashed and the
    /// files whose hash the manifest does not record (zoos written before hashes), which were only found.
    /// </summary>
    public (int Hashed, IReadOnlyList<string> Unhashed) Verify()
    {
        var files = new List<(string File, string? Sha, string What)> { (Manifest.BaseModel, Manifest.BaseSha256, "base model") };
        if (Manifest.Model.Source is { } src && !Path.IsPathRooted(src)) files.Add((src, Manifest.SourceSha256, "TorchScript network"));
        files.AddRange(Manifest.Checkpoints.Select((c, k) => (c.File, c.Sha256, $"checkpoint {k}")));
        if (Manifest.Scores is { } sc) files.Add((sc, Manifest.ScoresSha256, "scores"));
        foreach (var (file, sha, what) in files) Verified(file, sha, what);
        return (files.Count(f => f.Sha is not null), files.Where(f => f.Sha is null).Select(f => f.File).ToList());
    }

    /// <summary>
    /// The checkpoints' scores on the recorded validation and test splits as the build measured them
    /// (<see cref="ZooScores"/>); null for zoos that keep none (older builds, imports, derived zoos).
    /// </summary>
    public (IReadOnlyList<ModelScore> Validation, IReadOnlyList<ModelScore> Test)? LoadScores()
    {
        if (Manifest.Scores is not { } file || Manifest.Data is not { } data) return null;
        return ZooScores.Load(Verified(file, Manifest.ScoresSha256, "scores"), K, data.Validation, data.Test);
    }

    /// <summary>The checkpoints as a matrix [K, N] float32, row k = checkpoint k in manifest order.</summary>
    public Tensor LoadMatrix()
    {
        var layout = Layout;
        if (K > 0) CheckFits(Path.Combine(Directory, Manifest.Checkpoints[0].File), layout);
        var matrix = torch.empty(new[] { K, layout.Length }, ScalarType.Float32);
        try
        {
            for (var k = 0; k < K; k++)
            {
                using var row = matrix.select(0, k);
                var c = Manifest.Checkpoints[k];
                ReadInto(Verified(c.File, c.Sha256, $"checkpoint {k}"), layout, row);
            }
            return matrix;
        }
        catch
        {
            matrix.Dispose();
            throw;
        }
    }

    /// <summary>One checkpoint file as a vector [N], checked against the layout (names and shapes).</summary>
    public static Tensor ReadCheckpoint(string path, SubsetLayout layout)
    {
        CheckFits(path, layout);
        var vector = torch.empty(new[] { layout.Length }, ScalarType.Float32);
        try
        {
            ReadInto(path, layout, vector);
            return vector;
        }
        catch
        {
            vector.Dispose();
            throw;
        }
    }

    // Memory is sized from the manifest's subset before any checkpoint is read: a checkpoint file holds at least a
    // byte a number, so a length no file here could hold is refused before the allocation, not by libtorch after it.
    static void CheckFits(string path, SubsetLayout layout)
    {
        if (File.Exists(path) && new FileInfo(path).Length < layout.Length)
            throw new InvalidDataException($"{path} holds {new FileInfo(path).Length} bytes, too few for the {layout.Length} numbers the zoo's manifest " +
                "says each checkpoint holds: the manifest or the file is damaged. Rebuild or re-import the zoo.");
    }

    // Each tensor is copied (and cast) straight into its slice of the destination: no per-file concatenation.
    static void ReadInto(string path, SubsetLayout layout, Tensor destination)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Zoo checkpoint missing: {path}", path);
        using var content = Safetensors.LoadParameters(path);
        var names = layout.Tensors.Select(t => t.Name).ToHashSet();
        var extra = content.Tensors.Keys.Where(k => !names.Contains(k)).ToList();
        if (extra.Count > 0) throw new InvalidDataException($"{path} holds tensors the subset does not name: [{string.Join(", ", extra)}].");
        var offsets = layout.Offsets();
        for (var i = 0; i < layout.Tensors.Count; i++)
        {
            var spec = layout.Tensors[i];
            if (!content.Tensors.TryGetValue(spec.Name, out var t)) throw new InvalidDataException($"{path} lacks the subset tensor '{spec.Name}'.");
            if (!t.shape.SequenceEqual(spec.Shape))
                throw new InvalidDataException($"{path}: '{spec.Name}' has shape [{string.Join(", ", t.shape)}], the manifest says [{string.Join(", ", spec.Shape)}].");
            using var slot = destination.narrow(0, offsets[i], spec.Numel);
            using var flat = t.reshape(-1);
            slot.copy_(flat);
        }
    }

    /// <summary>
    /// The manifest's model spec with a relative <see cref="ModelSpec.Source"/> (a TorchScript file stored in the
    /// zoo) made absolute against this folder: the spec that rebuilds the network from anywhere.
    /// </summary>
    public ModelSpec Spec => Manifest.Model.Source is { } src && !Path.IsPathRooted(src)
        ? Manifest.Model with { Source = Path.GetFullPath(Path.Combine(Directory, src)) }
        : Manifest.Model;

    /// <summary>
    /// The fixed base model, in eval mode, rebuilt from this folder: a shipped architecture, the zoo's
    /// TorchScript file, or a class registered in this process (<see cref="ModelRegistry.Register"/>); an
    /// architecture this process does not know is an error saying how to register it.
    /// </summary>
    public nn.Module<Tensor, Tensor> LoadBaseModel()
    {
        var arch = Manifest.Model.Arch;
        if (!ModelRegistry.IsKnown(arch))
            throw new InvalidOperationException(
                $"The zoo at {Directory} was made with the architecture '{arch}', which is not registered in this process. It is a user's own " +
                $"TorchSharp class: register it before opening the zoo, e.g. ModelRegistry.Register(\"{arch}\", (spec, gen) => new MyNet()) " +
                "in a notebook cell or your program (parameter names must be those of the checkpoints). The pdiff CLI knows only the shipped " +
                "architectures and TorchScript files: to use it, export the network with torch.jit.script(model).save(\"model.pt\") and import " +
                "the checkpoints with `pdiff zoo import --torchscript model.pt ...`.");
        var spec = Spec;
        if (spec.Arch == ModelSpec.TorchScript && !File.Exists(spec.Source))
            throw new FileNotFoundException($"The zoo at {Directory} needs its TorchScript network {Manifest.Model.Source}, which is missing; " +
                "re-import the checkpoints (pdiff zoo import --torchscript ...) to restore it.", spec.Source);
        if (Manifest.Model.Source is { } src && !Path.IsPathRooted(src)) Verified(src, Manifest.SourceSha256, "TorchScript network");
        return BaseModels.Load(Verified(Manifest.BaseModel, Manifest.BaseSha256, "base model"), spec);
    }

    /// <summary>
    /// Every checkpoint's accuracy (and wrong set) on <paramref name="images"/>, through the cached scorer on the
    /// base model rebuilt from this folder: how an imported zoo is checked against numbers its author computed
    /// on images of their own (scaled as the network expects, e.g. b/255 for <c>Input = "unit"</c>).
    /// </summary>
    public IReadOnlyList<ModelScore> ScoreCheckpoints(LabeledImages images)
    {
        using var model = LoadBaseModel();
        using var matrix = LoadMatrix();
        using var scorer = new CachedScorer(model, Layout, images, images);
        return scorer.Score(matrix, EvalSplit.Validation);
    }

    /// <summary>Rebuilds the data split recorded in the manifest (same seeds, sizes and normalisation).</summary>
    public DataSplits LoadData(string? dataDirectory = null)
    {
        if (Manifest.Data is null) throw new InvalidOperationException($"The zoo at {Directory} records no data split (imported without --dataset); pass the data yourself.");
        var options = (Manifest.DataOptions ?? new DataOptions()) with { Directory = dataDirectory ?? Manifest.DataOptions?.Directory, Normalization = Manifest.Data.Normalization };
        var data = Datasets.Load(Manifest.Dataset, Manifest.Data.Seed, options);
        if (data.Info.Fingerprint != Manifest.Data.Fingerprint)
        {
            data.Dispose();
            throw new InvalidDataException($"The data split rebuilt for {Directory} differs from the recorded one (fingerprint {Manifest.Data.Fingerprint}); the dataset files changed.");
        }
        return data;
    }
}

public static class ZooStore
{
    /// <summary>
    /// Writes vectors made from <paramref name="from"/>'s zoo (generated by p-diff, or a baseline) as a zoo
    /// folder of their own: the same base model (copied, so the folder stands alone), subset, data split
    /// and profile, no collection recipe, <paramref name="source"/> saying where they came from, and the
    /// accuracies when known (NaN otherwise). Every tool that reads a zoo (<c>pdiff zoo info</c>, scoring,
    /// training p-diff on it, loading a row into a network) then reads these too. Written through
    /// <see cref="ZooWriter"/>: a folder that is not ours is refused unless <paramref name="force"/>.
    /// <paramref name="scores"/> (both splits' wrong sets, when the caller scored the vectors) are kept with the zoo and give
    /// its accuracies; <paramref name="seconds"/> what making the vectors cost.
    /// </summary>
    public static ZooTask SaveDerived(ZooTask from, string dir, Tensor vectors, string source,
        IReadOnlyList<double>? valAccuracy = null, IReadOnlyList<double>? testAccuracy = null, bool force = false,
        (IReadOnlyList<ModelScore> Validation, IReadOnlyList<ModelScore> Test)? scores = null, IReadOnlyDictionary<string, double>? seconds = null)
    {
        if (scores is { } sc)
        {
            if (valAccuracy is not null || testAccuracy is not null)
                throw new ArgumentException("ZooStore.SaveDerived: pass the accuracies or the scores, not both (the scores give the accuracies).");
            (valAccuracy, testAccuracy) = (sc.Validation.Select(x => x.Accuracy).ToList(), sc.Test.Select(x => x.Accuracy).ToList());
        }
        var n = vectors.dim() == 2 ? (int)vectors.size(0) : throw new ArgumentException(
            $"ZooStore.SaveDerived: vectors must be [count, {from.Layout.Length}]; got [{string.Join(", ", vectors.shape)}].", nameof(vectors));
        if (valAccuracy is { } v && v.Count != n || testAccuracy is { } t && t.Count != n)
            throw new ArgumentException($"ZooStore.SaveDerived: {n} vectors but {valAccuracy?.Count} validation and {testAccuracy?.Count} test accuracies.");
        if (SameFolder(dir, from.Directory))
            throw new ArgumentException($"ZooStore.SaveDerived: {dir} is the source zoo's own folder; choose another.", nameof(dir));
        using var writer = ZooWriter.Begin(dir, force, keepStaged: false);
        AtomicFile.Copy(from.BaseModelPath, writer.Staged("base.safetensors"));
        var m = from.Manifest;
        // A network file stored in the source zoo (TorchScript) travels with it, under its file name (the revision folder is the writer's).
        var model = m.Model;
        if (m.Model.Source is { } src && !Path.IsPathRooted(src))
        {
            model = m.Model with { Source = Path.GetFileName(src) };
            AtomicFile.Copy(OwnedFolder.Confine(from.Directory, src, "the source zoo's manifest"), writer.Staged(model.Source!));
        }
        var checkpoints = Enumerable.Range(0, n).Select(i => new CheckpointRecord(i, CheckpointFile(i), 0, double.NaN,
            valAccuracy?[i] ?? double.NaN, testAccuracy?[i] ?? double.NaN, source)).ToList();
        var manifest = m with
        {
            Model = model, BaseModel = "base.safetensors", BaseManifest = null, Recipe = null, Source = source,
            Checkpoints = checkpoints,
            Validation = valAccuracy is null ? null : AccuracyStats.Of(valAccuracy.ToList()),
            Test = testAccuracy is null ? null : AccuracyStats.Of(testAccuracy.ToList()),
            Seconds = seconds ?? new Dictionary<string, double>(), CutStage = null,
            Torch = torch.__version__, Threads = torch.get_num_threads(),
            Created = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
        };
        return writer.Commit(manifest, vectors, scores);
    }

    /// <summary>Whether two paths name the same folder (full paths, a trailing separator ignored).</summary>
    public static bool SameFolder(string a, string b) =>
        Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)) == Path.TrimEndingDirectorySeparator(Path.GetFullPath(b));

    public static string CheckpointFile(int k) => $"checkpoints/{k:0000}.safetensors";

    /// <summary>The sub-folder where p-diff trainings on this zoo's vectors are cached.</summary>
    public const string TrainedModelsFolder = "pdiff";

    public static string TaskName(string dataset, string arch, string subset) =>
        $"{dataset}_{arch}_{string.Concat(subset.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '_'))}";
}
