namespace PDiff.Studies;

/// <summary>
/// Notebook 11's chart: minutes per stage group, our samplers' and, where a measured equal-work result
/// (<see cref="EqualWorkResult"/>, bench/equal-work.sh) has the same sampler, PyTorch's beside them.
/// </summary>
public static class StageComparison
{
    /// <summary>The six groups the chart draws: the zoo's scoring counts as evaluation, each sampler's sampling as "sampling".</summary>
    public static IReadOnlyList<string> Groups { get; } = new[]
    {
        "base training", "collection", "autoencoder training", "denoiser training", "sampling", "evaluation (originals + generated)",
    };

    /// <summary>Our stages for sampler <paramref name="i"/>: the shared ones, its sampling and its evaluation, as (name, wall seconds).</summary>
    public static IReadOnlyList<(string Stage, double Seconds)> StagesOf(TimedRun run, int i) =>
        run.Stages.Concat(new[] { run.Samplers[i].Sampling, run.Samplers[i].Evaluation }).Select(s => (s.Stage, s.Seconds)).ToList();

    /// <summary>
    /// Stages named as notebook 11 names them (wall seconds) in <see cref="Groups"/>, in minutes, for the sampler
    /// <paramref name="sampler"/>: its "sampling, …" and "evaluation, …" stages, the other samplers' left out.
    /// </summary>
    public static IReadOnlyList<double> GroupedMinutes(IReadOnlyList<(string Stage, double Seconds)> stages, string sampler)
    {
        double Of(params string[] names) => stages.Where(s => names.Contains(s.Stage)).Sum(s => s.Seconds) / 60;
        return new[]
        {
            Of("base training"), Of("collection"), Of("autoencoder training"), Of("denoiser training"),
            Of($"sampling, {sampler}"), Of($"evaluation, {sampler}", "scoring the zoo"),
        };
    }

    /// <summary>The chart of a timed run: each sampler's stages (<see cref="StagesOf"/>) beside PyTorch's measured ones.</summary>
    public static PDiff.Plots.Figure Chart(TimedRun run, EqualWorkResult? pytorch = null) =>
        Chart(run.Task.ToString(), run.Samplers.Select((s, i) => (s.Name, StagesOf(run, i))).ToList(), pytorch);

    /// <summary>
    /// Horizontal bars of minutes per stage group for each of our samplers (name and stages), each preceded by PyTorch's
    /// bar for the same sampler when <paramref name="pytorch"/> (a measured equal-work result) has it; no PyTorch bar otherwise.
    /// </summary>
    public static PDiff.Plots.Figure Chart(string task, IReadOnlyList<(string Sampler, IReadOnlyList<(string Stage, double Seconds)> Stages)> ours,
        EqualWorkResult? pytorch = null)
    {
        var fig = new PDiff.Plots.Figure();
        void Add(string name, IReadOnlyList<double> minutes) => fig.Add(new PDiff.Plots.Bar
        {
            Name = $"{name}: {minutes.Sum():F1} min", Orientation = "h", Y = Groups.ToList(), X = minutes.Select(m => Math.Round(m, 2)).ToArray(),
        });
        foreach (var (sampler, stages) in ours)
        {
            if (pytorch is not null && pytorch.Has(sampler))
                Add($"PyTorch {pytorch.TorchVersion} eager, {sampler} (bench of {pytorch.Date})", GroupedMinutes(pytorch.PyTorchStages, sampler));
            Add($"PDiff.NET, {sampler}", GroupedMinutes(stages, sampler));
        }
        fig.Layout.BarMode = "group";
        return fig.WithTitles($"{task}: minutes per stage on this machine", "minutes", null);
    }
}
