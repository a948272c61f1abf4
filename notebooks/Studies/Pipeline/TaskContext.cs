using PDiff.Data;
using PDiff.Evaluation;
using PDiff.Models;
using PDiff.Zoo;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>
/// A zoo with what evaluating its vectors needs: data, the fixed base model (any architecture: ours, a
/// registered class, a TorchScript file) and a cached scorer.
/// </summary>
public sealed class TaskContext(ZooTask zoo, DataSplits data, nn.Module<Tensor, Tensor> model, CachedScorer scorer) : IDisposable
{
    public ZooTask Zoo { get; } = zoo;
    public DataSplits Data { get; } = data;
    public nn.Module<Tensor, Tensor> Model { get; } = model;
    /// <summary>What the base model is (the zoo's spec, a TorchScript source made absolute).</summary>
    public ModelSpec Spec => Zoo.Spec;
    public CachedScorer Scorer { get; } = scorer;

    /// <summary>The base model, its data and a cached scorer of subset vectors on validation and test.</summary>
    public static TaskContext Open(ZooTask zoo)
    {
        var data = zoo.LoadData();
        nn.Module<Tensor, Tensor>? model = null;
        try
        {
            model = zoo.LoadBaseModel();
            var scorer = new CachedScorer(model, zoo.Layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y));
            PrimeWithZooScores(zoo, scorer);
            return new TaskContext(zoo, data, model, scorer);
        }
        catch
        {
            model?.Dispose();
            data.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Gives the scorer the originals' scores the zoo's build measured (<see cref="ZooScores"/>), so evaluations do not
    /// score the K originals again. Only when the zoo was scored by this libtorch version (another may choose other
    /// kernels and flip near-tied predictions); the data split is the recorded one (<see cref="ZooTask.LoadData"/>).
    /// </summary>
    static void PrimeWithZooScores(ZooTask zoo, CachedScorer scorer)
    {
        if (zoo.Manifest.Torch != __version__ || zoo.LoadScores() is not { } scores) return;
        using var originals = zoo.LoadMatrix();
        scorer.Remember(originals, EvalSplit.Validation, scores.Validation);
        scorer.Remember(originals, EvalSplit.Test, scores.Test);
    }

    public void Dispose()
    {
        Scorer.Dispose();
        Model.Dispose();
        Data.Dispose();
    }
}
