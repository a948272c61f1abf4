using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Nn;

/// <summary>y = x·Wᵀ + b, W [out, in]; PyTorch's default init.</summary>
public sealed class Linear : Module
{
    public long InFeatures { get; }
    public long OutFeatures { get; }

    public Linear(long inFeatures, long outFeatures, Generator gen, bool bias = true)
    {
        (InFeatures, OutFeatures) = (inFeatures, outFeatures);
        var w = RegisterParameter("weight", torch.empty(new[] { outFeatures, inFeatures }))!;
        Init.UniformFanIn(w, inFeatures, gen);
        if (bias) Init.UniformFanIn(RegisterParameter("bias", torch.empty(new[] { outFeatures }))!, inFeatures, gen);
        else RegisterParameter("bias", null);
    }

    public Tensor weight => Param("weight")!;
    public Tensor? bias => Param("bias");
    public override Tensor forward(Tensor x) => F.linear(x, weight, bias);
}

/// <summary>A lookup table [num, dim], initialised N(0, 1) as in PyTorch.</summary>
public sealed class Embedding : Module
{
    public Embedding(long num, long dim, Generator gen) =>
        Init.Normal(RegisterParameter("weight", torch.empty(new[] { num, dim }))!, 0, 1, gen);

    public Tensor weight => Param("weight")!;
    public override Tensor forward(Tensor indices) => F.embedding(indices, weight);
}
