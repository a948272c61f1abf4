using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>
/// A helper TorchSharp lacks (seeds: PDiff.Models.Seeds). Called by name (not as extension
/// methods) so they cannot clash with a sibling folder's helpers of the same name.
/// </summary>
public static class EvaluationTorch
{
    /// <summary>"[2, 3]": shapes in error messages.</summary>
    public static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    public static string Shape(Tensor t) => Shape(t.shape);
}
