using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Checkpoints;

/// <summary>
/// Refuses NaN and infinite values in loaded parameters. A NaN weight makes every output NaN and an
/// infinite one overflows the next layer: a file holding either comes from a diverged run or damage,
/// and a model built from it fails far from the cause. The loaders of this folder call it on every
/// floating-point tensor unless their caller opts in with <c>allowNonFinite: true</c> (an attention
/// mask of -inf, a loss history of a diverged run).
/// </summary>
public static class NonFinite
{
    const long Chunk = 1 << 24; // elements checked at a time: the check's temporary stays small

    /// <summary>Throws <see cref="InvalidDataException"/> naming <paramref name="file"/> and the tensor when <paramref name="t"/> holds NaN or ±inf.</summary>
    public static void Check(string name, Tensor t, string file)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (!t.is_floating_point() || t.numel() == 0) return;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var flat = t.reshape(-1);
        var n = flat.shape[0];
        for (long at = 0; at < n; at += Chunk)
        {
            var part = flat.narrow(0, at, Math.Min(Chunk, n - at));
            if (part.isfinite().all().item<bool>()) continue;
            var nan = flat.isnan().sum().item<long>();
            var inf = flat.isinf().sum().item<long>();
            var first = at + part.isfinite().logical_not().nonzero()[0, 0].item<long>();
            throw new InvalidDataException(
                $"'{file}': tensor {SafeText.Quote(name)} holds {Count(nan, "NaN")} and {Count(inf, "infinite value")} " +
                $"(of {n.ToString(CultureInfo.InvariantCulture)}; the first at flat index {first.ToString(CultureInfo.InvariantCulture)}). " +
                "The weights come from a diverged run or a damaged file: use an earlier checkpoint, " +
                "or pass allowNonFinite: true if these values are meant (an attention mask of -inf).");
        }
    }

    /// <summary><see cref="Check"/> on every tensor of a state dict, in order.</summary>
    public static void CheckAll(IEnumerable<KeyValuePair<string, Tensor>> tensors, string file)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        foreach (var (name, t) in tensors) Check(name, t, file);
    }

    static string Count(long n, string what) =>
        n.ToString(CultureInfo.InvariantCulture) + " " + what + (n == 1 || what == "NaN" ? "" : "s");
}
