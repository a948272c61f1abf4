using PDiff.TorchFixes;
using PDiff.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// Weight averages of a zoo's consecutive checkpoints, the training set of the "SWA p-diff" candidate
/// (notebook 10): stochastic weight averaging (Izmailov et al., 2018) along the collection trajectory.
/// Averaging a window of neighbouring SGD iterates removes most of their step-to-step noise, which is what
/// makes the average-of-16 baseline more accurate than the checkpoints themselves; a generator trained on
/// such averages should inherit that accuracy and add its own novelty.
/// </summary>
public static class CheckpointAverages
{
    /// <summary>
    /// Running means of <paramref name="window"/> consecutive rows, every <paramref name="stride"/> rows:
    /// row i of the result is the mean of checkpoints [i·stride, i·stride + window), so [⌊(K − window)/stride⌋ + 1, N].
    /// The rows must be in collection order (a zoo's manifest order). Computed in float64, returned in the input's dtype.
    /// </summary>
    public static Tensor Windowed(Tensor checkpoints, int window, int stride = 1)
    {
        ArgumentNullException.ThrowIfNull(checkpoints);
        if (checkpoints.dim() != 2 || checkpoints.size(0) < 1 || !checkpoints.is_floating_point())
            throw new ArgumentException($"Checkpoints must be a floating-point [K ≥ 1, N] matrix, one row a checkpoint in collection order; got {checkpoints.dtype} {EvaluationTorch.Shape(checkpoints)}.", nameof(checkpoints));
        var k = (int)checkpoints.size(0);
        if (window < 1 || window > k)
            throw new ArgumentOutOfRangeException(nameof(window), window, $"A window takes between 1 and K = {k} consecutive checkpoints.");
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "The stride between windows must be at least 1.");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // Prefix sums give every window's sum in one subtraction: S[i + w] − S[i].
        var x = checkpoints.to(ScalarType.Float64);
        var prefix = torch.cat(new[] { torch.zeros(1, x.size(1), dtype: ScalarType.Float64), x.cumsum(0) }, 0);
        using Scalar first = 0, end = k - window + 1, step = stride, width = window;
        var starts = torch.arange(first, end, step, dtype: ScalarType.Int64);
        var sums = prefix.index_select(0, starts.add(width, SafeOps.One)).sub(prefix.index_select(0, starts));
        return sums.div(width).to(checkpoints.dtype).MoveToOuterDisposeScope();
    }
}
