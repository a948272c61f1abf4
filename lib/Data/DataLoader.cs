using System.Collections;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Data;

/// <summary>
/// One mini-batch: images X [B, C, H, W], labels Y [B] and the dataset rows they came from, Index [B].
/// Deconstructs as <c>var (x, y) = batch</c>.
/// </summary>
public sealed class Batch : IDisposable
{
    internal Batch(Tensor x, Tensor y, Tensor index)
    {
        X = x;
        Y = y;
        Index = index;
    }

    public Tensor X { get; }
    public Tensor Y { get; }
    public Tensor Index { get; }
    public long Size => Y.size(0);

    public void Deconstruct(out Tensor x, out Tensor y)
    {
        x = X;
        y = Y;
    }

    public void Dispose()
    {
        X.Dispose();
        Y.Dispose();
        Index.Dispose();
    }
}

/// <summary>
/// Mini-batches over a resident <see cref="ImageDataset"/>, as torch.utils.data.DataLoader with
/// shuffle, an explicit generator and drop_last. Each enumeration is one epoch. With shuffle it consumes
/// the generator exactly as PyTorch 1.13's DataLoader(shuffle=True, generator=g) does: one int64 draw
/// (the iterator's base seed), then randperm(N) for the order, and, once the epoch has run to its end,
/// a second randperm(N) that PyTorch's RandomSampler draws and discards. So the batches of every epoch
/// match a PyTorch loader seeded the same way (checked against PyTorch in the tests). Batches are
/// index_select calls on the dataset's tensors (no per-sample work in C#), followed by the augmentation
/// when one is given.
///
/// Ownership: a batch lives until the enumeration advances (or ends), then the loader frees it, so a
/// training loop holds one batch at a time whatever dispose scopes it uses. Clone what must outlive
/// the step, or pass <c>disposeBatches: false</c> and dispose each <see cref="Batch"/> yourself.
/// </summary>
public sealed class DataLoader : IEnumerable<Batch>
{
    public DataLoader(ImageDataset data, int batchSize, bool shuffle = false, Generator? generator = null,
        bool dropLast = false, Augmentation? augmentation = null, bool disposeBatches = true)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Batch size must be at least 1.");
        if (shuffle && generator == null)
            throw new ArgumentException("Shuffling needs an explicit seeded Generator (randomness is never implicit).", nameof(generator));
        Data = data;
        BatchSize = batchSize;
        Shuffle = shuffle;
        Generator = generator;
        DropLast = dropLast;
        Augmentation = augmentation;
        DisposeBatches = disposeBatches;
    }

    public ImageDataset Data { get; }
    public int BatchSize { get; }
    public bool Shuffle { get; }
    public Generator? Generator { get; }
    public bool DropLast { get; }
    public Augmentation? Augmentation { get; }
    public bool DisposeBatches { get; }

    /// <summary>Batches per epoch: ⌊N/B⌋ with drop_last, ⌈N/B⌉ without.</summary>
    public long Count => DropLast ? Data.Count / BatchSize : (Data.Count + BatchSize - 1) / BatchSize;

    /// <summary>The row order of the next epoch (draws from the generator when shuffling).</summary>
    Tensor EpochOrder()
    {
        var n = Data.Count;
        if (!Shuffle)
        {
            using Scalar start = 0, stop = n, step = 1;
            return torch.arange(start, stop, step, ScalarType.Int64, Data.Device);
        }
        // Drawn on the CPU, like every random number here, then moved: the same order on every device.
        torch.randint(0, long.MaxValue, new long[] { 1 }, generator: Generator!).Dispose(); // PyTorch's base-seed draw
        var perm = torch.randperm(n, generator: Generator!);
        if (Data.Device.type == DeviceType.CPU) return perm;
        using (perm) return perm.to(Data.Device);
    }

    public IEnumerator<Batch> GetEnumerator()
    {
        Tensor order;
        using (var scope = torch.NewDisposeScope()) order = EpochOrder().DetachFromDisposeScope();
        Batch? current = null;
        try
        {
            var n = Data.Count;
            for (long start = 0; start < n; start += BatchSize)
            {
                var size = Math.Min(BatchSize, n - start);
                if (size < BatchSize && DropLast) break;
                if (DisposeBatches) current?.Dispose();
                // A scope that opens and closes within this step frees the temporaries and leaves the
                // caller's scopes untouched; the batch itself is detached and owned as documented above.
                using (var scope = torch.NewDisposeScope())
                {
                    var index = order.narrow(0, start, size).contiguous();
                    var (x, y) = Data.Get(index);
                    if (Augmentation != null) x = Augmentation.Apply(x);
                    current = new Batch(x.DetachFromDisposeScope(), y.DetachFromDisposeScope(), index.DetachFromDisposeScope());
                }
                yield return current;
            }
            // RandomSampler's trailing randperm(n)[:0], drawn when the sampler is exhausted.
            if (Shuffle) torch.randperm(n, generator: Generator!).Dispose();
        }
        finally
        {
            if (DisposeBatches) current?.Dispose();
            order.Dispose();
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
