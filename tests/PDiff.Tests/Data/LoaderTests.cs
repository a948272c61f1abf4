using PDiff.Data;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Data;

public class DataLoaderTests
{
    /// <summary>N images whose every pixel equals the row number, and label = row % 10.</summary>
    static ImageDataset Rows(int n, string name = "fashion-mnist/rows")
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.arange(0, n, 1, ScalarType.Float32).view(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous();
        var y = torch.tensor(Enumerable.Range(0, n).Select(i => (long)(i % 10)).ToArray());
        return new ImageDataset(name, x, y, new Normalization(0, 1), FashionMnist.ClassNames);
    }

    [Theory]
    [InlineData(103, 10, false, 11)]
    [InlineData(103, 10, true, 10)]
    [InlineData(100, 10, true, 10)]
    [InlineData(7, 10, false, 1)]
    [InlineData(7, 10, true, 0)]
    public void EachEpochCoversEveryRowOnceAndBatchesMatchTheRows(int n, int batch, bool dropLast, int batches)
    {
        using var data = Rows(n);
        using var g = new Generator(11);
        var loader = new DataLoader(data, batch, shuffle: true, generator: g, dropLast: dropLast);
        Assert.Equal(batches, loader.Count);
        var epochs = new List<long[]>();
        for (var epoch = 0; epoch < 2; epoch++)
        {
            var seen = new List<long>();
            var count = 0;
            foreach (var b in loader)
            {
                var (x, y) = b;
                count++;
                var idx = b.Index.data<long>().ToArray();
                Assert.Equal(new[] { idx.Length, 1L, 28, 28 }, x.shape);
                // Row r is filled with r: the first pixel of each sample names the row it came from.
                using var firstPixel = x.reshape(idx.Length, -1).select(1, 0);
                Assert.Equal(idx.Select(i => (float)i), firstPixel.data<float>().ToArray());
                Assert.Equal(idx.Select(i => i % 10), y.data<long>().ToArray());
                if (dropLast) Assert.Equal(batch, idx.Length);
                seen.AddRange(idx);
            }
            Assert.Equal(batches, count);
            Assert.Equal(seen.Count, seen.Distinct().Count());
            Assert.Equal(dropLast ? n / batch * batch : n, seen.Count);
            if (!dropLast) Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i), seen.OrderBy(i => i));
            epochs.Add(seen.ToArray());
        }
        if (epochs[0].Length > 2) Assert.NotEqual(epochs[0], epochs[1]); // a fresh order each epoch
    }

    [Fact]
    public void ShuffledOrderMatchesPyTorchDataLoaderEpochByEpoch()
    {
        // PyTorch 1.13: g = torch.Generator().manual_seed(7);
        // DataLoader(TensorDataset(torch.arange(13)), batch_size=4, shuffle=True, generator=g), three epochs.
        long[][] expected =
        {
            new long[] { 4, 3, 0, 10, 12, 2, 9, 5, 11, 7, 6, 1, 8 },
            new long[] { 6, 3, 11, 1, 7, 12, 8, 4, 9, 5, 0, 2, 10 },
            new long[] { 8, 4, 10, 0, 5, 1, 12, 2, 11, 9, 6, 3, 7 },
        };
        using var data = Rows(13);
        foreach (var dropLast in new[] { false, true })
        {
            using var g = new Generator(7);
            var loader = new DataLoader(data, 4, shuffle: true, generator: g, dropLast: dropLast);
            foreach (var want in expected)
            {
                var got = loader.SelectMany(b => b.Index.data<long>().ToArray()).ToArray();
                Assert.Equal(dropLast ? want[..12] : want, got);
            }
        }
    }

    [Fact]
    public void UnshuffledLoaderIsInOrderAndNeedsNoGenerator()
    {
        using var data = Rows(5);
        var loader = new DataLoader(data, 2);
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, loader.SelectMany(b => b.Index.data<long>().ToArray()));
        Assert.Throws<ArgumentException>(() => new DataLoader(data, 2, shuffle: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(data, 0));
    }

    [Fact]
    public void BatchesAreFreedAsTheEpochAdvancesUnlessKept()
    {
        using var data = Rows(6);
        var kept = new List<Batch>();
        Batch? last = null;
        foreach (var b in new DataLoader(data, 2))
        {
            if (last != null) Assert.True(last.X.IsInvalid);
            last = b;
        }
        Assert.True(last!.X.IsInvalid);

        foreach (var b in new DataLoader(data, 2, disposeBatches: false)) kept.Add(b);
        Assert.All(kept, b => Assert.False(b.X.IsInvalid));
        kept.ForEach(b => b.Dispose());
    }

    [Fact]
    public void LoaderAppliesTheAugmentation()
    {
        using var data = Rows(4);
        using var g = new Generator(1);
        var flipAll = new Augmentation(0, 1.0, 0, g);
        var loader = new DataLoader(data, 4, augmentation: flipAll);
        foreach (var (x, _) in loader)
        {
            using var expected = data.X.flip(3);
            Assert.True(x.allclose(expected));
        }
    }
}

