using PDiff.Torch;
using Xunit;

namespace PDiff.Tests.Engine;

/// <summary>
/// Intra-op threads: every CPU the process may use by default (design.md §3), settable, and the setting
/// holds for every thread, including ones that ran ops before it changed.
/// </summary>
[Collection(NativeStateCollection.Name)]
public class ThreadTests
{
    static int ExpectedDefault()
    {
        var env = Environment.GetEnvironmentVariable("PDIFF_NUM_THREADS") ?? Environment.GetEnvironmentVariable("OMP_NUM_THREADS");
        return int.TryParse(env, out var n) && n > 0 ? n : Environment.ProcessorCount;
    }

    [Fact]
    public void DefaultIsAllCpusAndSettingIsProcessWide()
    {
        // libtorch alone would pick the physical cores (1 on a 2-vCPU VM); we want all of them.
        Assert.Equal(ExpectedDefault(), torch.get_num_threads());
        var original = torch.get_num_threads();
        var other = original == 1 ? 2 : 1;

        // A worker that already ran parallel ops, then waits while the test thread changes the setting.
        int seenBefore = 0, seenAfter = 0;
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
            Assert.Equal(other, seenAfter);

            var fresh = 0;
            var t = new Thread(() => fresh = torch.get_num_threads());
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
        using var x = torch.randn(new long[] { 4, 3, 32, 32 }, g);
        using var w = torch.randn(new long[] { 8, 3, 3, 3 }, g);
        try
        {
            torch.set_num_threads(1);
            using var one = torch.nn.functional.conv2d(x, w, padding: 1);
            torch.set_num_threads(Math.Max(2, original));
            using var many = torch.nn.functional.conv2d(x, w, padding: 1);
            Assert.True(one.allclose(many, 1e-5, 1e-5));
        }
        finally
        {
            torch.set_num_threads(original);
        }
    }

    [Fact]
    public void RejectsNonPositiveCounts()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => torch.set_num_threads(0));
        Assert.Contains("at least 1", ex.Message);
    }
}
