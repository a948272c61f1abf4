using PDiff.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>Multiply-adds of one stage of a network's forward pass on one image.</summary>
public sealed record StageMultiplyAdds(string Stage, long MultiplyAdds);

/// <summary>
/// Counts the multiply-adds of a network's forward pass on one image, stage by stage, for the cost accounting of a
/// run (each stage's work against the machine's matrix-multiply peak). Convolutions and linear layers only:
/// norms, activations and pools do a few operations an element, noise next to them. Counted by running the stages
/// on one blank image, so every output size is the real one: a convolution costs its weight's element count
/// (c_out · c_in/groups · k_h · k_w) at every output position (the stage's output elements over c_out: a stage's
/// convolutions all end at its output resolution, as in ConvNet-3 and ResNet blocks); a linear layer costs its
/// weight's element count per row (the stage output's elements over its last dimension: 1 for an image, T for
/// T tokens). Attention's own matrix products and any module not a Conv2d or Linear (a TorchScript file's) are not
/// counted: <see cref="Counted"/> says whether anything was.
/// </summary>
public static class ModelCost
{
    public static IReadOnlyList<StageMultiplyAdds> PerStage(nn.Module<Tensor, Tensor> model, ModelSpec spec)
    {
        var stages = StagePlan.Of(model);
        var modules = model.named_modules().ToList();
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var dtype = model.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
            var a = new Activations(zeros(1, spec.InChannels, spec.ImageSize, spec.ImageSize, dtype));
            var result = new List<StageMultiplyAdds>();
            foreach (var stage in stages)
            {
                var next = stage.Run(a);
                var output = next.Main;
                long macs = 0;
                foreach (var (name, m) in modules)
                {
                    if (!stage.Uses.Any(u => name == u || name.StartsWith(u + ".", StringComparison.Ordinal))) continue;
                    macs += m switch
                    {
                        Conv2d c => c.weight!.numel() * (output.numel() / c.weight!.size(0)),
                        Linear l => l.weight!.numel() * (output.numel() / output.size(-1)),
                        _ => 0,
                    };
                }
                result.Add(new StageMultiplyAdds(stage.Name, macs));
                a.Dispose();
                a = next;
            }
            a.Dispose();
            return result;
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Multiply-adds of one image's forward pass: the sum over <see cref="PerStage"/>.</summary>
    public static long Forward(IReadOnlyList<StageMultiplyAdds> stages) => stages.Sum(s => s.MultiplyAdds);

    /// <summary>Multiply-adds of one image's forward pass from stage <paramref name="from"/> on (a suffix, as the cached scorer runs).</summary>
    public static long From(IReadOnlyList<StageMultiplyAdds> stages, int from) => stages.Skip(from).Sum(s => s.MultiplyAdds);

    /// <summary>Whether any stage was counted (false for a network we cannot see into, e.g. TorchScript).</summary>
    public static bool Counted(IReadOnlyList<StageMultiplyAdds> stages) => stages.Any(s => s.MultiplyAdds > 0);
}
