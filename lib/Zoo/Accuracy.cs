using PDiff.TorchFixes;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Zoo;

/// <summary>
/// Plain evaluation of a whole model (eval mode, inference mode, batched); any image classifier module, its
/// convolutions exact (<see cref="ForeignConvolutions.Exact"/>).
/// </summary>
public static class Accuracy
{
    /// <summary>Fraction of <paramref name="data"/> classified correctly, and the mean cross-entropy.</summary>
    public static (double Accuracy, double Loss) Evaluate(nn.Module<Tensor, Tensor> model, LabeledImages data, int batchSize = 1000)
    {
        using var exact = ForeignConvolutions.Exact(model, $"Evaluating {ForeignConvolutions.Name(model)}");
        var modes = PDiff.Models.ModuleTree.Modes(model);
        model.eval();
        long correct = 0;
        double loss = 0;
        try
        {
            using (torch.inference_mode())
                for (long s = 0; s < data.Count; s += batchSize)
                {
                    using var scope = torch.NewDisposeScope();
                    var n = Math.Min(batchSize, data.Count - s);
                    var logits = model.forward(data.X.narrow(0, s, n));
                    var y = data.Y.narrow(0, s, n);
                    correct += logits.argmax(1).eq(y).sum().ReadInt64();
                    loss += F.cross_entropy(logits, y, reduction: nn.Reduction.Sum).ReadDouble();
                }
        }
        finally
        {
            PDiff.Models.ModuleTree.RestoreModes(modes);
        }
        return data.Count == 0 ? (0, 0) : ((double)correct / data.Count, loss / data.Count);
    }
}
