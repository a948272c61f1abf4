using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>
/// Exponential moving average of a module's parameters: ema ← decay·ema + (1 − decay)·θ after each update
/// (buffers are copied, not averaged). The shadow is a full copy of the module made by the caller's
/// factory, so it can run forward itself (generation uses it) and be saved with the run's checkpoints.
/// </summary>
public sealed class Ema : IDisposable
{
    // (shadow, source) tensor pairs, looked up once: an update is then one lerp_/copy_ per tensor.
    readonly (Tensor Shadow, Tensor Source)[] parameters, buffers;
    public nn.Module Shadow { get; }
    public double Decay { get; }
    public long Updates { get; private set; }

    /// <param name="shadow">A module of the same architecture; its values are overwritten from <paramref name="source"/>.</param>
    /// <param name="copyNow">False keeps the shadow's current values (resuming an average restored from a checkpoint).</param>
    public Ema(nn.Module source, nn.Module shadow, double decay, bool copyNow = true)
    {
        if (decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(decay), decay, "EMA decay must be in [0, 1].");
        (Shadow, Decay) = (shadow, decay);
        parameters = Pair(shadow.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), source.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), "parameter");
        buffers = Pair(shadow.named_buffers(), source.named_buffers(), "buffer");
        using (no_grad())
        {
            if (copyNow)
                foreach (var (e, p) in parameters.Concat(buffers)) e.copy_(p);
            foreach (var (e, _) in parameters) e.requires_grad = false;
        }
        Shadow.eval();
    }

    static (Tensor, Tensor)[] Pair(IEnumerable<(string name, Tensor t)> shadow, IEnumerable<(string name, Tensor t)> source, string what)
    {
        var a = shadow.ToArray();
        var b = source.ToArray();
        if (a.Length != b.Length || a.Zip(b).Any(p => p.First.name != p.Second.name || !p.First.t.shape.SequenceEqual(p.Second.t.shape)))
            throw new ArgumentException($"EMA: the shadow's {what}s [{string.Join(", ", a.Select(x => x.name))}] do not match the source's [{string.Join(", ", b.Select(x => x.name))}]; build the shadow with the same architecture.");
        return a.Zip(b, (x, y) => (x.t, y.t)).ToArray();
    }

    public void Update() => Update(Decay);

    /// <summary>One update with a decay chosen by the caller (e.g. a warm-up schedule).</summary>
    public void Update(double decay)
    {
        if (decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(decay), decay, "EMA decay must be in [0, 1].");
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            // lerp_ takes its weight as a tensor here; one 0-dim tensor per dtype serves every parameter.
            Tensor? weight = null;
            foreach (var (e, p) in parameters)
            {
                if (weight is null || weight.dtype != e.dtype) weight = tensor(1 - decay, e.dtype, e.device);
                e.lerp_(p, weight);
            }
            foreach (var (e, b) in buffers)
                e.copy_(b);
        }
        Updates++;
    }

    /// <summary>Restores a saved count (the shadow's values are restored through its state dict).</summary>
    public void SetUpdates(long n) => Updates = n;

    public void Dispose() => Shadow.Dispose();
}
