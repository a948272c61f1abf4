using PDiff.Engine;
using PDiff.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// The guard before lib/Zoo trains a module we did not write (a user's TorchSharp class, a TorchScript
/// file): libtorch 2.10's float32 convolutions are wrong for some channel counts on some CPUs, and only our
/// modules route theirs through <see cref="SafeConv"/> (<see cref="ISafeConvolutions"/>). Where
/// <see cref="ConvCheck.GradientsAreExact"/> fails, such a module is refused with the fix, unless it is
/// a TorchScript model whose training gradients on a real batch match float64 (its own shapes avoid the
/// bad kernels): training either runs exactly or does not start.
/// </summary>
public static class ForeignConvolutions
{
    /// <summary>Whether <paramref name="model"/> may run convolutions that do not go through SafeConv.</summary>
    public static bool MayConvolveUnsafely(nn.Module model)
    {
        if (model is ISafeConvolutions) return false;
        // A TorchScript model shows no layer types: a parameter of rank 3 or more may be a kernel.
        if (model.parameters().Any(p => p.dim() >= 3 && p.is_floating_point() && p.dtype != ScalarType.Float64)) return true;
        return model.modules().Any(m => m is Convolution && m is not ISafeConvolutions);
    }

    /// <summary>
    /// Returns when training <paramref name="trainable"/> (parameter names) of <paramref name="model"/> is
    /// exact in this process; throws <see cref="InvalidOperationException"/> naming <paramref name="what"/>,
    /// the problem and the fix otherwise. <paramref name="sample"/>: a training batch (for a TorchScript model's check).
    /// </summary>
    public static void Require(nn.Module<Tensor, Tensor> model, IReadOnlyCollection<string> trainable, Tensor sample, string what)
    {
        if (!MayConvolveUnsafely(model) || ConvCheck.GradientsAreExact()) return;
        if (model is TorchScriptModel script && TrainsExactly(script, trainable, sample)) return;
        throw new InvalidOperationException(ConvCheck.Refusal(what));
    }

    /// <summary>
    /// The gradients of <paramref name="trainable"/> on <paramref name="sample"/> in float32 against float64,
    /// in the model's current modes. TorchScript converts its tensors in place (the registered parameters
    /// stay the same objects), so the model is converted and back (exact), and buffers and flags restored.
    /// </summary>
    static bool TrainsExactly(TorchScriptModel model, IReadOnlyCollection<string> trainable, Tensor sample)
    {
        using var scope = NewDisposeScope();
        var named = model.named_parameters().ToList();
        var flags = named.Select(p => (p.parameter, p.parameter.requires_grad)).ToList();
        var buffers = model.named_buffers().Select(b => (b.buffer, saved: b.buffer.clone().DetachFromDisposeScope())).ToList();
        try
        {
            foreach (var (name, p) in named) p.requires_grad = trainable.Contains(name);
            var wanted = named.Where(p => trainable.Contains(p.name)).Select(p => (Tensor)p.parameter).ToList();
            if (wanted.Count == 0) return true;
            var g32 = Gradients(model, sample, wanted, ScalarType.Float32);
            model.to(ScalarType.Float64);
            var g64 = Gradients(model, sample, wanted, ScalarType.Float64);
            var scale = g64.Max(g => g?.norm().item<double>() ?? 0);
            foreach (var (a, b) in g32.Zip(g64))
            {
                if (a is null || b is null) continue;
                var err = a.to(ScalarType.Float64).sub(b).norm().item<double>() / (b.norm().item<double>() + 1e-4 * scale + 1e-30);
                if (!(err < 5e-3)) return false;
            }
            return true;
        }
        finally
        {
            model.to(ScalarType.Float32);
            using (no_grad())
                foreach (var (b, saved) in buffers) { b.copy_(saved); saved.Dispose(); }
            foreach (var (p, flag) in flags) p.requires_grad = flag;
        }
    }

    static List<Tensor?> Gradients(TorchScriptModel model, Tensor sample, IList<Tensor> wanted, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var logits = model.forward(sample.to(dtype));
        // A fixed, non-trivial weighting of the outputs: every logit's gradient path is exercised.
        using var weights = logits.detach().to(ScalarType.Float64).sin().to(dtype);
        var loss = logits.mul(weights).sum();
        var grads = torch.autograd.grad(new[] { loss }, wanted, allow_unused: true);
        return grads.Select(g => g is null || g.IsInvalid ? null : (Tensor?)g.to(ScalarType.Float64).MoveToOuterDisposeScope()).ToList();
    }
}
