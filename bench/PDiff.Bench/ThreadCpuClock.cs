using System.Runtime.InteropServices;
using Perfolizer.Horology;

namespace PDiff.Bench;

/// <summary>
/// CPU time of the calling thread (Linux CLOCK_THREAD_CPUTIME_ID) as a BenchmarkDotNet clock. On a
/// machine shared with other work, wall-clock time also counts the time this thread waits for a core;
/// its CPU time does not, so it measures a single-threaded call's own cost. Only meaningful for code
/// that runs on the benchmark thread alone (the tiny-op benchmarks set libtorch to one thread).
/// </summary>
public sealed class ThreadCpuClock : IClock
{
    public static readonly ThreadCpuClock Instance = new();

    [StructLayout(LayoutKind.Sequential)]
    struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out Timespec ts);

    const int ClockThreadCpuTimeId = 3;

    public string Title => "ThreadCpu";
    public bool IsAvailable => OperatingSystem.IsLinux();
    public Frequency Frequency => new(1_000_000_000);

    public long GetTimestamp()
    {
        ClockGetTime(ClockThreadCpuTimeId, out var ts);
        return ts.Seconds * 1_000_000_000 + ts.Nanoseconds;
    }
}
