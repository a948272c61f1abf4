using PDiff.Torch;
using Xunit;
using Xunit.Abstractions;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Tests.Engine;

/// <summary>
/// Tests that read process-wide counters (live native tensors, C-heap bytes, thread settings): xunit runs
/// this collection alone, after the parallel ones, so other tests cannot move the numbers.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NativeStateCollection
{
    public const string Name = "Native process state";
}

/// <summary>
/// A training loop inside per-step dispose scopes must hold flat native memory (design.md §3): the
/// count of live tensors returns exactly to where it was, and the C heap (where libtorch's CPU allocator
/// draws from) does not grow with the number of steps.
/// </summary>
[Collection(NativeStateCollection.Name)]
public class MemoryTests(ITestOutputHelper output)
{
    sealed class TinyRegression : IDisposable
    {
        readonly Generator g = new(0);
        public readonly Tensor W, B, X, Y;

        public TinyRegression()
        {
            W = torch.randn(new long[] { 8, 4 }, g).mul_(0.3).requires_grad_();
            B = torch.zeros(4).requires_grad_();
            X = torch.randn(new long[] { 16, 8 }, g);
            Y = torch.randn(new long[] { 16, 4 }, g);
        }

        /// <summary>A few ops, backward, an in-place SGD update; every temporary freed by the scope.</summary>
        public double Step(bool leakOne = false)
        {
            using var s = torch.NewDisposeScope();
            var h = F.linear(X, W.t(), B).tanh();
            var loss = F.mse_loss(h, Y) + h.pow(2).mean().mul(1e-3);
            loss.backward();
            using (torch.no_grad())
            {
                W.sub_(W.grad!, 0.05);
                B.sub_(B.grad!, 0.05);
            }
            W.zero_grad();
            B.zero_grad();
            if (leakOne) Leaked.Add(h.detach().DetachFromDisposeScope());
            return loss.item<double>();
        }

        public readonly List<Tensor> Leaked = new();

        public void Dispose()
        {
            foreach (var t in Leaked) t.Dispose();
            W.Dispose(); B.Dispose(); X.Dispose(); Y.Dispose(); g.Dispose();
        }
    }

    static void Settle()
    {
        // Tensors other tests dropped without disposing are freed by finalizers; finish them first.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    [Fact]
    public void ThirtyThousandStepsHoldFlatNativeMemory()
    {
        using var model = new TinyRegression();
        var first = model.Step();
        for (var i = 0; i < 1000; i++) model.Step(); // warm up caches, JIT tiers, thread pools
        Settle();
        var liveBefore = torch.LiveTensorCount;
        var heapBefore = torch.NativeHeapBytes;

        double last = 0;
        for (var i = 0; i < 30_000; i++) last = model.Step();

        Settle();
        var growth = torch.NativeHeapBytes - heapBefore;
        output.WriteLine($"30,000 steps: live tensors {liveBefore} → {torch.LiveTensorCount}, C heap {heapBefore:N0} → {heapBefore + growth:N0} bytes, loss {first:G4} → {last:G4}");
        Assert.Equal(liveBefore, torch.LiveTensorCount);
        if (growth >= 1_000_000)
        {
            // The C heap is process-wide: in a full test run, one-off allocations elsewhere in the process
            // (libraries initialising lazily, other tests' leftovers) can land inside the window. A leak in
            // this loop grows linearly, so it shows again, by as much, over a second window of 30,000 steps.
            var heapMid = torch.NativeHeapBytes;
            for (var i = 0; i < 30_000; i++) last = model.Step();
            Settle();
            growth = torch.NativeHeapBytes - heapMid;
            output.WriteLine($"second window of 30,000 steps: C heap {heapMid:N0} → {heapMid + growth:N0} bytes");
            Assert.Equal(liveBefore, torch.LiveTensorCount);
        }
        // One leaked 16×4 tensor a step would be ~30,000 × (256 B of data + ~400 B of bookkeeping) ≈ 20 MB.
        Assert.True(growth < 1_000_000, $"C heap grew by {growth:N0} bytes over 30,000 steps");
        Assert.True(last < first, $"the loop trained nothing: loss {first} → {last}");
    }

    [Fact]
    public void TheMeasurementSeesALeak()
    {
        // The same loop, keeping one tensor a step alive: both counters must notice, or the test above proves nothing.
        using var model = new TinyRegression();
        for (var i = 0; i < 200; i++) model.Step();
        Settle();
        var liveBefore = torch.LiveTensorCount;
        var heapBefore = torch.NativeHeapBytes;
        for (var i = 0; i < 2000; i++) model.Step(leakOne: true);
        Assert.Equal(liveBefore + 2000, torch.LiveTensorCount);
        Assert.True(torch.NativeHeapBytes - heapBefore > 2000 * 256, "the heap counter missed 2,000 leaked 16×4 float tensors");
    }
}
