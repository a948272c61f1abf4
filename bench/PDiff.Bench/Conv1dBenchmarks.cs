using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Bench;

/// <summary>
/// conv1d on input [200, 256, 120] with a 256×256×5 kernel and bias (padding 2), on 2 threads: the
/// shape of the p-diff latent denoiser's hot loop, as libtorch runs it (256 output channels: none of
/// the shapes SafeConv reroutes). bench/python/conv1d_reference.py times the same op with Debian's
/// PyTorch 1.13 (the engine before TorchSharp used that libtorch).
/// </summary>
[Config(typeof(LongOpConfig))]
[MemoryDiagnoser]
public class Conv1dBenchmarks
{
    Tensor x = null!, w = null!, b = null!;

    [Params(2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Threads);
        using var g = new Generator(0);
        x = randn(new long[] { 200, 256, 120 }, generator: g).requires_grad_().DetachFromDisposeScope();
        using (var w0 = randn(new long[] { 256, 256, 5 }, generator: g)) w = w0.mul(0.05).requires_grad_().DetachFromDisposeScope();
        b = zeros(256).requires_grad_().DetachFromDisposeScope();
        if (torch.get_num_threads() != Threads)
            throw new InvalidOperationException($"libtorch runs {torch.get_num_threads()} threads, not {Threads}.");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        x.Dispose();
        w.Dispose();
        b.Dispose();
    }

    [Benchmark(Description = "conv1d forward+backward")]
    public void ForwardBackward()
    {
        using (NewDisposeScope())
        {
            var y = F.conv1d(x, w, b, padding: 2);
            y.sum().backward();
            // Gradients set to None each step, as optimizer.zero_grad() does by default.
            foreach (var t in new[] { x, w, b }) t.grad = null;
        }
    }

    [Benchmark(Description = "conv1d forward (no_grad)")]
    public void Forward()
    {
        using (no_grad())
        using (F.conv1d(x, w, b, padding: 2)) { }
    }
}
