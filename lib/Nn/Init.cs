using PDiff.Torch;

namespace PDiff.Nn;

/// <summary>PyTorch's default initialisations (reference §0), always from an explicit generator.</summary>
public static class Init
{
    /// <summary>
    /// U(−1/√fan_in, 1/√fan_in): what kaiming_uniform_(a=√5) gives for Linear/Conv weights, and the default
    /// bias init of those layers.
    /// </summary>
    public static void UniformFanIn(Tensor t, long fanIn, Generator g)
    {
        var bound = fanIn > 0 ? 1.0 / Math.Sqrt(fanIn) : 0;
        using (torch.no_grad()) t.uniform_(-bound, bound, g);
    }

    public static void Normal(Tensor t, double mean, double std, Generator g)
    {
        using (torch.no_grad()) t.normal_(mean, std, g);
    }

    /// <summary>Truncated-normal-like init used by ViTs is approximated by N(0, std) clamped to ±2std.</summary>
    public static void TruncNormal(Tensor t, double std, Generator g)
    {
        using (torch.no_grad()) t.normal_(0, std, g).clamp_(-2 * std, 2 * std);
    }

    public static void Constant(Tensor t, double value)
    {
        using (torch.no_grad()) t.fill_(value);
    }
}
