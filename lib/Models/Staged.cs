using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// What flows between two <see cref="Stage"/>s: the main activation and, inside a residual block, the
/// block input kept for the skip path. Owns its handles (a stage that passes a tensor through hands on
/// an <c>alias()</c>), so every activation can be disposed independently.
/// </summary>
public sealed class Activations : IDisposable
{
    public Activations(Tensor main, Tensor? skip = null) => (Main, Skip) = (main, skip);

    public Tensor Main { get; }
    public Tensor? Skip { get; }
    public long Batch => Main.size(0);

    /// <summary>Rows start..start+length of both tensors (views).</summary>
    public Activations Narrow(long start, long length) => new(Main.narrow(0, start, length), Skip?.narrow(0, start, length));

    /// <summary>The rows <paramref name="index"/> (int64) of both tensors.</summary>
    public Activations Rows(Tensor index) => new(Main.index_select(0, index), Skip?.index_select(0, index));

    /// <summary>Concatenates along the batch dimension; all parts must agree on having a skip tensor.</summary>
    public static Activations Cat(IReadOnlyList<Activations> parts)
    {
        if (parts.Count == 1) return new(parts[0].Main.alias(), parts[0].Skip?.alias());
        var hasSkip = parts[0].Skip is not null;
        if (parts.Any(p => p.Skip is not null != hasSkip)) throw new ArgumentException("Activations.Cat: some parts carry a skip tensor and some do not.");
        return new(torch.cat(parts.Select(p => p.Main).ToList(), 0), hasSkip ? torch.cat(parts.Select(p => p.Skip!).ToList(), 0) : null);
    }

    /// <summary>Detached contiguous copies that belong to no dispose scope (for caches that outlive a step).</summary>
    public Activations DetachedCopy()
    {
        static Tensor Copy(Tensor t)
        {
            using var d = t.detach();
            using var c = d.contiguous();
            return c.clone().DetachFromDisposeScope();
        }
        return new(Copy(Main), Skip is null ? null : Copy(Skip));
    }

    /// <summary>Bytes held by the two tensors.</summary>
    public long Bytes => Main.numel() * Main.element_size() + (Skip is null ? 0 : Skip.numel() * Skip.element_size());

    public void Dispose()
    {
        Main.Dispose();
        Skip?.Dispose();
    }
}

/// <summary>
/// One step of a network's forward pass. <see cref="Uses"/> names the modules or tensors it reads
/// (dotted names; a name covers everything below it), so callers can find the first step that touches
/// a parameter subset: everything before it is independent of the subset and can be computed once.
/// <see cref="Run"/> must not dispose its input.
/// </summary>
public sealed record Stage(string Name, IReadOnlyList<string> Uses, Func<Activations, Activations> Run)
{
    public bool Touches(string tensorName) =>
        Uses.Any(u => tensorName == u || tensorName.StartsWith(u + ".", StringComparison.Ordinal));
}

/// <summary>
/// Running a network as a list of stages. Our classifiers declare theirs (<see cref="ImageClassifier.Stages"/>);
/// any other module (a user's class, a TorchScript file) is one stage that reads every tensor, so code
/// written against stages (the cached scorer, collection) works on it too, without the prefix cache.
/// </summary>
public static class StagePlan
{
    /// <summary>The model's stages: its declared ones, or its whole forward pass as one.</summary>
    public static IReadOnlyList<Stage> Of(nn.Module<Tensor, Tensor> model) =>
        model is ImageClassifier c ? c.Stages : new[] { Whole(model) };

    /// <summary>The whole forward pass as one stage that reads every parameter and buffer.</summary>
    public static Stage Whole(nn.Module<Tensor, Tensor> model) =>
        new("forward", ModuleTree.StateDict(model).Select(kv => kv.Key).ToList(), a => new Activations(model.forward(a.Main)));

    /// <summary>Runs stages [from, to) on <paramref name="input"/> (not disposed), freeing intermediates as it goes.</summary>
    public static Activations Run(IReadOnlyList<Stage> stages, Activations input, int from, int to, string owner = "the model")
    {
        if (from < 0 || to > stages.Count || from > to)
            throw new ArgumentOutOfRangeException(nameof(from), $"Stages [{from}, {to}) do not lie within the {stages.Count} stages of {owner}.");
        if (from == to) return new Activations(input.Main.alias(), input.Skip?.alias());
        var a = stages[from].Run(input);
        for (var i = from + 1; i < to; i++)
        {
            var next = stages[i].Run(a);
            a.Dispose();
            a = next;
        }
        return a;
    }

