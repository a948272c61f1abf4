using System.Diagnostics;
using PDiff.Evaluation;
using PDiff.Models;
using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// Evaluating a p-diff run on its task: the originals, the generated models, their weight average and the
/// baselines scored and compared (<see cref="Evaluator"/>), with the zoo's own recipe as the fine-tuned baseline.
/// </summary>
public static class RunEvaluation
{
    /// <summary>
    /// Continues the zoo's collection recipe for <c>steps</c> iterations from a given vector: the paper's
    /// "fine-tuned" baseline (reference §4.6, inferred construction). Null for a zoo that records no recipe
    /// (imported checkpoints): the evaluator then skips that baseline and says so in the report.
    /// </summary>
    /// <param name="work">A copy of the base model (<c>ctx.Zoo.LoadBaseModel()</c>, owned by the caller) to train in for
    /// every call: loading the base model costs seconds, more than a short fine-tune. Reusing it is exact, since the
    /// collector puts back everything it changes (subset, running statistics, modes) and each call writes its start
    /// vector first. Without it each call loads a fresh copy.</param>
    public static Func<Tensor, int, Generator, Tensor>? FineTuner(TaskContext ctx, nn.Module<Tensor, Tensor>? work = null)
    {
        if (ctx.Zoo.Manifest.Recipe is not { } zooRecipe) return null;
        return (start, steps, g) =>
        {
            // A copy of the base model rebuilt from the zoo: any architecture, and the scorer's model stays untouched.
            using var fresh = work is null ? ctx.Zoo.LoadBaseModel() : null;
            var model = work ?? fresh!;
            Subsets.WriteBack(model, ctx.Zoo.Layout, start);
            var recipe = zooRecipe with { K = 1, SaveEvery = steps, SkipFirst = 0, Seed = PDiff.Models.Seeds.Next(g) };
            using var result = Collector.Collect(model, ctx.Zoo.Layout, ctx.Data.Train, recipe);
            return result.Vectors.select(0, 0).clone();
        };
    }

    /// <summary>Scores originals, generated models, ensemble and baselines; computes similarity, novelty, embeddings.</summary>
    public static EvaluationReport Evaluate(TaskContext ctx, PDiffRun run, EvaluationOptions? options = null, TextWriter? log = null)
    {
        var evaluator = new Evaluator(ctx.Scorer, options, FineTuner(ctx));
        var latents = new LatentInputs { Encoder = v => run.Model.EncodeVectors(v), Generated = run.Generation.Latents };
        var clock = Stopwatch.StartNew();
        var report = evaluator.Evaluate(run.Originals, run.Generation.Vectors, latents, ctx.Zoo.Manifest.Task);
        log?.WriteLine($"[eval] scored and compared in {clock.Elapsed.TotalSeconds:F1}s");
        return report;
    }
}
