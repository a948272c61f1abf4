using PDiff.Models;
using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Zoo;

/// <summary>Plain evaluation of a whole model (eval mode, no grad, batched).</summary>
public static class Accuracy
{
    /// <summary>Fraction of <paramref name="data"/> classified correctly, and the mean cross-entropy.</summary>
    public static (double Accuracy, double Loss) Evaluate(ImageClassifier model, LabeledImages data, int batchSize = 1000)
    {
        var wasTraining = model.training;
        model.eval();
        long correct = 0;
        double loss = 0;
        try
        {
            using (torch.no_grad())
                for (long s = 0; s < data.Count; s += batchSize)
                {
                    using var scope = torch.NewDisposeScope();
                    var n = Math.Min(batchSize, data.Count - s);
                    var logits = model.forward(data.X.narrow(0, s, n));
                    var y = data.Y.narrow(0, s, n);
                    correct += logits.argmax(1).eq(y).sum().item<long>();
                    loss += F.cross_entropy(logits, y, Reduction.Sum).item<double>();
                }
        }
        finally
        {
            model.train(wasTraining);
        }
        return data.Count == 0 ? (0, 0) : ((double)correct / data.Count, loss / data.Count);
    }
}
