using PDiff.Storage;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>Seeds and threads: the two small things every stage needs and TorchSharp spells differently.</summary>
public static class Seeds
{
    /// <summary>
    /// A fresh 63-bit seed drawn from <paramref name="g"/> (one int64 draw in [0, 2⁶³ − 1), as
    /// <c>torch.randint</c>), to seed a child generator: stages get distinct, reproducible streams.
    /// </summary>
    public static ulong Next(Generator g)
    {
        using var t = randint(0, long.MaxValue, new long[] { 1 }, dtype: ScalarType.Int64, generator: g);
        return (ulong)t.item<long>();
    }
}

public static class Threads
{
    /// <summary>
    /// Sets libtorch's intra-op threads: at least 1 (TorchSharp 0.107 aborts the process below that) and at most
    /// the core count (<see cref="MachineBudget.MaxThreads"/>); otherwise a <see cref="BudgetExceededException"/>.
    /// libtorch's setting applies to the calling thread and to threads started later.
    /// </summary>
    public static void Set(int n)
    {
        MachineBudget.Current().CheckThreads(n, "Threads.Set(n)");
        set_num_threads(n);
    }
}
