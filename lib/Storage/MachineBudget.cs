using System.Globalization;

namespace PDiff.Storage;

/// <summary>
/// The memory and cores every size, count and thread number is checked against before any allocation or
/// training. <see cref="Current"/> reads the machine; tests pass their own budget.
/// </summary>
/// <remarks>
/// Memory is the least of three figures, each of which can be the binding one: <c>MemAvailable</c> of
/// <c>/proc/meminfo</c> (what the kernel can give now without swapping), the cgroup's limit less its usage
/// (v2 <c>memory.max</c> − <c>memory.current</c>, v1 <c>memory.limit_in_bytes</c> − <c>memory.usage_in_bytes</c>:
/// a container's own ceiling), and the GC's <c>TotalAvailableMemoryBytes</c> (physical memory, or a
/// configured hard limit). Cores are <see cref="Environment.ProcessorCount"/> (which honours a CPU quota and
/// affinity). The checks compare a <em>lower bound</em> of what a job needs (its tensors counted from the sizes,
/// not its temporaries) with that figure, so a job that is refused could not have run, and one that passes may
/// still fail later; <c>pdiff</c> then reports the allocation failure in one line.
/// </remarks>
public sealed record MachineBudget(long MemoryBytes, int Cores)
{
    /// <summary>This machine, now.</summary>
    public static MachineBudget Current() => new(AvailableMemoryBytes(), Environment.ProcessorCount);

    /// <summary>The memory this process can still allocate: the least of the figures in the remarks that can be read.</summary>
    public static long AvailableMemoryBytes()
    {
        var best = long.MaxValue;
        var gc = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (gc > 0) best = Math.Min(best, gc);
        if (MeminfoAvailable() is { } m) best = Math.Min(best, m);
        if (CgroupHeadroom() is { } c) best = Math.Min(best, c);
        return best == long.MaxValue ? 0 : best;
    }

