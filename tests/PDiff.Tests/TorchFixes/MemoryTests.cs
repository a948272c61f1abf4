using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// Tests that read or change process-wide state (native memory, the thread count, the global generator):
/// xunit runs this collection alone, after the parallel ones, so other tests cannot move the numbers.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NativeStateCollection
{
    public const string Name = "Native process state";
}

/// <summary>
/// A training loop inside per-step dispose scopes must hold flat native memory (design.md §3): TorchSharp's
/// count of live tensors on this thread returns exactly to where it was, and the C heap (where libtorch's
/// CPU allocator draws from) does not grow with the number of steps.
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
            W = torch.randn(new long[] { 8, 4 }, generator: g).mul_(0.3).requires_grad_();
            B = torch.zeros(4).requires_grad_();
            X = torch.randn(new long[] { 16, 8 }, generator: g);
            Y = torch.randn(new long[] { 16, 4 }, generator: g);
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
                W.sub_(W.grad!.mul(0.05));
                B.sub_(B.grad!.mul(0.05));
                W.grad!.zero_();
                B.grad!.zero_();
            }
            if (leakOne) Leaked.Add(h.detach().DetachFromDisposeScope());
            return loss.item<float>();
        }

        public readonly List<Tensor> Leaked = new();

        public void Dispose()
        {
            foreach (var t in Leaked) t.Dispose();
            W.Dispose(); B.Dispose(); X.Dispose(); Y.Dispose(); g.Dispose();
        }
    }

    /// <summary>Tensors created on this thread and not yet disposed (TorchSharp keeps the count per thread).</summary>
    static long LiveTensors => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    [StructLayout(LayoutKind.Sequential)]
    struct MallInfo2
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    static extern MallInfo2 mallinfo2();

    static bool? hasMallinfo;

    /// <summary>
    /// Bytes the C heap holds (glibc's mallinfo2: small blocks in use plus mmapped ones), else the process's
    /// resident set. The heap figure sees a leak of a few hundred kilobytes; RSS moves in pages and with the
    /// .NET heap, so it is the coarse fallback.
    /// </summary>
    static long NativeBytes()
    {
        if (hasMallinfo != false && OperatingSystem.IsLinux())
        {
            try
            {
                var mi = mallinfo2();
                hasMallinfo = true;
                return (long)(mi.uordblks + mi.hblkhd);
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { hasMallinfo = false; }
        }
        return Rss();
    }

    static long Rss()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    static void Settle()
    {
        // Tensors other tests dropped without disposing are freed by finalizers; finish them first. A finalizer can make
        // more garbage (a tensor's owner), and a finalizer left pending would free native memory inside the measured
        // window: the leak test below once saw no growth after a full test run. So drain until nothing is pending.
        for (var round = 0; round < 3; round++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        GC.Collect();
    }

    [Fact]
    public void ThirtyThousandStepsHoldFlatNativeMemory()
    {
        using var model = new TinyRegression();
        var first = model.Step();
        for (var i = 0; i < 1000; i++) model.Step(); // warm up caches, JIT tiers, thread pools
        Settle();
        var liveBefore = LiveTensors;
        var heapBefore = NativeBytes();
        var rssBefore = Rss();

        double last = 0;
        for (var i = 0; i < 30_000; i++) last = model.Step();

        Settle();
        var growth = NativeBytes() - heapBefore;
        output.WriteLine($"30,000 steps: live tensors {liveBefore} → {LiveTensors}, {(hasMallinfo == true ? "C heap" : "RSS")} {heapBefore:N0} → {heapBefore + growth:N0} bytes, " +
                         $"RSS {rssBefore:N0} → {Rss():N0}, loss {first:G4} → {last:G4}");
        Assert.Equal(liveBefore, LiveTensors);
        if (growth >= 1_000_000)
        {
            // The C heap is process-wide: in a full test run, one-off allocations elsewhere in the process
            // (libraries initialising lazily, other tests' leftovers) can land inside the window. A leak in
            // this loop grows linearly, so it shows again, by as much, over a second window of 30,000 steps.
            var heapMid = NativeBytes();
            for (var i = 0; i < 30_000; i++) last = model.Step();
            Settle();
            growth = NativeBytes() - heapMid;
            output.WriteLine($"second window of 30,000 steps: {heapMid:N0} → {heapMid + growth:N0} bytes");
            Assert.Equal(liveBefore, LiveTensors);
        }
        // One leaked 16×4 tensor a step would be ~30,000 × (256 B of data + ~400 B of bookkeeping) ≈ 20 MB.
        Assert.True(growth < 1_000_000, $"native memory grew by {growth:N0} bytes over 30,000 steps");
        Assert.True(last < first, $"the loop trained nothing: loss {first} → {last}");
    }

    [Fact]
    public void TheMeasurementSeesALeak()
    {
        // The same loop, keeping one tensor a step alive: both counters must notice, or the test above proves nothing.
        using var model = new TinyRegression();
        for (var i = 0; i < 200; i++) model.Step();
        Settle();
        var liveBefore = LiveTensors;
        var heapBefore = NativeBytes();
        for (var i = 0; i < 2000; i++) model.Step(leakOne: true);
        Assert.Equal(liveBefore + 2000, LiveTensors);
        Assert.True(NativeBytes() - heapBefore > 2000 * 256, "the native-memory counter missed 2,000 leaked 16×4 float tensors");
    }
}