    /// <summary>Index of the first stage that reads any of <paramref name="tensorNames"/>.</summary>
    public static int FirstTouching(IReadOnlyList<Stage> stages, IEnumerable<string> tensorNames, string owner = "the model")
    {
        var names = tensorNames.ToList();
        for (var i = 0; i < stages.Count; i++)
            if (names.Any(stages[i].Touches)) return i;
        throw new ArgumentException($"No stage of {owner} reads any of [{string.Join(", ", names)}].");
    }

    /// <summary>
    /// Runs stages [0, <paramref name="cut"/>) over all of <paramref name="x"/> in batches, without a graph,
    /// and returns the concatenated activations (owned by no scope): the frozen-layer cache shared by scoring
    /// and collection. With <paramref name="inference"/> the work runs in inference mode (faster, but the
    /// result may then never enter an autograd graph).
    /// </summary>
    public static Activations Precompute(IReadOnlyList<Stage> stages, Tensor x, int cut, long batch, bool inference = false, string owner = "the model")
    {
        if (cut == 0) return new Activations(x.alias().DetachFromDisposeScope()); // nothing frozen before the subset: the input itself
        var parts = new List<Activations>();
        try
        {
            using (inference ? torch.inference_mode() : torch.no_grad())
            {
                for (long s = 0, n = x.size(0); s < n; s += batch)
                {
                    using var scope = torch.NewDisposeScope();
                    using var input = new Activations(x.narrow(0, s, Math.Min(batch, n - s)));
                    using var head = Run(stages, input, 0, cut, owner);
                    parts.Add(head.DetachedCopy());
                }
                if (parts.Count == 1) { var only = parts[0]; parts.Clear(); return only; }
                var all = Activations.Cat(parts);
                return new Activations(all.Main.DetachFromDisposeScope(), all.Skip?.DetachFromDisposeScope());
            }
        }
        finally
        {
            parts.ForEach(p => p.Dispose());
        }
    }
}

/// <summary>
/// A classifier of [N, C, H, W] images whose forward pass is the composition of its <see cref="Stages"/>,
/// with parameter names following PyTorch so that subsets read like the paper's (<c>layer4.1.bn1.weight</c>).
/// Because <see cref="forward"/> is literally the stages run in order, running a prefix once and the rest
/// many times gives the same numbers as the full pass.
/// </summary>
public abstract class ImageClassifier : nn.Module<Tensor, Tensor>
{
    List<Stage>? stages;

    protected ImageClassifier(string name, ModelSpec spec) : base(name) => Spec = spec;

    /// <summary>The (complete, defaults filled in) specification that rebuilds this network.</summary>
    public ModelSpec Spec { get; }

    public IReadOnlyList<Stage> Stages => stages ??= BuildStages().ToList();

    protected abstract IEnumerable<Stage> BuildStages();

    /// <summary>Module name of the final linear layer (the <c>classifier</c> subset).</summary>
    public virtual string ClassifierModule => ModelAnatomy.ClassifierModule(this);

    /// <summary>Module name of the first layer that sees the image (the <c>first-conv</c> subset).</summary>
    public virtual string FirstLayerModule => ModelAnatomy.FirstLayerModule(this);

    /// <summary>Architecture-specific named subsets (module names), e.g. the paper's ResNet-18 BN locations.</summary>
    public virtual IReadOnlyDictionary<string, string[]> ExtraPresets => new Dictionary<string, string[]>();

    public override Tensor forward(Tensor x)
    {
        using var input = new Activations(x.alias());
        using var output = RunStages(input, 0, Stages.Count);
        return output.Main.alias();
    }

    /// <summary>Runs stages [from, to) on <paramref name="input"/> (not disposed), freeing intermediates as it goes.</summary>
    public Activations RunStages(Activations input, int from, int to) => StagePlan.Run(Stages, input, from, to, Spec.Arch);

    /// <summary>Stages [0, <paramref name="cut"/>) over all of <paramref name="x"/> in batches, without a graph (see <see cref="StagePlan.Precompute"/>).</summary>
    public Activations PrecomputeStages(Tensor x, int cut, long batch) => StagePlan.Precompute(Stages, x, cut, batch, owner: Spec.Arch);

    /// <summary>Index of the first stage that reads any of <paramref name="tensorNames"/>.</summary>
    public int FirstStageTouching(IEnumerable<string> tensorNames) => StagePlan.FirstTouching(Stages, tensorNames, Spec.Arch);

    /// <summary>Modules with affine normalisation parameters, in forward order (registration order).</summary>
    public IReadOnlyList<string> NormModules() => ModelAnatomy.NormModules(this);

    /// <summary>Number of parameter elements (optionally only those that require grad).</summary>
    public long parameter_count(bool trainableOnly = false) => ModuleTree.ParameterCount(this, trainableOnly);

    public override string ToString() => $"{Spec} ({parameter_count():N0} parameters)";
}