    static long? MeminfoAvailable()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb) ? kb * 1024 : null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    static long? CgroupHeadroom()
    {
        foreach (var (limitFile, usageFile) in new[] { ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                     ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes") })
        {
            // "max" (v2) or a value near 2^63 (v1) means no limit.
            if (ReadLong(limitFile) is { } limit && limit < 1L << 60)
                return Math.Max(0, limit - (ReadLong(usageFile) ?? 0));
        }
        return null;
    }

    static long? ReadLong(string path)
    {
        try { return long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// Threads a caller may ask libtorch for: exactly the core count. libtorch's intra-op pool runs one thread a
    /// core; more threads only take turns on the same cores (and 100,000 of them exhaust the process's threads).
    /// </summary>
    public int MaxThreads => Math.Max(1, Cores);

    /// <summary>Throws <see cref="BudgetExceededException"/> unless 1 ≤ <paramref name="threads"/> ≤ <see cref="MaxThreads"/>.</summary>
    public void CheckThreads(int threads, string name = "threads")
    {
        if (threads < 1) throw new BudgetExceededException(name, threads, 1, $"{name} must be at least 1, not {threads}.");
        if (threads > MaxThreads)
            throw new BudgetExceededException(name, threads, MaxThreads,
                $"{name} {threads}: this machine has {Cores} core{(Cores == 1 ? "" : "s")} (Environment.ProcessorCount) and libtorch runs one thread a core; use at most {MaxThreads}.");
    }

    /// <summary>
    /// Throws <see cref="BudgetExceededException"/> when <paramref name="bytes"/> (what a job needs with the sizes as
    /// given) exceeds <see cref="MemoryBytes"/>. The message names the size to reduce: of <paramref name="knobs"/>, the
    /// one farthest above the largest value that fits with the others held, with that value. <paramref name="detail"/>
    /// says what needs the memory (e.g. "a resnet18 of width 100000 has 4.4e12 parameters (16 TiB in float32)").
    /// </summary>
    public void CheckMemory(double bytes, string detail, IReadOnlyList<SizeKnob> knobs, Func<string, string> name)
    {
        if (bytes <= MemoryBytes) return;
        var have = $"this machine has {FormatBytes(MemoryBytes)} of memory available";
        if (knobs.Count == 0) throw new BudgetExceededException("", 0, null, $"{detail}; {have}.");
        var ranked = knobs.Select(k => (Knob: k, Max: LargestFitting(k))).ToList();
        // Of the sizes that alone can make the job fit, the one most times above its largest fitting value; when none
        // can, the one whose minimum saves the most memory.
        var fixable = ranked.Where(r => r.Max is not null).ToList();
        var (knob, max) = fixable.Count > 0
            ? fixable.MaxBy(r => (double)r.Knob.Value / Math.Max(1, r.Max!.Value))
            : ranked.MaxBy(r => r.Knob.BytesAt(r.Knob.Value) - r.Knob.BytesAt(r.Knob.Min));
        var flag = name(knob.Property);
        var fix = max is { } fit
            ? $"use at most {flag} {fit.ToString(CultureInfo.InvariantCulture)}{(knob.Hint is null ? "" : $" ({knob.Hint})")}"
            : $"even {flag} {knob.Min.ToString(CultureInfo.InvariantCulture)} needs {FormatBytes(knob.BytesAt(knob.Min))} with the other sizes as given; reduce those";
        throw new BudgetExceededException(knob.Property, knob.Value, max,
            $"{flag} {knob.Value.ToString(CultureInfo.InvariantCulture)}: {detail}; {have}: {fix}.");
    }

    /// <summary>The largest value in [Min, Value] whose job fits (the bytes grow with the value); null when not even Min fits.</summary>
    long? LargestFitting(SizeKnob k)
    {
        if (k.BytesAt(k.Min) > MemoryBytes) return null;
        long lo = k.Min, hi = Math.Max(k.Min, k.Value);
        while (lo < hi)
        {
            var mid = lo + (hi - lo + 1) / 2;
            if (k.BytesAt(mid) <= MemoryBytes) lo = mid;
            else hi = mid - 1;
        }
        var step = Math.Max(1, k.Step);
        return Math.Max(k.Min, lo / step * step);
    }

    /// <summary>Binary units, one decimal: "22.5 GiB", "16.0 TiB".</summary>
    public static string FormatBytes(double bytes)
    {
        string[] units = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        var u = 0;
        while (bytes >= 1024 && u < units.Length - 1) { bytes /= 1024; u++; }
        return u == 0 ? $"{bytes.ToString("F0", CultureInfo.InvariantCulture)} bytes" : $"{bytes.ToString("F1", CultureInfo.InvariantCulture)} {units[u]}";
    }

    /// <summary>A count for a message: "1,234,567" below 10⁹, "4.4e12" above.</summary>
    public static string FormatCount(double n) =>
        n < 1e9 ? n.ToString("N0", CultureInfo.InvariantCulture) : n.ToString("0.0e0", CultureInfo.InvariantCulture);

    /// <summary>Default names for messages of a record's checks: "ModelSpec.Width".</summary>
    public static Func<string, string> Prefixed(string record) => property => $"{record}.{property}";
}

/// <summary>
/// One size a caller chose (<paramref name="Property"/>, e.g. "Width"), its <paramref name="Value"/>, the least
/// value it may take, and <paramref name="BytesAt"/>: what the whole job needs with this size at v and every
/// other size as given (non-decreasing in v). <paramref name="Hint"/> adds a word to the fix ("for the widest layer");
/// a value must be a multiple of <paramref name="Step"/> (a ViT's dim of its heads).
/// </summary>
public sealed record SizeKnob(string Property, long Value, long Min, Func<long, double> BytesAt, string? Hint = null, long Step = 1);

/// <summary>
/// A size, count or thread number beyond what this machine can hold or run (<see cref="MachineBudget"/>). An
/// <see cref="ArgumentOutOfRangeException"/> whose <see cref="Message"/> is the one line to show (no parameter
/// suffix): it names the setting, its value, the limit and why. <see cref="Limit"/> is the largest value that
/// fits (null when none does).
/// </summary>
public sealed class BudgetExceededException(string property, long value, long? limit, string message)
    : ArgumentOutOfRangeException(property, message)
{
    public string Property { get; } = property;
    public long Value { get; } = value;
    public long? Limit { get; } = limit;
    public override string Message { get; } = message;
}
