using BenchmarkDotNet.Attributes;
using PDiff.Torch;
using static PDiff.Torch.torch.nn.functional;

namespace PDiff.Bench;

/// <summary>
/// conv1d on input [200, 256, 120] with a 256×256×5 kernel and bias (padding 2), on 2 threads: the
/// shape of the p-diff latent denoiser's hot loop. The same op from Python, with the same libtorch, is
/// timed by bench/python/conv1d_reference.py; the two should agree within 10%.
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
        x = torch.randn(new long[] { 200, 256, 120 }, g).requires_grad_();
        using (var w0 = torch.randn(new long[] { 256, 256, 5 }, g)) w = (w0 * 0.05).requires_grad_();
        b = torch.zeros(256).requires_grad_();
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
        using (torch.NewDisposeScope())
        {
            var y = conv1d(x, w, b, padding: 2);
            y.sum().backward();
        }
        // Gradients set to None each step, as optimizer.zero_grad() does by default.
        x.zero_grad();
        w.zero_grad();
        b.zero_grad();
    }

    [Benchmark(Description = "conv1d forward (no_grad)")]
    public void Forward()
    {
        using (torch.no_grad())
        using (conv1d(x, w, b, padding: 2)) { }
    }
}
