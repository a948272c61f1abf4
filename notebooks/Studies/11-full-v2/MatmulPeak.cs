using System.Diagnostics;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// This machine's float32 matrix-multiply rate, the yardstick for every stage's efficiency: the best of
/// <c>repeats</c> products of two n×n matrices (2n³ floating-point operations each) at the current thread count,
/// after two warm-ups (the first products of a process run slower while its threads and pages settle).
/// </summary>
public static class MatmulPeak
{
    public static double GflopPerSecond(int n = 2048, int repeats = 10)
    {
        if (n < 1 || repeats < 1) throw new ArgumentOutOfRangeException(nameof(n), $"MatmulPeak: need n ≥ 1 and repeats ≥ 1 (got {n}, {repeats}).");
        using var scope = NewDisposeScope();
        using var g = new Generator(0);
        var a = randn(new long[] { n, n }, generator: g);
        var b = randn(new long[] { n, n }, generator: g);
        a.mm(b).Dispose();
        a.mm(b).Dispose();
        var best = double.MaxValue;
        for (var i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            using (a.mm(b)) { }
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / best / 1e9;
    }
}
