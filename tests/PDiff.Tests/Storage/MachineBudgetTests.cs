using PDiff.Models;
using PDiff.Storage;
using PDiff.Tests.TorchFixes;
using Xunit;

namespace PDiff.Tests.Storage;

/// <summary>
/// The machine's budget: memory read from the kernel, the cgroup and the GC; threads bounded by the
/// cores; a refusal names the setting, its value, the limit and why, and the limit itself is accepted.
/// </summary>
[Collection(NativeStateCollection.Name)] // one test reads libtorch's thread setting, which ThreadTests changes
public class MachineBudgetTests
{
    [Fact]
    public void TheMachinesMemoryIsAtMostWhatTheKernelAndTheGcReport()
    {
        var available = MachineBudget.AvailableMemoryBytes();
        Assert.True(available > 0, $"{available}");
        Assert.True(available <= GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, $"{available}");
        var memAvailable = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        // MemAvailable moves while other processes run: the figure is the kernel's within a gigabyte.
        Assert.True(available <= long.Parse(memAvailable) * 1024 + (1L << 30), $"{available} against MemAvailable {memAvailable} kB");
        Assert.Equal(Environment.ProcessorCount, MachineBudget.Current().Cores);
    }

    [Fact]
    public void ThreadsAreBoundedByTheCores()
    {
        var budget = new MachineBudget(1L << 30, 4);
        budget.CheckThreads(1);
        budget.CheckThreads(4); // the limit itself is accepted
        var e = Assert.Throws<BudgetExceededException>(() => budget.CheckThreads(5, "--threads"));
        Assert.Equal("--threads 5: this machine has 4 cores (Environment.ProcessorCount) and libtorch runs one thread a core; use at most 4.", e.Message);
        Assert.Equal(4, e.Limit);
        Assert.IsAssignableFrom<ArgumentOutOfRangeException>(e); // what a C# caller catches
        Assert.Throws<BudgetExceededException>(() => budget.CheckThreads(0));
        Assert.Throws<BudgetExceededException>(() => budget.CheckThreads(100_000));
    }

    [Fact]
    public void ThreadsSetRefusesMoreThanTheCoresAndLeavesTheSettingAlone()
    {
        var before = TorchSharp.torch.get_num_threads();
        var e = Assert.Throws<BudgetExceededException>(() => Threads.Set(Environment.ProcessorCount + 1));
        Assert.Contains($"use at most {Environment.ProcessorCount}", e.Message);
        Assert.Throws<BudgetExceededException>(() => Threads.Set(100_000));
        Assert.Equal(before, TorchSharp.torch.get_num_threads());
    }

    [Fact]
    public void AMemoryRefusalNamesTheSizeFarthestAboveItsLimitAndThatLimitFits()
    {
        var budget = new MachineBudget(1000, 2);
        // 10 bytes per unit of a, 1 byte per unit of b: a = 90 and b = 50 need 950 bytes, a = 200 needs 2,050.
        double Bytes(long a, long b) => 10.0 * a + b;
        SizeKnob[] Knobs(long a, long b) => new[] { new SizeKnob("A", a, 1, v => Bytes(v, b)), new SizeKnob("B", b, 1, v => Bytes(a, v)) };
        budget.CheckMemory(Bytes(90, 50), "fits", Knobs(90, 50), p => "--" + p.ToLowerInvariant());
        var e = Assert.Throws<BudgetExceededException>(() => budget.CheckMemory(Bytes(200, 50), "the job needs 2,050 bytes", Knobs(200, 50), p => "--" + p.ToLowerInvariant()));
        Assert.Equal("--a 200: the job needs 2,050 bytes; this machine has 1000 bytes of memory available: use at most --a 95.", e.Message);
        Assert.Equal(("A", 200L, (long?)95), (e.Property, e.Value, e.Limit));
        budget.CheckMemory(Bytes(95, 50), "fits", Knobs(95, 50), p => p);   // the limit given is accepted
        Assert.Throws<BudgetExceededException>(() => budget.CheckMemory(Bytes(96, 50), "over", Knobs(96, 50), p => p));
        // No single size can make it fit: the one whose minimum saves the most is named, with what its minimum still needs.
        var none = Assert.Throws<BudgetExceededException>(() => budget.CheckMemory(Bytes(200, 5000), "over", Knobs(200, 5000), p => p));
        Assert.Equal("B", none.Property);
        Assert.Null(none.Limit);
        Assert.Contains("even B 1 needs 2.0 KiB with the other sizes as given; reduce those", none.Message);
    }

    [Theory]
    [InlineData(0, "0 bytes")]
    [InlineData(1023, "1023 bytes")]
    [InlineData(1536, "1.5 KiB")]
    [InlineData(22.5 * 1024 * 1024 * 1024, "22.5 GiB")]
    [InlineData(17.6e12, "16.0 TiB")]
    public void BytesAreWrittenInBinaryUnits(double bytes, string text) => Assert.Equal(text, MachineBudget.FormatBytes(bytes));
}
