using PDiff.Torch;

namespace PDiff.Nn;

/// <summary>
/// Exponential moving average of a module's parameters: ema ← decay·ema + (1 − decay)·θ after each update
/// (buffers are copied, not averaged). The shadow is a full copy of the module made by the caller's
/// factory, so it can run forward itself (generation uses it) and be saved with the run's checkpoints.
/// </summary>
public sealed class Ema : IDisposable
{
    readonly Module source;
    public Module Shadow { get; }
    public double Decay { get; }
    public long Updates { get; private set; }

    /// <param name="shadow">A module of the same architecture; its values are overwritten from <paramref name="source"/>.</param>
    /// <param name="copyNow">False keeps the shadow's current values (resuming an average restored from a checkpoint).</param>
    public Ema(Module source, Module shadow, double decay, bool copyNow = true)
    {
        if (decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(decay), decay, "EMA decay must be in [0, 1].");
        (this.source, Shadow, Decay) = (source, shadow, decay);
        if (copyNow) Shadow.load_state_dict(source.state_dict());
        Shadow.requires_grad_(false);
        Shadow.eval();
    }

    public void Update() => Update(Decay);

    /// <summary>One update with a decay chosen by the caller (e.g. a warm-up schedule).</summary>
    public void Update(double decay)
    {
        if (decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(decay), decay, "EMA decay must be in [0, 1].");
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            foreach (var ((_, e), (_, p)) in Shadow.named_parameters().Zip(source.named_parameters()))
                e.lerp_(p, 1 - decay);
            foreach (var ((_, e), (_, b)) in Shadow.named_buffers().Zip(source.named_buffers()))
                e.copy_(b);
        }
        Updates++;
    }

    /// <summary>Restores a saved count (the shadow's values are restored through its state dict).</summary>
    public void SetUpdates(long n) => Updates = n;

    public void Dispose() => Shadow.Dispose();
}
