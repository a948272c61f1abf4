using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// Intra-op threads (design.md §3: use the cores by default, settable). The count is libtorch's own
/// (TorchSharp passes it through); what these tests pin is what callers may rely on: a sane default, that
/// a setting reaches the calling thread and threads started after it, and that results do not depend on it.
/// </summary>
/// <remarks>
/// Not covered, because TorchSharp gives no safe way to test it in-process: torch.set_num_threads(0)
/// (or any count below 1) aborts the whole process with libtorch's "Expected positive number of threads",
/// so callers must validate a user's count before passing it on.
/// </remarks>
[Collection(NativeStateCollection.Name)]
public class ThreadTests
{
    [Fact]
    public void DefaultUsesTheMachinesCores()
    {
        // libtorch counts physical cores, or honours OMP_NUM_THREADS when set.
        var n = torch.get_num_threads();
        if (int.TryParse(Environment.GetEnvironmentVariable("OMP_NUM_THREADS"), out var omp) && omp > 0)
            Assert.Equal(omp, n);
        else
            Assert.InRange(n, 1, Environment.ProcessorCount);
    }

    [Fact]
    public void SettingReachesTheCallingThreadAndThreadsStartedLater()
    {
        var original = torch.get_num_threads();
        var other = original == 1 ? 2 : 1;

        // A worker that already ran parallel ops, then waits while the test thread changes the setting.
        int seenBefore = 0, seenAfter = 0, seenAfterOwnSet = 0;
        using var ranOps = new ManualResetEventSlim();
        using var changed = new ManualResetEventSlim();
        var worker = new Thread(() =>
        {
            using (var x = torch.ones(1 << 16))
            using (var s = x.sum()) seenBefore = torch.get_num_threads();
            ranOps.Set();
            changed.Wait();
            using (var x = torch.ones(1 << 16))
            using (var s = x.sum()) seenAfter = torch.get_num_threads();
            torch.set_num_threads(other);
            seenAfterOwnSet = torch.get_num_threads();
        });
        try
        {
            worker.Start();
            ranOps.Wait();
            torch.set_num_threads(other);
            Assert.Equal(other, torch.get_num_threads());
            changed.Set();
            worker.Join();
            Assert.Equal(original, seenBefore);
            // libtorch's OpenMP backend keeps the count per OS thread: a thread that already ran ops keeps
            // its old count until it sets one itself. (Our former binding made the setting process-wide;
            // TorchSharp does not.) Set the count once at start-up, before work spreads over threads.
            Assert.Equal(original, seenAfter);
            Assert.Equal(other, seenAfterOwnSet);

            var fresh = 0;
            var t = new Thread(() =>
            {
                using (var x = torch.ones(1 << 16))
                using (var s = x.sum()) fresh = torch.get_num_threads();
            });
            t.Start();
            t.Join();
            Assert.Equal(other, fresh);
        }
        finally
        {
            changed.Set();
            torch.set_num_threads(original);
        }
        Assert.Equal(original, torch.get_num_threads());
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        var original = torch.get_num_threads();
        using var g = new Generator(5);
        using var x = torch.randn(new long[] { 4, 3, 32, 32 }, generator: g);
        using var w = torch.randn(new long[] { 8, 3, 3, 3 }, generator: g);
        try
        {
            torch.set_num_threads(1);
            using var one = torch.nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
            torch.set_num_threads(Math.Max(2, original));
            using var many = torch.nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
            Assert.True(one.allclose(many, 1e-5, 1e-5));
        }
        finally
        {
            torch.set_num_threads(original);
        }
    }
}