public class AugmentationTests
{
    static Tensor Ramp(long b, long c = 1, long h = 28, long w = 28) =>
        torch.arange(0, b * c * h * w, 1, ScalarType.Float32).view(b, c, h, w);

    [Fact]
    public void CropFlipMatchesANaiveLoop()
    {
        const int pad = 2;
        const float padValue = -0.5f;
        using var x = Ramp(4, 2, 6, 5);
        var dyv = new long[] { 0, 4, 2, 1 };
        var dxv = new long[] { 3, 0, 2, 4 };
        var fv = new[] { false, true, false, true };
        using var dy = torch.tensor(dyv);
        using var dx = torch.tensor(dxv);
        using var flip = torch.tensor(fv);
        using var outT = Augmentation.CropFlip(x, pad, padValue, dy, dx, flip);
        Assert.Equal(new long[] { 4, 2, 6, 5 }, outT.shape);
        var o = outT.data<float>().ToArray();
        var src = x.data<float>().ToArray();
        for (var n = 0; n < 4; n++)
            for (var c = 0; c < 2; c++)
                for (var i = 0; i < 6; i++)
                    for (var j = 0; j < 5; j++)
                    {
                        var jj = fv[n] ? 4 - j : j;
                        int r = (int)dyv[n] + i - pad, q = (int)dxv[n] + jj - pad;
                        var want = r < 0 || r >= 6 || q < 0 || q >= 5 ? padValue : src[((n * 2 + c) * 6 + r) * 5 + q];
                        Assert.Equal(want, o[((n * 2 + c) * 6 + i) * 5 + j]);
                    }
    }

    [Fact]
    public void CentredCropIsTheIdentityAndFlipIsItsOwnInverse()
    {
        using var x = Ramp(3);
        using var centre = torch.full(new long[] { 3 }, 4, ScalarType.Int64);
        using var none = torch.zeros(new long[] { 3 }, ScalarType.Bool);
        using var all = torch.ones(new long[] { 3 }, ScalarType.Bool);
        using var same = Augmentation.CropFlip(x, 4, 0, centre, centre, none);
        Assert.True(same.allclose(x, 0, 0));

        using var zero = torch.zeros(new long[] { 3 }, ScalarType.Int64);
        using var once = Augmentation.CropFlip(x, 0, 0, zero, zero, all);
        using var reference = x.flip(3);
        Assert.True(once.allclose(reference, 0, 0));
        Assert.False(once.allclose(x, 0, 0));
        using var twice = Augmentation.CropFlip(once, 0, 0, zero, zero, all);
        Assert.True(twice.allclose(x, 0, 0));
    }

    [Fact]
    public void RandomAugmentationKeepsShapesIsSeededAndShiftsWithinThePadding()
    {
        using var x = Ramp(64);
        using var g1 = new Generator(3);
        using var g2 = new Generator(3);
        var a = new Augmentation(2, 0.5, -1, g1);
        using var y1 = a.Apply(x);
        using var y2 = new Augmentation(2, 0.5, -1, g2).Apply(x);
        Assert.Equal(x.shape, y1.shape);
        Assert.True(y1.allclose(y2, 0, 0));
        using var y3 = a.Apply(x);
        Assert.False(y1.allclose(y3, 0, 0));

        // On a ramp (pixel (i, j) of sample n holds n·784 + 28i + j) the centre of each output tells its
        // offsets: row 14 + dy − 2 and column (14 or, mirrored, 13) + dx − 2, with dy, dx in [0, 4]; the
        // neighbour to its right tells the mirroring (+1 plain, −1 mirrored).
        var o = y1.data<float>().ToArray();
        var rows = new HashSet<int>();
        int mirrored = 0;
        for (var n = 0; n < 64; n++)
        {
            var centre = (int)o[n * 784 + 14 * 28 + 14] - n * 784;
            int r = centre / 28, c = centre % 28;
            Assert.InRange(r, 12, 16);
            Assert.InRange(c, 11, 16);
            var step = o[n * 784 + 14 * 28 + 15] - o[n * 784 + 14 * 28 + 14];
            Assert.True(step == 1 || step == -1, $"sample {n}: step {step}");
            if (step < 0) mirrored++;
            rows.Add(r);
        }
        Assert.Equal(5, rows.Count);          // all five vertical offsets occur in 64 draws
        Assert.InRange(mirrored, 16, 48);     // about half are mirrored
    }

    [Fact]
    public void DigitsAreNeverFlippedClothesAre()
    {
        Assert.True(Augmentation.FlipPreservesClass("fashion-mnist/train"));
        Assert.False(Augmentation.FlipPreservesClass("mnist/train"));
        using var g = new Generator(0);
        var norm = new Normalization(0.1307, 0.3081);
        using var d = new ImageDataset("mnist/train", torch.zeros(new long[] { 1, 1, 28, 28 }), torch.zeros(new long[] { 1 }, ScalarType.Int64), norm, MnistDigits.ClassNames);
        var aug = Augmentation.For(d, g);
        Assert.Equal(0, aug.FlipProbability);
        Assert.Equal(2, aug.Padding);
        Assert.Equal(norm.Black, aug.PadValue);
    }
}
