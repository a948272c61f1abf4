using BenchmarkDotNet.Attributes;
using PDiff.Torch;

namespace PDiff.Bench;

/// <summary>
/// The fixed cost of one small op called from C#: two 16-element float tensors added, the result
/// disposed. What is measured is P/Invoke, the Tensor wrapper and libtorch's dispatch, not arithmetic.
/// The raw rows call the C ABI directly (no Tensor object, no scope, no finalizer): the floor that
/// libtorch itself sets, so the difference is the wrapper's own cost.
/// </summary>
[Config(typeof(WallAndCpuConfig))]
[MemoryDiagnoser]
public class TinyOpBenchmarks
{
    Tensor a = null!, b = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        a = torch.ones(16);
        b = torch.ones(16);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        a.Dispose();
        b.Dispose();
    }

    [Benchmark(Baseline = true, Description = "a.add(b) + Dispose")]
    public void AddDispose()
    {
        using var c = a.add(b);
    }

    [Benchmark(Description = "a + b inside a DisposeScope")]
    public void AddInScope()
    {
        using (torch.NewDisposeScope())
        {
            _ = a + b;
        }
    }

    [Benchmark(Description = "raw pd_add + pd_free (floor)")]
    public void RawAddFree() => Native.pd_free(Native.pd_add(a.Handle, b.Handle, 1));

    [Benchmark(Description = "a.add_(b) in place")]
    public void AddInPlace() => a.add_(b);

    [Benchmark(Description = "a.shape")]
    public long[] Shape() => a.shape;
}
