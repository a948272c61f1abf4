using PDiff.TorchFixes;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Data;

/// <summary>
/// Batch augmentation for small-image classifiers: random crop after padding (torchvision's
/// RandomCrop(28, padding=p)) and, where the classes allow it, random horizontal flip. Both run as one
/// gather over the padded batch: no loop over samples, one index tensor, draws from an explicit Generator.
///
/// Flip is on for Fashion-MNIST and off for digits: a mirrored shirt, shoe or bag is still a shirt, shoe
/// or bag (the classes are left-right symmetric as categories), but a mirrored 2, 3, 4, 5, 7 or 9 is not a
/// digit any more (and a mirrored 1 or 7 can look like another class), so flipping digits teaches the
/// classifier images that do not exist in its test set.
/// </summary>
public sealed class Augmentation
{
    public Augmentation(int padding, double flipProbability, double padValue, Generator generator)
    {
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "Padding must be ≥ 0.");
        if (!(flipProbability >= 0 && flipProbability <= 1)) throw new ArgumentOutOfRangeException(nameof(flipProbability), flipProbability, "Flip probability must be in [0, 1].");
        Padding = padding;
        FlipProbability = flipProbability;
        PadValue = padValue;
        Generator = generator;
    }

    public int Padding { get; }
    public double FlipProbability { get; }
    /// <summary>The value padded in: the normalised black pixel, so padding means black borders as in torchvision.</summary>
    public double PadValue { get; }
    public Generator Generator { get; }

    /// <summary>Whether horizontal flips preserve the class of a dataset: yes for clothes, no for digits.</summary>
    public static bool FlipPreservesClass(string dataset) => dataset.StartsWith("fashion-mnist", StringComparison.OrdinalIgnoreCase);

    /// <summary>The standard recipe for <paramref name="data"/>: pad (default 2) and crop back; flip 0.5 for Fashion-MNIST only.</summary>
    public static Augmentation For(ImageDataset data, Generator generator, int padding = 2) =>
        new(padding, FlipPreservesClass(data.Name) ? 0.5 : 0.0, data.Normalization.Black, generator);

    /// <summary>A new augmented batch [B, C, H, W] from <paramref name="x"/>; draws crop offsets, then flips.</summary>
    public Tensor Apply(Tensor x)
    {
        var s = x.shape;
        if (s.Length != 4) throw new ArgumentException($"Augmentation expects a batch [B, C, H, W]; got {DataShapes.Format(s)}.", nameof(x));
        var b = s[0];
        using var scope = torch.NewDisposeScope();
        var dy = Padding > 0 ? torch.randint(0, 2 * Padding + 1, new[] { b }, generator: Generator) : torch.zeros(new[] { b }, ScalarType.Int64);
        var dx = Padding > 0 ? torch.randint(0, 2 * Padding + 1, new[] { b }, generator: Generator) : torch.zeros(new[] { b }, ScalarType.Int64);
        using Scalar p = FlipProbability;
        var flip = FlipProbability > 0
            ? torch.rand(new[] { b }, ScalarType.Float64, generator: Generator).lt(p)
            : torch.zeros(new[] { b }, ScalarType.Bool);
        return CropFlip(x, Padding, PadValue, dy, dx, flip).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The deterministic core: out[n, c, i, j] = pad(x)[n, c, dy[n] + i, dx[n] + j'] with j' = W−1−j where
    /// flip[n] and j otherwise. dy, dx are int64 [B] in [0, 2·padding]; flip is bool [B]. Padding 0 with
    /// no flips returns a copy of x; padding p with dy = dx = p and no flips too.
    /// </summary>
    public static Tensor CropFlip(Tensor x, int padding, double padValue, Tensor dy, Tensor dx, Tensor flip)
    {
        var s = x.shape;
        if (s.Length != 4) throw new ArgumentException($"CropFlip expects a batch [B, C, H, W]; got {DataShapes.Format(s)}.", nameof(x));
        long b = s[0], c = s[1], h = s[2], w = s[3];
        foreach (var (t, nm) in new[] { (dy, nameof(dy)), (dx, nameof(dx)), (flip, nameof(flip)) })
            if (t.dim() != 1 || t.size(0) != b)
                throw new ArgumentException($"{nm} must be [B] = [{b}]; got {DataShapes.Format(t.shape)}.", nm);
        var q = w + 2 * padding; // padded row length
        var dev = x.device;

        using var scope = torch.NewDisposeScope();
        var padded = (padding > 0 ? nn.functional.pad(x, new long[] { padding, padding, padding, padding }, value: padValue) : x)
            .reshape(b, c, (h + 2 * padding) * q);
        // The index arithmetic runs in float64 (exact for these small integers) and is converted once.
        using Scalar zero = 0, one = 1, rows = h * q, rowLength = q, width = w;
        var rowStart = torch.arange(zero, rows, rowLength, ScalarType.Float64, dev).view(1, h, 1); // i·Q
        var col = torch.arange(zero, width, one, ScalarType.Float64, dev).view(1, 1, w);         // j
        var flipped = col.flip(2);                                                              // W−1−j
        var cols = torch.where(flip.to(dev).view(b, 1, 1), flipped, col);                       // [B, 1, W]
        var offset = dy.to(dev).to(ScalarType.Float64).mul(rowLength).Plus(dx.to(dev).to(ScalarType.Float64)).view(b, 1, 1); // dy·Q + dx
        var index = offset.Plus(rowStart).Plus(cols).to(ScalarType.Int64)                         // [B, H, W]
            .reshape(b, 1, h * w).expand(b, c, h * w);
        return padded.gather(2, index).view(b, c, h, w).MoveToOuterDisposeScope();
    }
}
