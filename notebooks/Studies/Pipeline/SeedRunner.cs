namespace PDiff.Studies;

/// <summary>
/// The one loop over pipeline seeds (<see cref="TaskSpec.Seed"/>) that every study goes through: it checks the seed
/// list, runs the study's per-seed step in the list's order with a progress line before each seed, and returns the
/// per-seed results in that order. A seed that fails leaves nothing open behind it: whatever the earlier seeds
/// returned is disposed (when it is <see cref="IDisposable"/>) before the exception goes on.
/// </summary>
public static class SeedRunner
{
    /// <summary>Throws unless <paramref name="seeds"/> holds at least one pipeline seed, all distinct and ≥ 0.</summary>
    public static void Check(IReadOnlyList<int> seeds)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        if (seeds.Count == 0) throw new ArgumentException("A run over pipeline seeds needs at least one seed.", nameof(seeds));
        if (seeds.Distinct().Count() != seeds.Count || seeds.Any(s => s < 0)) throw new ArgumentException($"Pipeline seeds must be distinct and ≥ 0; got {string.Join(", ", seeds)}.", nameof(seeds));
    }

    /// <summary>The progress line before seed <paramref name="seed"/>, the <paramref name="index"/>-th (from 0) of <paramref name="count"/>.</summary>
    public static string ProgressLine(int seed, int index, int count, string? label = null) =>
        $"=== {(label is null ? "" : label + ", ")}pipeline seed {seed} ({index + 1}/{count}) ===";

    /// <summary>
    /// <paramref name="perSeed"/> once per seed, in order, each after its <see cref="ProgressLine"/> on <paramref name="log"/>
    /// (<paramref name="label"/>, e.g. the task, leads the line when given); the results in the seeds' order.
    /// </summary>
    public static IReadOnlyList<T> Run<T>(IReadOnlyList<int> seeds, Func<int, T> perSeed, TextWriter? log = null, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(perSeed);
        Check(seeds);
        var results = new List<T>(seeds.Count);
        try
        {
            for (var i = 0; i < seeds.Count; i++)
            {
                log?.WriteLine(ProgressLine(seeds[i], i, seeds.Count, label));
                results.Add(perSeed(seeds[i]));
            }
            return results;
        }
        catch
        {
            DisposeAll(results);
            throw;
        }
    }

    /// <summary>
    /// <see cref="Run{T}"/>, then <paramref name="summarise"/> over the per-seed results; when the summary fails, the
    /// per-seed results are disposed as for a failing seed.
    /// </summary>
    public static TResult Run<T, TResult>(IReadOnlyList<int> seeds, Func<int, T> perSeed, Func<IReadOnlyList<T>, TResult> summarise,
        TextWriter? log = null, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(summarise);
        var results = Run(seeds, perSeed, log, label);
        try
        {
            return summarise(results);
        }
        catch
        {
            DisposeAll(results);
            throw;
        }
    }

    static void DisposeAll<T>(IEnumerable<T> results)
    {
        foreach (var r in results)
            if (r is IDisposable d) d.Dispose();
    }
}
