using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.TorchFixes;

/// <summary>
/// The update steps of TorchSharp's <see cref="AdamW"/> and <see cref="SGD"/>, written with Scalars that are
/// made explicitly and disposed after the native calls that read them. Call <c>OptimizerSteps.Step(opt)</c>
/// instead of <c>opt.step()</c>. The optimizer objects keep every other role: they hold the parameter
/// groups, the learning rate (schedules and callers set it on <c>ParamGroups</c>), the state (moments, step
/// counts, momentum buffers) and its file format (<c>save_state_dict</c>/<c>load_state_dict</c>).
/// </summary>
/// <remarks>
/// Why: TorchSharp 0.107's own <c>step()</c> turns C# numbers into Scalars implicitly (AdamW's
/// <c>addcmul_(g, g, 1 − β₂)</c>, SGD's <c>add_(g, alpha: −lr)</c>). Such a Scalar is freed only by its
/// finalizer, and its handle goes to libtorch without the object being kept alive, so a garbage collection
/// started by another thread during the call can free it while libtorch reads it (docs/design-notes.md,
/// "Scalars and the garbage collector"). The arithmetic and its order are TorchSharp's, which are PyTorch's
/// single-tensor (<c>foreach=False</c>) updates: the results are bit for bit those of <c>opt.step()</c>.
/// <para>AdamW (PyTorch's documented algorithm, decoupled weight decay):
/// θ ← θ(1 − lr·λ); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; θ ← θ − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε).</para>
/// <para>SGD: g ← g + λθ; with momentum μ, b ← g at the first step, else b ← μb + (1 − dampening)g, and
/// g ← g + μb (Nesterov) or g ← b; θ ← θ − lr·g.</para>
/// Parameters without a gradient are skipped, weight decay included, as in PyTorch. AMSGrad and
/// <c>maximize</c>, which no recipe of ours uses, are refused rather than half done.
/// </remarks>
public static class OptimizerSteps
{
    /// <summary>One step of <paramref name="optimizer"/> (an <see cref="AdamW"/> or an <see cref="SGD"/>).</summary>
    public static void Step(optim.Optimizer optimizer)
    {
        switch (optimizer)
        {
            case AdamW adamW: Step(adamW); break;
            case SGD sgd: Step(sgd); break;
            case null: throw new ArgumentNullException(nameof(optimizer));
            default: throw new NotSupportedException($"OptimizerSteps has no step for {optimizer.GetType().Name}; use AdamW or SGD, or add its step here (TorchSharp's own step() is not safe from the garbage collector).");
        }
    }

    /// <summary>One AdamW step over every parameter group.</summary>
    public static void Step(AdamW optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var states = States(optimizer).GetEnumerator();
        foreach (var (group, parameters) in Groups(optimizer))
        {
            var o = (AdamW.Options)group.Options;
            if (o.amsgrad == true || o.maximize == true)
                throw new NotSupportedException("OptimizerSteps: AdamW with amsgrad or maximize is not implemented; no recipe of ours uses them.");
            double lr = o.LearningRate!.Value, beta1 = o.beta1!.Value, beta2 = o.beta2!.Value, weightDecay = o.weight_decay!.Value;
            using Scalar decay = 1 - lr * weightDecay, b1 = beta1, gradWeight = 1 - beta1, b2 = beta2, squareWeight = 1 - beta2, eps = o.eps!.Value;
            foreach (var p in parameters)
            {
                var state = (AdamW.State)NextState(states);
                var grad = p.grad;
                if (grad is null) continue;
                state.step += 1;
                if (weightDecay != 0) p.mul_(decay);   // ×1 would change nothing
                var biasCorrection1 = 1 - Math.Pow(beta1, state.step);
                var biasCorrection2 = 1 - Math.Pow(beta2, state.step);
                state.exp_avg.mul_(b1).add_(grad, alpha: gradWeight);
                state.exp_avg_sq.mul_(b2).addcmul_(grad, grad, value: squareWeight);
                using Scalar rootCorrection2 = Math.Sqrt(biasCorrection2), minusStepSize = -(lr / biasCorrection1);
                var denominator = state.exp_avg_sq.sqrt().div_(rootCorrection2).add_(eps, SafeOps.One);
                p.addcdiv_(state.exp_avg, denominator, value: minusStepSize);
            }
        }
    }

    /// <summary>One SGD step (momentum, dampening, Nesterov, weight decay) over every parameter group.</summary>
    public static void Step(SGD optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var states = States(optimizer).GetEnumerator();
        foreach (var (group, parameters) in Groups(optimizer))
        {
            var o = (SGD.Options)group.Options;
            if (o.maximize == true) throw new NotSupportedException("OptimizerSteps: SGD with maximize is not implemented; no recipe of ours uses it.");
            double lr = o.LearningRate!.Value, momentum = o.momentum!.Value, dampening = o.dampening!.Value, weightDecay = o.weight_decay!.Value;
            var nesterov = o.nesterov == true;
            using Scalar decay = weightDecay, mu = momentum, gradWeight = 1 - dampening, minusLr = -lr;
            foreach (var p in parameters)
            {
                var state = (SGD.State)NextState(states);
                var grad = p.grad;
                if (grad is null) continue;
                if (weightDecay != 0) grad = grad.add(p, alpha: decay);
                if (momentum != 0)
                {
                    var buffer = state.momentum_buffer;
                    if (buffer is null)
                        state.momentum_buffer = buffer = grad.clone().detach().DetachFromDisposeScope();
                    else
                        buffer.mul_(mu).add_(grad, alpha: gradWeight);
                    grad = nesterov ? grad.add(buffer, alpha: mu) : buffer;
                }
                p.add_(grad, alpha: minusLr);
            }
        }
    }

    static IEnumerable<(ParamGroup Group, IReadOnlyList<Parameter> Parameters)> Groups(OptimizerHelper optimizer) =>
        optimizer.ParamGroups.Cast<ParamGroup>().Select(g => (g, (IReadOnlyList<Parameter>)g.Parameters.ToList()));

    /// <summary>The per-parameter states, in the order of the groups' parameters (how state_dict lists them).</summary>
    static IEnumerable<OptimizerState> States(OptimizerHelper optimizer) => optimizer.state_dict().State;

    static OptimizerState NextState(IEnumerator<OptimizerState> states) =>
        states.MoveNext() ? states.Current : throw new InvalidOperationException("OptimizerSteps: the optimizer holds fewer states than parameters.");
}
