using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace PDiff.Bench;

// Short jobs, run in this process (no generated project to build and restore: the machine has no
// internet). The machine is shared, so besides the mean the tables show the median and the minimum,
// and every benchmark is also timed by CPU time, which waiting for a core does not inflate.

/// <summary>
/// One call per iteration, for ops that take tens of milliseconds or more (conv1d forward+backward);
/// timed by the wall clock and by the CPU time of the whole process (the work done on all threads,
/// which waiting for a core on a busy machine does not inflate).
/// </summary>
public sealed class LongOpConfig : ManualConfig
{
    public LongOpConfig()
    {
        var job = Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(3).WithIterationCount(10).WithInvocationCount(1).WithUnrollFactor(1).WithLaunchCount(1);
        AddJob(job.WithId("Wall"));
        AddJob(job.WithClock(ThreadCpuClock.Process).WithId("ProcessCpu"));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}
