using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace PDiff.Bench;

/// <summary>
/// Short jobs, run in this process (no generated project to build and restore: the machine has no
/// internet). The machine is shared, so besides the mean the tables show the median and the minimum:
/// on a busy machine the minimum over many short iterations is the best estimate of the cost itself.
/// </summary>
public sealed class ShortConfig : ManualConfig
{
    public ShortConfig()
    {
        // Many 25 ms iterations rather than a few long ones: a quiet slice shows up in the minimum.
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(3).WithIterationCount(30).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(25)).WithLaunchCount(1));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}

/// <summary>
/// <see cref="ShortConfig"/> twice: timed by the wall clock, and by the benchmark thread's CPU time
/// (<see cref="ThreadCpuClock"/>), which a busy machine does not inflate.
/// </summary>
public sealed class WallAndCpuConfig : ManualConfig
{
    public WallAndCpuConfig()
    {
        var job = Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(3).WithIterationCount(30).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(25)).WithLaunchCount(1);
        AddJob(job.WithId("Wall"));
        AddJob(job.WithClock(ThreadCpuClock.Instance).WithId("ThreadCpu"));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}

/// <summary>One call per iteration, for ops that take tens of milliseconds (conv1d forward+backward).</summary>
public sealed class LongOpConfig : ManualConfig
{
    public LongOpConfig()
    {
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(3).WithIterationCount(10).WithInvocationCount(1).WithUnrollFactor(1).WithLaunchCount(1));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}
