using PDiff.Nn;
using PDiff.Torch;

namespace PDiff.Models;

/// <summary>
/// What flows between two <see cref="Stage"/>s: the main activation and, inside a residual block, the
/// block input kept for the skip path. Owns its handles (a stage that passes a tensor through hands on
/// an <see cref="Tensor.alias"/>), so every activation can be disposed independently.
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
        return new(torch.cat(parts.Select(p => p.Main).ToList()), hasSkip ? torch.cat(parts.Select(p => p.Skip!).ToList()) : null);
    }

    /// <summary>Detached copies that belong to no dispose scope (for caches that outlive a step).</summary>
    public Activations DetachedCopy()
    {
        Tensor Copy(Tensor t) { using var d = t.detach(); return d.contiguous().DetachFromDisposeScope(); }
        return new(Copy(Main), Skip is null ? null : Copy(Skip));
    }

    /// <summary>Bytes held by the two tensors (float32).</summary>
    public long Bytes => 4 * (Main.numel() + (Skip?.numel() ?? 0));

    public void Dispose()
    {
        Main.Dispose();
        Skip?.Dispose();
    }
}

/// <summary>
/// One step of a network's forward pass. <see cref="Uses"/> names the modules or parameters it reads
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
/// A classifier of [N, C, H, W] images whose forward pass is the composition of its <see cref="Stages"/>,
/// with parameter names following PyTorch so that subsets read like the paper's (<c>layer4.1.bn1.weight</c>).
/// Because <see cref="forward"/> is literally the stages run in order, running a prefix once and the rest
/// many times gives the same numbers as the full pass.
/// </summary>
public abstract class ImageClassifier : Module
{
    List<Stage>? stages;

    protected ImageClassifier(ModelSpec spec) => Spec = spec;

    /// <summary>The (complete, defaults filled in) specification that rebuilds this network.</summary>
    public ModelSpec Spec { get; }

    public IReadOnlyList<Stage> Stages => stages ??= BuildStages().ToList();

    protected abstract IEnumerable<Stage> BuildStages();

    /// <summary>Module name of the final linear layer (the <c>classifier</c> subset).</summary>
    public abstract string ClassifierModule { get; }

    /// <summary>Module name of the first layer that sees the image (the <c>first-conv</c> subset).</summary>
    public abstract string FirstLayerModule { get; }

    /// <summary>Architecture-specific named subsets (module names), e.g. the paper's ResNet-18 BN locations.</summary>
    public virtual IReadOnlyDictionary<string, string[]> ExtraPresets => new Dictionary<string, string[]>();

    public override Tensor forward(Tensor x)
    {
        using var input = new Activations(x.alias());
        using var output = RunStages(input, 0, Stages.Count);
        return output.Main.alias();
    }

    /// <summary>
    /// Runs stages [from, to) on <paramref name="input"/> (not disposed), freeing intermediates as it goes.
    /// </summary>
    /// <summary>
    /// Runs stages [0, <paramref name="cut"/>) over all of <paramref name="x"/> in batches, without a graph, and
    /// returns the concatenated activations: the frozen-layer cache shared by scoring and collection.
    /// </summary>
    public Activations PrecomputeStages(Tensor x, int cut, long batch)
    {
        var parts = new List<Activations>();
        try
        {
            using (torch.no_grad())
                for (long s = 0, n = x.size(0); s < n; s += batch)
                {
                    using var chunk = x.narrow(0, s, Math.Min(batch, n - s));
                    using var input = new Activations(chunk.alias());
                    using var head = RunStages(input, 0, cut);
                    parts.Add(head.DetachedCopy());
                }
            using var all = Activations.Cat(parts);
            return all.DetachedCopy();
        }
        finally
        {
            parts.ForEach(p => p.Dispose());
        }
    }

    public Activations RunStages(Activations input, int from, int to)
    {
        if (from < 0 || to > Stages.Count || from > to)
            throw new ArgumentOutOfRangeException(nameof(from), $"Stages [{from}, {to}) do not lie within the {Stages.Count} stages of {Spec.Arch}.");
        if (from == to) return new Activations(input.Main.alias(), input.Skip?.alias());
        var a = Stages[from].Run(input);
        for (var i = from + 1; i < to; i++)
        {
            var next = Stages[i].Run(a);
            a.Dispose();
            a = next;
        }
        return a;
    }

    /// <summary>Index of the first stage that reads any of <paramref name="tensorNames"/>.</summary>
    public int FirstStageTouching(IEnumerable<string> tensorNames)
    {
        var names = tensorNames.ToList();
        for (var i = 0; i < Stages.Count; i++)
            if (names.Any(Stages[i].Touches)) return i;
        throw new ArgumentException($"No stage of {Spec.Arch} reads any of [{string.Join(", ", names)}].");
    }

    /// <summary>Modules with affine normalisation parameters, in forward order (registration order).</summary>
    public IReadOnlyList<string> NormModules() => named_modules()
        .Where(m => m.Module is BatchNormBase or LayerNorm or GroupNorm && m.Module.named_parameters().Any())
        .Select(m => m.Name).ToList();
}
