using System.Globalization;
using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Data;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// A zoo task on disk:
/// <code>
/// &lt;dir&gt;/manifest.json                 what, how, seeds, per-checkpoint accuracies
/// &lt;dir&gt;/base.safetensors              the fixed base model (full state dict)
/// &lt;dir&gt;/base.json                     its training manifest (when trained here)
/// &lt;dir&gt;/checkpoints/0000.safetensors  checkpoint k: the subset tensors by name
/// &lt;dir&gt;/model.pt                      a TorchScript network, when the spec names one (relative Source)
/// </code>
/// Checkpoints keep the reference's per-checkpoint-file form (tensors by name, so any tool can read one)
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
        return new ZooTask(dir, m);
    }

    /// <summary>The checkpoints as a matrix [K, N] float32, row k = checkpoint k in manifest order.</summary>
    public Tensor LoadMatrix()
    {
        var layout = Layout;
        var matrix = torch.empty(new[] { K, layout.Length }, ScalarType.Float32);
        try
        {
            for (var k = 0; k < K; k++)
            {
                using var row = matrix.select(0, k);
                ReadInto(Path.Combine(Directory, Manifest.Checkpoints[k].File), layout, row);
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

    // Each tensor is copied (and cast) straight into its slice of the destination: no per-file concatenation.
    static void ReadInto(string path, SubsetLayout layout, Tensor destination)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Zoo checkpoint missing: {path}", path);
        using var content = Safetensors.Load(path);
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
        return BaseModels.Load(BaseModelPath, spec);
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
    /// Writes a task folder: the checkpoints (row k of <paramref name="vectors"/> to checkpoints/kkkk.safetensors),
    /// then the manifest (last, so a folder with a manifest is complete). The base model file must already
    /// be in <paramref name="dir"/> under <see cref="ZooManifest.BaseModel"/>.
    /// </summary>
    public static ZooTask Save(string dir, ZooManifest manifest, Tensor vectors)
    {
        var layout = manifest.Subset.Layout();
        if (vectors.dim() != 2 || vectors.size(0) != manifest.K || vectors.size(1) != layout.Length)
            throw new ArgumentException($"ZooStore.Save: vectors are [{string.Join(", ", vectors.shape)}] but the manifest lists {manifest.K} checkpoints of {layout.Length} numbers.");
        if (!File.Exists(Path.Combine(dir, manifest.BaseModel)))
            throw new FileNotFoundException($"ZooStore.Save: the base model {manifest.BaseModel} is not in {dir}; write it first (BaseModels.SaveWeights).");
        // p-diff trainings cached beside the old vectors (Workbench.TrainedModelDir, <dir>/pdiff/) belong to them.
        var trained = Path.Combine(dir, TrainedModelsFolder);
        if (System.IO.Directory.Exists(trained)) System.IO.Directory.Delete(trained, true);
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "checkpoints"));
        var offsets = layout.Offsets();
        for (var k = 0; k < manifest.K; k++)
        {
            using var scope = torch.NewDisposeScope();
            var row = vectors.select(0, k);
            var dict = new Dictionary<string, Tensor>();
            for (var i = 0; i < layout.Tensors.Count; i++)
                dict[layout.Tensors[i].Name] = row.narrow(0, offsets[i], layout.Tensors[i].Numel).reshape(layout.Tensors[i].Shape).contiguous();
            Safetensors.Save(Path.Combine(dir, manifest.Checkpoints[k].File), dict, new Dictionary<string, string>
            {
                ["pdiff.task"] = manifest.Task,
                ["pdiff.index"] = k.ToString(CultureInfo.InvariantCulture),
            });
        }
        File.WriteAllText(Path.Combine(dir, "manifest.json"), JsonSerializer.Serialize(manifest, BaseModels.Json));
        return ZooTask.Open(dir);
    }

    /// <summary>
    /// Writes vectors made from <paramref name="from"/>'s zoo (generated by p-diff, or a baseline) as a zoo
    /// folder of their own: the same base model (copied, so the folder stands alone), subset, data split
    /// and profile, no collection recipe, <paramref name="source"/> saying where they came from, and the
    /// accuracies when known (NaN otherwise). Every tool that reads a zoo (<c>pdiff zoo info</c>, scoring,
    /// training p-diff on it, loading a row into a network) then reads these too.
    /// </summary>
    public static ZooTask SaveDerived(ZooTask from, string dir, Tensor vectors, string source,
        IReadOnlyList<double>? valAccuracy = null, IReadOnlyList<double>? testAccuracy = null)
    {
        var n = vectors.dim() == 2 ? (int)vectors.size(0) : throw new ArgumentException(
            $"ZooStore.SaveDerived: vectors must be [count, {from.Layout.Length}]; got [{string.Join(", ", vectors.shape)}].", nameof(vectors));
        if (valAccuracy is { } v && v.Count != n || testAccuracy is { } t && t.Count != n)
            throw new ArgumentException($"ZooStore.SaveDerived: {n} vectors but {valAccuracy?.Count} validation and {testAccuracy?.Count} test accuracies.");
        if (Path.GetFullPath(dir) == Path.GetFullPath(from.Directory))
            throw new ArgumentException($"ZooStore.SaveDerived: {dir} is the source zoo's own folder; choose another.", nameof(dir));
        System.IO.Directory.CreateDirectory(dir);
        File.Copy(from.BaseModelPath, Path.Combine(dir, "base.safetensors"), overwrite: true);
        var m = from.Manifest;
        // A network file stored in the source zoo (TorchScript) travels with it, at the same relative path.
        if (m.Model.Source is { } src && !Path.IsPathRooted(src))
        {
            var target = Path.Combine(dir, src);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
            File.Copy(Path.Combine(from.Directory, src), target, overwrite: true);
        }
        var checkpoints = Enumerable.Range(0, n).Select(i => new CheckpointRecord(i, CheckpointFile(i), 0, double.NaN,
            valAccuracy?[i] ?? double.NaN, testAccuracy?[i] ?? double.NaN, source)).ToList();
        var manifest = m with
        {
            BaseModel = "base.safetensors", BaseManifest = null, Recipe = null, Source = source,
            Checkpoints = checkpoints,
            Validation = valAccuracy is null ? null : AccuracyStats.Of(valAccuracy.ToList()),
            Test = testAccuracy is null ? null : AccuracyStats.Of(testAccuracy.ToList()),
            Seconds = new Dictionary<string, double>(), CutStage = null,
            Torch = torch.__version__, Threads = torch.get_num_threads(),
            Created = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
        };
        var cps = Path.Combine(dir, "checkpoints");
        if (System.IO.Directory.Exists(cps))
            foreach (var f in System.IO.Directory.GetFiles(cps, "*.safetensors")) File.Delete(f);   // a smaller rewrite leaves no strays
        return Save(dir, manifest, vectors);
    }

    public static string CheckpointFile(int k) => $"checkpoints/{k:0000}.safetensors";

    /// <summary>The sub-folder where p-diff trainings on this zoo's vectors are cached.</summary>
    public const string TrainedModelsFolder = "pdiff";

    public static string TaskName(string dataset, string arch, string subset) =>
        $"{dataset}_{arch}_{string.Concat(subset.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '_'))}";
}
