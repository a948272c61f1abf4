using PDiff.Data;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Data;

public class SplitTests
{
    /// <summary>Unbalanced labels: class c has 10 + 7c members, interleaved.</summary>
    static byte[] Labels()
    {
        var l = new List<byte>();
        for (var c = 0; c < 10; c++) l.AddRange(Enumerable.Repeat((byte)c, 10 + 7 * c));
        // A fixed interleaving so class members are not contiguous.
        return l.Select((v, i) => (v, key: (i * 37) % l.Count)).OrderBy(t => t.key).Select(t => t.v).ToArray();
    }

    [Fact]
    public void QuotasAreExactAndProportional()
    {
        Assert.Equal(new[] { 1, 1, 1 }, Split.Quotas(new[] { 10, 10, 10 }, 3));
        // 7·{5,3,2}/10 = {3.5, 2.1, 1.4}: floors 3,2,1 and the one left goes to the largest remainder (class 0).
        Assert.Equal(new[] { 4, 2, 1 }, Split.Quotas(new[] { 5, 3, 2 }, 7));
        // Equal remainders go to the lower class.
        Assert.Equal(new[] { 1, 0 }, Split.Quotas(new[] { 1, 1 }, 1));
        Assert.Equal(new[] { 0, 0, 0 }, Split.Quotas(new[] { 4, 5, 6 }, 0));
        Assert.Equal(new[] { 4, 5, 6 }, Split.Quotas(new[] { 4, 5, 6 }, 15));
        // The real MNIST counts, 2,000 of 10,000: every quota within one of 0.2·n_c, total exact.
        var mnist = new[] { 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 };
        var q = Split.Quotas(mnist, 2000);
        Assert.Equal(2000, q.Sum());
        for (var c = 0; c < 10; c++) Assert.InRange(q[c] - 0.2 * mnist[c], -1, 1);
    }

    [Fact]
    public void StratifiedSplitIsDisjointCompleteBalancedAndSeeded()
    {
        var labels = Labels();
        var pool = Enumerable.Range(0, labels.Length).ToArray();
        using var g1 = new Generator(5);
        var (taken, remaining) = Split.Stratified(labels, pool, 100, 10, g1);

        Assert.Equal(100, taken.Length);
        Assert.Empty(taken.Intersect(remaining));
        Assert.Equal(pool, taken.Concat(remaining).OrderBy(i => i));
        Assert.Equal(taken.OrderBy(i => i), taken);
        var counts = Split.ClassCounts(labels, taken, 10);
        var all = Split.ClassCounts(labels, pool, 10);
        Assert.Equal(Split.Quotas(all, 100), counts);

        using var again = new Generator(5);
        Assert.Equal(taken, Split.Stratified(labels, pool, 100, 10, again).Taken);
        using var other = new Generator(6);
        var otherTaken = Split.Stratified(labels, pool, 100, 10, other).Taken;
        Assert.NotEqual(taken, otherTaken);
        Assert.Equal(counts, Split.ClassCounts(labels, otherTaken, 10));
    }

    [Fact]
    public void StratifiedSplitRejectsBadArguments()
    {
        var labels = Labels();
        using var g = new Generator(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => Split.Stratified(labels, new[] { 0, 1 }, 3, 10, g));
        Assert.Throws<ArgumentException>(() => Split.Stratified(labels, new[] { 0, 0 }, 1, 10, g));
        Assert.Throws<ArgumentException>(() => Split.Stratified(new byte[] { 11 }, new[] { 0 }, 0, 10, g));
    }

    [Fact]
    public void FingerprintTracksTheIndices()
    {
        var a = new SplitIndices(new[] { 1, 2 }, new[] { 3 }, new[] { 0 });
        Assert.Equal(a.Fingerprint, new SplitIndices(new[] { 1, 2 }, new[] { 3 }, new[] { 0 }).Fingerprint);
        Assert.NotEqual(a.Fingerprint, new SplitIndices(new[] { 1, 3 }, new[] { 2 }, new[] { 0 }).Fingerprint);
        // Moving an index across the boundary between lists changes it too.
        Assert.NotEqual(a.Fingerprint, new SplitIndices(new[] { 1 }, new[] { 2, 3 }, new[] { 0 }).Fingerprint);
    }

    [Fact]
    public void MnistSplitOnTheMiniFixtureKeepsTestFixedAcrossRunSeeds()
    {
        var (train, test) = Datasets.LoadRaw("mnist", DataFixtures.MnistMini);
        Assert.Same(train, test);
        var options = new DataOptions { MnistTestSize = 5, ValidationSize = 4 };
        var a = Datasets.MakeSplit("mnist", train, test, 1, options);
        var b = Datasets.MakeSplit("mnist", train, test, 1, options);
        var c = Datasets.MakeSplit("mnist", train, test, 2, options);

        Assert.Equal((10, 4, 5), (a.Train.Length, a.Validation.Length, a.Test.Length));
        Assert.Equal(Enumerable.Range(0, 19), a.Train.Concat(a.Validation).Concat(a.Test).OrderBy(i => i));
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.Equal(a.Test, c.Test);                    // test depends on TestSplitSeed only
        Assert.NotEqual(a.Validation, c.Validation);     // validation on the run seed
        var d = Datasets.MakeSplit("mnist", train, test, 1, options with { TestSplitSeed = 9 });
        Assert.NotEqual(a.Test, d.Test);
    }

