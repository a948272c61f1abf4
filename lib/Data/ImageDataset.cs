using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Data;

/// <summary>
/// Per-channel normalisation x ↦ (b/255 − Mean)/Std, as torchvision's ToTensor + Normalize.
/// Measured on the training split only, so no statistic of validation or test leaks into training.
/// <see cref="Unit"/> (mean 0, std 1) is no normalisation at all: raw pixels b/255, what a network trained
/// on ToTensor alone expects (a user's model may; a model spec says so with <c>Input = "unit"</c>).
/// </summary>
public sealed record Normalization(double Mean, double Std)
{
    /// <summary>x = b/255 in [0, 1]: the float32 quotient, bit for bit what PyTorch's <c>u8 / 255.0</c> in float32 gives.</summary>
    public static Normalization Unit { get; } = new(0, 1);

    /// <summary>True for <see cref="Unit"/> (no standardisation).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsUnit => Mean == 0 && Std == 1;

    /// <summary>What a black (0) pixel becomes: the value that zero padding in pixel space maps to.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public double Black => -Mean / Std;

    /// <summary>
    /// Mean and population standard deviation (divide by n: there are ~10⁷ pixels, so n−1 changes
    /// nothing) of the pixels of the given images, from exact integer sums of the bytes.
    /// </summary>
    public static Normalization Measure(RawImages source, IReadOnlyList<int> indices)
    {
        if (indices.Count == 0) throw new ArgumentException($"Cannot measure the normalisation of {source.Name} on zero images.", nameof(indices));
        long sum = 0, squares = 0;
        foreach (var i in indices)
            foreach (var b in source.Image(i)) { sum += b; squares += b * b; }
        double n = (double)indices.Count * source.Pixels;
        var mean = sum / n;
        var variance = squares / n - mean * mean;
        if (!(variance > 0)) throw new ArgumentException($"The {indices.Count} images of {source.Name} are constant; they cannot be normalised.", nameof(indices));
        return new Normalization(mean / 255, Math.Sqrt(variance) / 255);
    }
}

/// <summary>
/// A whole split resident in memory: images float32 [N, 1, H, W], normalised, and labels int64 [N].
/// Owns its two tensors (they are kept out of any dispose scope); dispose the dataset to free them.
/// </summary>
public sealed class ImageDataset : IDisposable
{
    /// <summary>Takes ownership of <paramref name="x"/> [N, C, H, W] float32 and <paramref name="y"/> [N] int64.</summary>
    public ImageDataset(string name, Tensor x, Tensor y, Normalization normalization, IReadOnlyList<string> classNames, int[]? sourceIndices = null)
    {
        var xs = x.shape;
        var ys = y.shape;
        if (xs.Length != 4) throw new ArgumentException($"{name}: images must be [N, C, H, W]; got {DataShapes.Format(xs)}.", nameof(x));
        if (ys.Length != 1 || ys[0] != xs[0]) throw new ArgumentException($"{name}: labels must be [N] = [{xs[0]}]; got {DataShapes.Format(ys)}.", nameof(y));
        if (x.dtype != ScalarType.Float32) throw new ArgumentException($"{name}: images must be float32; got {x.dtype}.", nameof(x));
        if (y.dtype != ScalarType.Int64) throw new ArgumentException($"{name}: labels must be int64 (class indices, as cross_entropy wants); got {y.dtype}.", nameof(y));
        if (sourceIndices != null && sourceIndices.Length != xs[0])
            throw new ArgumentException($"{name}: {sourceIndices.Length} source indices for {xs[0]} images.", nameof(sourceIndices));
        Name = name;
        X = x.DetachFromDisposeScope();
        Y = y.DetachFromDisposeScope();
        Normalization = normalization;
        ClassNames = classNames;
        SourceIndices = sourceIndices;
    }

    public string Name { get; }
    public Tensor X { get; }
    public Tensor Y { get; }
    public Normalization Normalization { get; }
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>Row i of X is image SourceIndices[i] of the raw source (null when built from tensors).</summary>
    public int[]? SourceIndices { get; }
    public long Count => X.size(0);
    public int Classes => ClassNames.Count;
    public Device Device => X.device;

    /// <summary>
    /// The images <paramref name="indices"/> of <paramref name="source"/>, normalised. The float values are
    /// those of torchvision's ToTensor + Normalize in float32 (a 256-entry table computed the same way),
    /// filled chunk by chunk so the peak extra memory is one chunk, not a second copy of the split.
    /// </summary>
    public static ImageDataset FromRaw(string name, RawImages source, int[] indices, Normalization norm, IReadOnlyList<string> classNames)
    {
        var pixels = source.Pixels;
        var table = new float[256];
        float mean = (float)norm.Mean, std = (float)norm.Std;
        for (var b = 0; b < 256; b++) table[b] = ((float)b / 255f - mean) / std;

        var n = indices.Length;
        var labels = new long[n];
        using var scope = torch.NewDisposeScope();
        var x = torch.empty(new long[] { n, 1, source.Height, source.Width }, ScalarType.Float32);
        using var pixelsOut = x.data<float>();
        const int ChunkImages = 2048;
        var chunk = new float[Math.Min(n, ChunkImages) * pixels];
        for (var start = 0; start < n; start += ChunkImages)
        {
            var count = Math.Min(ChunkImages, n - start);
            for (var k = 0; k < count; k++)
            {
                var idx = indices[start + k];
                if ((uint)idx >= (uint)source.Count)
                    throw new ArgumentOutOfRangeException(nameof(indices), idx, $"{source.Name} has {source.Count} images.");
                labels[start + k] = source.Labels[idx];
                var src = source.Image(idx);
                var dst = chunk.AsSpan(k * pixels, pixels);
                for (var p = 0; p < pixels; p++) dst[p] = table[src[p]];
            }
            pixelsOut.CopyFrom(new ReadOnlySpan<float>(chunk, 0, count * pixels), 0, (long)start * pixels);
        }
        var y = torch.tensor(labels);
        return new ImageDataset(name, x, y, norm, classNames, (int[])indices.Clone());
    }

    /// <summary>A copy on another device (the loader's index_select then runs there).</summary>
    public ImageDataset To(Device device) => new(Name, X.to(device), Y.to(device), Normalization, ClassNames, SourceIndices);

    /// <summary>The images and labels at <paramref name="index"/> (int64, on this dataset's device).</summary>
    public (Tensor x, Tensor y) Get(Tensor index) => (X.index_select(0, index), Y.index_select(0, index));

    /// <summary>Images per class, counted on the labels tensor.</summary>
    public long[] ClassCounts()
    {
        var counts = new long[Classes];
        using var onCpu = Y.cpu();
        foreach (var l in onCpu.data<long>()) counts[l]++;
        return counts;
    }

    public void Dispose()
    {
        X.Dispose();
        Y.Dispose();
    }

    public override string ToString() =>
        $"{Name}: {Count} images {DataShapes.Format(X.shape)} on {Device}, {Classes} classes, mean {Normalization.Mean:F4} std {Normalization.Std:F4}";
}
