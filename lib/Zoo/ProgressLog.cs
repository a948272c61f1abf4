using System.Diagnostics;
using System.Globalization;

namespace PDiff.Zoo;

/// <summary>
/// Console progress for long loops: one line at most every <see cref="Interval"/> (and always at the
/// end), with the step count, the caller's metrics, throughput and an ETA from the mean step time.
/// A null writer makes it silent.
/// </summary>
public sealed class ProgressLog
{
    readonly TextWriter? writer;
    readonly string tag;
    readonly Stopwatch clock = Stopwatch.StartNew();
    TimeSpan? lastPrint;

    public ProgressLog(TextWriter? writer, string tag, long total)
    {
        (this.writer, this.tag, Total) = (writer, tag, total);
    }

    public long Total { get; set; }
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan Elapsed => clock.Elapsed;

    /// <summary>Prints "[tag] step/total metrics | elapsed, ETA" if the interval has passed (or at the end).</summary>
    public void Step(long done, string metrics, bool force = false)
    {
        if (writer is null) return;
        var now = clock.Elapsed;
        if (!force && done < Total && lastPrint is { } last && now - last < Interval) return;
        lastPrint = now;
        var eta = done > 0 && Total > done ? TimeSpan.FromSeconds(now.TotalSeconds / done * (Total - done)) : TimeSpan.Zero;
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{tag}] {done}/{Total} {metrics} | {Format(now)} elapsed{(Total > done ? $", ETA {Format(eta)}" : "")}"));
        writer.Flush();
    }

    public void Line(string text)
    {
        if (writer is null) return;
        writer.WriteLine($"[{tag}] {text}");
        writer.Flush();
    }

    public static string Format(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s" : $"{t.TotalSeconds:F1}s";
}
