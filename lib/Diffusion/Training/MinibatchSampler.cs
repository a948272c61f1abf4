using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>
/// Uniform minibatches from K training rows: a fresh random permutation per pass, consecutive slices of
/// it, the incomplete tail dropped (drop_last). This is what V2's "K·10⁶-item dataset" amounts to without
/// its 3·10⁸-entry permutation (reference §8-30); with batch ≥ K every batch is all K rows (V1).
/// The permutation and position are part of a training checkpoint, so a resumed run draws the same batches.
/// </summary>
public sealed class MinibatchSampler : IDisposable
{
    public long Rows { get; }
    public long Batch { get; }
    Tensor? perm;
    public long Position { get; private set; }

    public MinibatchSampler(long rows, long batch)
    {
        if (rows < 1) throw new ArgumentException("There are no training vectors to sample from (K = 0).");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "Batch size must be ≥ 1.");
        (Rows, Batch) = (rows, Math.Min(batch, rows));
    }

    /// <summary>Indices [b] (int64) of the next batch.</summary>
    public Tensor Next(Generator g)
    {
        if (perm is null || Position + Batch > Rows)
        {
            perm?.Dispose();
            perm = randperm(Rows, generator: g).DetachFromDisposeScope();
            Position = 0;
        }
        var idx = perm.narrow(0, Position, Batch);
        Position += Batch;
        return idx;
    }

    /// <summary>The current permutation (null before the first batch), for checkpoints.</summary>
    public Tensor? Permutation => perm;

    public void Restore(Tensor? permutation, long position)
    {
        if (permutation is not null && (permutation.dim() != 1 || permutation.size(0) != Rows || permutation.dtype != ScalarType.Int64))
            throw new InvalidDataException($"Checkpointed batch order has shape [{string.Join(", ", permutation.shape)}] ({permutation.dtype}); this run has {Rows} training vectors (an int64 permutation expected).");
        if (position < 0 || position > Rows) throw new InvalidDataException($"Checkpointed batch position {position} is outside 0 … {Rows}.");
        perm?.Dispose();
        perm = permutation?.clone().DetachFromDisposeScope();
        Position = position;
    }

    public void Dispose() => perm?.Dispose();
}
