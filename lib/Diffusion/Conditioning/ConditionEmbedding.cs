using PDiff.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Diffusion;

/// <summary>
/// The embedding of a scalar condition (a z-scored validation accuracy) for a denoiser: Linear(1 → D) → SiLU →
/// Linear(D → D), the same shape as the time MLP it is added to, plus one learned "null" vector [D] that stands
/// for "no condition" (classifier-free guidance: training drops the condition with probability p and uses
/// this vector instead, so one network predicts both ε(x, t, c) and ε(x, t, ∅)). The null vector starts at
/// zero: an untrained null embedding adds nothing to the time embedding.
/// </summary>
public sealed class ConditionEmbedding : nn.Module<Tensor, Tensor>
{
    readonly Linear mlp1, mlp2;
    readonly Parameter nullEmbedding;

    public ConditionEmbedding(long size, Generator gen) : base(nameof(ConditionEmbedding))
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "The condition embedding needs at least one value.");
        Size = size;
        mlp1 = Layers.Linear(1, size, gen);
        mlp2 = Layers.Linear(size, size, gen);
        nullEmbedding = new Parameter(zeros(size));
        register_module("mlp1", mlp1);
        register_module("mlp2", mlp2);
        register_parameter("null", nullEmbedding);
    }

    public long Size { get; }

    // Registered by hand above (TorchSharp's reflective registration would add the fields again under their C# names).
    protected override void RegisterComponents() { }

    /// <summary>Embeddings [B, D] of conditions z [B] (float).</summary>
    public override Tensor forward(Tensor z) => Embed(z, null, z.size(0));

    /// <summary>
    /// Embeddings [B, D]: MLP(z) where <paramref name="keep"/> is true, the null vector elsewhere; every row the
    /// null vector when <paramref name="z"/> is null. <paramref name="batch"/> is B (checked against z and keep).
    /// </summary>
    public Tensor Embed(Tensor? z, Tensor? keep, long batch)
    {
        using var scope = NewDisposeScope();
        var none = nullEmbedding.unsqueeze(0).expand(batch, Size);
        if (z is null) return none.contiguous().MoveToOuterDisposeScope();
        if (z.dim() != 1 || z.size(0) != batch)
            throw new ArgumentException($"ConditionEmbedding: expected one condition per latent, [{batch}]; got [{string.Join(", ", z.shape)}].", "condition");
        if (!z.is_floating_point())
            throw new ArgumentException($"ConditionEmbedding: conditions must be floating point; got {z.dtype}.", "condition");
        var x = z.to(mlp1.weight!.dtype).unsqueeze(1);
        var e = mlp2.forward(F.silu(mlp1.forward(x)));
        if (keep is not null)
        {
            if (keep.dim() != 1 || keep.size(0) != batch || keep.dtype != ScalarType.Bool)
                throw new ArgumentException($"ConditionEmbedding: expected a bool keep-mask [{batch}]; got [{string.Join(", ", keep.shape)}] {keep.dtype}.", nameof(keep));
            e = where(keep.unsqueeze(1), e, none);
        }
        return e.MoveToOuterDisposeScope();
    }
}
