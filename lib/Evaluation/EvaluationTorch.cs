using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>
/// The two helpers our former binding had built in and TorchSharp lacks. Called by name (not as extension
/// methods) so they cannot clash with a sibling folder's helpers of the same name.
/// </summary>
internal static class EvaluationTorch
{
    /// <summary>"[2, 3]": shapes in error messages.</summary>
    public static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    public static string Shape(Tensor t) => Shape(t.shape);

    /// <summary>
    /// A fresh 63-bit seed drawn from <paramref name="g"/>, to seed a child generator (one int64 draw in
    /// [0, 2⁶³ − 1), as the former Generator.NextSeed did).
    /// </summary>
    public static ulong NextSeed(Generator g)
    {
        using var t = randint(0, long.MaxValue, new long[] { 1 }, dtype: ScalarType.Int64, generator: g);
        return (ulong)t.item<long>();
    }
}
