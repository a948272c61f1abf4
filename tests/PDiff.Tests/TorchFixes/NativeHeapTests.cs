using PDiff.TorchFixes;
using PDiff.Diffusion;
using TorchSharp;
using Xunit;

namespace PDiff.Tests.TorchFixes;

public class NativeHeapTests
{
    [Fact]
    public void AppliesOnGlibcIdempotentlyAndTensorsStillWork()
    {
        var first = NativeHeap.KeepFreedMemory();
        Assert.Equal(first, NativeHeap.KeepFreedMemory());
        Assert.Equal(first, NativeHeap.IsApplied);
        if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable(NativeHeap.OptOutVariable) is null)
            Assert.True(first, "glibc's mallopt should accept M_MMAP_MAX and M_TRIM_THRESHOLD");
        // Large blocks now come from the heap: allocate, free and reuse more than the old 32 MB mmap limit.
        for (var i = 0; i < 3; i++)
        {
            using var scope = torch.NewDisposeScope();
            var big = torch.ones(new long[] { 10_000_000 });          // 40 MB
            Assert.Equal(10_000_000.0, big.sum().item<float>());
        }
    }
}
