using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Nn;

/// <summary>
/// Batch normalisation with PyTorch's semantics (eps 1e-5, momentum 0.1): training mode normalises with
/// the biased batch variance and updates running_mean/running_var (unbiased) and num_batches_tracked;
/// eval mode uses the running statistics.
/// </summary>
public abstract class BatchNormBase : Module
{
    public long NumFeatures { get; }
    public double Eps { get; }
    public double Momentum { get; }
    readonly int[] acceptedDims;

    protected BatchNormBase(long numFeatures, double eps, double momentum, bool affine, bool trackRunningStats, params int[] acceptedDims)
    {
        (NumFeatures, Eps, Momentum, this.acceptedDims) = (numFeatures, eps, momentum, acceptedDims);
        RegisterParameter("weight", affine ? torch.ones(new[] { numFeatures }) : null);
        RegisterParameter("bias", affine ? torch.zeros(new[] { numFeatures }) : null);
        RegisterBuffer("running_mean", trackRunningStats ? torch.zeros(new[] { numFeatures }) : null);
        RegisterBuffer("running_var", trackRunningStats ? torch.ones(new[] { numFeatures }) : null);
        RegisterBuffer("num_batches_tracked", trackRunningStats ? torch.zeros(new long[] { }, ScalarType.Int64) : null);
    }

    public Tensor? weight => Param("weight");
    public Tensor? bias => Param("bias");
    public Tensor? running_mean => Buffer("running_mean");
    public Tensor? running_var => Buffer("running_var");
    public Tensor? num_batches_tracked => Buffer("num_batches_tracked");

    public override Tensor forward(Tensor x)
    {
        var d = x.dim();
        if (!acceptedDims.Contains(d) || x.size(1) != NumFeatures)
            throw new ArgumentException($"{GetType().Name}({NumFeatures}) expects a {string.Join(" or ", acceptedDims)}-D input with {NumFeatures} channels in dim 1; got [{string.Join(", ", x.shape)}].");
        var useBatchStats = training || running_mean is null;
        if (training && num_batches_tracked is { } n)
            using (torch.no_grad()) n.add_(1);
        return F.batch_norm(x, running_mean, running_var, weight, bias, useBatchStats, Momentum, Eps);
    }
}

/// <summary>BatchNorm over [N, C] or [N, C, L].</summary>
public sealed class BatchNorm1d : BatchNormBase
{
    public BatchNorm1d(long numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats, 2, 3) { }
}

/// <summary>BatchNorm over [N, C, H, W].</summary>
public sealed class BatchNorm2d : BatchNormBase
{
    public BatchNorm2d(long numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats, 4) { }
}

/// <summary>
/// InstanceNorm1d with PyTorch's defaults (affine=False, no running statistics): each (sample, channel)
/// row is normalised over its length with the biased variance.
/// </summary>
public sealed class InstanceNorm1d : Module
{
    public double Eps { get; }

    public InstanceNorm1d(long numFeatures, double eps = 1e-5, bool affine = false)
    {
        Eps = eps;
        RegisterParameter("weight", affine ? torch.ones(new[] { numFeatures }) : null);
        RegisterParameter("bias", affine ? torch.zeros(new[] { numFeatures }) : null);
    }

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 3) throw new ArgumentException($"InstanceNorm1d expects [N, C, L]; got [{string.Join(", ", x.shape)}].");
        return F.instance_norm(x, null, null, Param("weight"), Param("bias"), true, 0.1, Eps);
    }
}

/// <summary>GroupNorm(groups, channels) with affine weight 1 and bias 0 at init.</summary>
public sealed class GroupNorm : Module
{
    public long Groups { get; }
    public double Eps { get; }

    public GroupNorm(long groups, long channels, double eps = 1e-5, bool affine = true)
    {
        if (channels % groups != 0) throw new ArgumentException($"GroupNorm: {channels} channels do not split into {groups} groups.");
        (Groups, Eps) = (groups, eps);
        RegisterParameter("weight", affine ? torch.ones(new[] { channels }) : null);
        RegisterParameter("bias", affine ? torch.zeros(new[] { channels }) : null);
    }

    public override Tensor forward(Tensor x) => F.group_norm(x, Groups, Param("weight"), Param("bias"), Eps);
}

/// <summary>LayerNorm over the trailing <c>normalizedShape</c> dims.</summary>
public sealed class LayerNorm : Module
{
    public long[] NormalizedShape { get; }
    public double Eps { get; }

    public LayerNorm(long[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true)
    {
        (NormalizedShape, Eps) = (normalizedShape, eps);
        RegisterParameter("weight", elementwiseAffine ? torch.ones(normalizedShape) : null);
        RegisterParameter("bias", elementwiseAffine ? torch.zeros(normalizedShape) : null);
    }

    public LayerNorm(long dim, double eps = 1e-5) : this(new[] { dim }, eps) { }

    public Tensor? weight => Param("weight");
    public Tensor? bias => Param("bias");
    public override Tensor forward(Tensor x) => F.layer_norm(x, NormalizedShape, weight, bias, Eps);
}