    [Fact]
    public void UnknownDatasetAndBadSizesAreClearErrors()
    {
        var e = Assert.Throws<ArgumentException>(() => Datasets.Load("cifar10", 0));
        Assert.Contains("fashion-mnist, mnist", e.Message);
        Assert.Equal("fashion-mnist", Datasets.Canonical("Fashion_MNIST"));
        var raw = MnistDigits.LoadRaw(DataFixtures.MnistMini);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Datasets.MakeSplit("mnist", raw, raw, 0, new DataOptions { MnistTestSize = 5, ValidationSize = 20 }));
        Assert.Contains("ValidationSize", e2.Message);
    }
}

public class DatasetBuildTests
{
    [Fact]
    public void LoadBuildsNormalisedTensorsFromTheFashionFixture()
    {
        using var splits = Datasets.Load("fashion-mnist", 3, new DataOptions { Directory = DataFixtures.FashionMini, ValidationSize = 10 });
        Assert.Equal(new long[] { 10, 1, 28, 28 }, splits.Train.X.shape);
        Assert.Equal(new long[] { 10 }, splits.Validation.Y.shape);
        Assert.Equal(new long[] { 10, 1, 28, 28 }, splits.Test.X.shape);
        Assert.Equal(ScalarType.Float32, splits.Train.X.dtype);
        Assert.Equal(ScalarType.Int64, splits.Train.Y.dtype);
        // 20 images, 2 a class: validation takes one of each, train the other.
        Assert.Equal(Enumerable.Repeat(1, 10), splits.Info.ValidationPerClass);
        Assert.Equal(Enumerable.Repeat(1, 10), splits.Info.TrainPerClass);

        // The normalisation is the exact mean/std of the train bytes, and the tensor holds (b/255 − m)/s.
        var bytes = splits.Indices.Train.SelectMany(k => Enumerable.Range(0, 784).Select(p => (double)DataFixtures.FashionPixel(k, p))).ToArray();
        var mean = bytes.Average() / 255;
        var std = Math.Sqrt(bytes.Select(b => (b / 255 - mean) * (b / 255 - mean)).Average());
        Assert.Equal(mean, splits.Info.Normalization.Mean, 12);
        Assert.Equal(std, splits.Info.Normalization.Std, 12);

        var x = splits.Train.X.data<float>().ToArray();
        var y = splits.Train.Y.data<long>().ToArray();
        for (var r = 0; r < 10; r++)
        {
            var k = splits.Indices.Train[r];
            Assert.Equal(k % 10, y[r]);
            for (var p = 0; p < 784; p += 61)
                Assert.Equal((float)((DataFixtures.FashionPixel(k, p) / 255.0 - mean) / std), x[r * 784 + p], 5);
        }
        using var m = splits.Train.X.mean();
        using var s = splits.Train.X.std(null, unbiased: false);
        Assert.Equal(0, m.item<float>(), 4);
        Assert.Equal(1, s.item<float>(), 4);
        Assert.Equal(splits.Indices.Train, splits.Train.SourceIndices);
    }

    [Fact]
    public void SplitInfoRoundTripsThroughJsonAndRebuildsTheSameSplit()
    {
        var options = new DataOptions { Directory = DataFixtures.FashionMini, ValidationSize = 10, MaxTest = 5 };
        using var splits = Datasets.Load("fashion-mnist", 8, options);
        var json = System.Text.Json.JsonSerializer.Serialize(splits.Info);
        Assert.DoesNotContain("Black", json);
        var back = System.Text.Json.JsonSerializer.Deserialize<SplitInfo>(json)!;
        Assert.Equal((splits.Info.Dataset, splits.Info.Seed, splits.Info.TestSplitSeed, splits.Info.Fingerprint, splits.Info.Normalization),
            (back.Dataset, back.Seed, back.TestSplitSeed, back.Fingerprint, back.Normalization));
        Assert.Equal(splits.Info.TestPerClass, back.TestPerClass);
        Assert.Equal(5, back.Test);

        // The recorded seeds and sizes rebuild the same indices.
        var (train, test) = Datasets.LoadRaw(back.Dataset, DataFixtures.FashionMini);
        var again = Datasets.MakeSplit(back.Dataset, train, test, back.Seed,
            options with { ValidationSize = back.Validation, TestSplitSeed = back.TestSplitSeed });
        Assert.Equal(back.Fingerprint, again.Fingerprint);
    }

    [Fact]
    public void ImageDatasetValidatesItsTensors()
    {
        var norm = new Normalization(0.5, 0.25);
        using var x = torch.zeros(new long[] { 3, 1, 4, 4 });
        using var y = torch.zeros(new long[] { 2 }, ScalarType.Int64);
        var e = Assert.Throws<ArgumentException>(() => new ImageDataset("t", x, y, norm, new[] { "a" }));
        Assert.Contains("[3]", e.Message);
        using var yf = torch.zeros(new long[] { 3 });
        e = Assert.Throws<ArgumentException>(() => new ImageDataset("t", x, yf, norm, new[] { "a" }));
        Assert.Contains("int64", e.Message);
        Assert.Equal(-2.0, norm.Black);
    }

    [Fact]
    public void DatasetTensorsSurviveTheDisposeScopeTheyWereMadeIn()
    {
        ImageDataset d;
        using (torch.NewDisposeScope())
        {
            var raw = MnistDigits.LoadRaw(DataFixtures.MnistMini);
            d = ImageDataset.FromRaw("mnist/x", raw, new[] { 0, 5, 18 }, new Normalization(0.1, 0.3), MnistDigits.ClassNames);
        }
        using (d)
        {
            Assert.False(d.X.IsInvalid);
            Assert.Equal(new long[] { 0, 2, 9 }, d.Y.data<long>().ToArray());
            Assert.Equal(new long[] { 1, 0, 1, 0, 0, 0, 0, 0, 0, 1 }, d.ClassCounts());
        }
        Assert.True(d.X.IsInvalid);
    }
}
