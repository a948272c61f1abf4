using PDiff.Data;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Zoo;

public class CollectionTests
{
    /// <summary>A tiny labelled dataset from a random teacher, so the loss can fall.</summary>
    static ImageDataset Synthetic(int n, ulong seed)
    {
        using var g = new Generator(seed);
        var x = torch.randn(new long[] { n, 1, 28, 28 }, generator: g);
        using var w = torch.randn(new long[] { 784, 10 }, generator: g);
        using var flat = x.reshape(n, 784);
        using var logits = flat.matmul(w);
        var y = logits.argmax(1);
        return new ImageDataset("synthetic/train", x, y, new Normalization(0, 1), Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray());
    }

    static ImageClassifier Base() => ModelRegistry.Create(new ModelSpec { Arch = "resnet18", Width = 4 }, 5);

    [Fact]
    public void V2CollectsConsecutiveIterationsWithoutTouchingTheBase()
    {
        using var train = Synthetic(96, 1);
        using var model = Base();
        var layout = Subsets.Resolve(model, "last-two-norms");
        using var before = Subsets.Flatten(model, layout);
        var recipe = new CollectionRecipe { K = 4, BatchSize = 32, Lr = 0.05 };
        using var r = Collector.Collect(model, layout, train, recipe);
        Assert.Equal(new long[] { 4, layout.Length }, r.Vectors.shape);
        Assert.Equal(new long[] { 2, 3, 4, 5 }, r.Iterations); // V2-final: the first iteration is not saved
        Assert.Equal("layer4.1.bn1", r.CutStage);
        using var after = Subsets.Flatten(model, layout);
        Assert.Equal(before.data<float>().ToArray(), after.data<float>().ToArray());
        // Consecutive checkpoints differ from each other and from the base.
        var rows = Enumerable.Range(0, 4).Select(i => { using var row = r.Vectors.select(0, i); return row.data<float>().ToArray(); }).ToList();
        Assert.NotEqual(before.data<float>().ToArray(), rows[0]);
        Assert.NotEqual(rows[0], rows[1]);
        Assert.All(r.TrainLoss, l => Assert.True(double.IsFinite(l)));
        // Parameters outside the subset never moved: the frozen base is what later evaluation uses.
        Assert.True(model.named_parameters().All(p => p.parameter.requires_grad));
    }

    [Fact]
    public void SameSeedSameCheckpoints_OtherSeedOthers()
    {
        using var train = Synthetic(64, 2);
        using var model = Base();
        var layout = Subsets.Resolve(model, "last-two-norms");
        var recipe = new CollectionRecipe { K = 3, BatchSize = 16, Lr = 0.05, Seed = 7 };
        using var a = Collector.Collect(model, layout, train, recipe);
        using var b = Collector.Collect(model, layout, train, recipe);
        using var c = Collector.Collect(model, layout, train, recipe with { Seed = 8 });
        Assert.Equal(a.Vectors.data<float>().ToArray(), b.Vectors.data<float>().ToArray());
        Assert.NotEqual(a.Vectors.data<float>().ToArray(), c.Vectors.data<float>().ToArray());
    }

    [Fact]
    public void PrecomputedFrozenFeaturesGiveTheSameCheckpoints()
    {
        // 12 iterations × 16 rows over 48 images: each row is seen 4 times, so the cache is used.
        using var train = Synthetic(48, 3);
        using var model = Base();
        var layout = Subsets.Resolve(model, "bn14-16");
        var recipe = new CollectionRecipe { K = 11, BatchSize = 16, Lr = 0.05 };
        using var cached = Collector.Collect(model, layout, train, recipe);
        using var plain = Collector.Collect(model, layout, train, recipe with { CacheFeatures = false });
        Assert.True(cached.PrecomputedFeatures);
        Assert.False(plain.PrecomputedFeatures);
        using var diff = cached.Vectors.sub(plain.Vectors).abs().max();
        Assert.True(diff.ToDouble() <= 1e-6, $"cached and uncached collection differ by {diff.ToDouble():G3}");
    }

    [Fact]
    public void V1SavesEveryNIterationsAndReferenceSwitchesChangeTheTrajectory()
    {
        using var train = Synthetic(64, 4);
        using var model = Base();
        var layout = Subsets.Resolve(model, "last-two-norms");
        var v1 = CollectionRecipe.V1(3, 2) with { BatchSize = 16, Lr = 0.05 };
        using var r = Collector.Collect(model, layout, train, v1);
        Assert.Equal(new long[] { 2, 4, 6 }, r.Iterations);
        Assert.True(r.PrecomputedFeatures); // 6 × 16 rows over 64 images revisit rows
        using var quirk = Collector.Collect(model, layout, train, v1 with { EvalAfterFirstSave = true });
        using var allTrain = Collector.Collect(model, layout, train, v1 with { FrozenNormsTrain = true });
        using var r0 = r.Vectors.select(0, 0);
        using var q0 = quirk.Vectors.select(0, 0);
        Assert.Equal(r0.data<float>().ToArray(), q0.data<float>().ToArray()); // identical up to the first save …
        using var r2 = r.Vectors.select(0, 2);
        using var q2 = quirk.Vectors.select(0, 2);
        Assert.NotEqual(r2.data<float>().ToArray(), q2.data<float>().ToArray()); // … then eval-mode BN changes the steps
        Assert.False(allTrain.PrecomputedFeatures); // batch statistics in the frozen layers: not cacheable
        Assert.NotEqual(r.Vectors.data<float>().ToArray(), allTrain.Vectors.data<float>().ToArray());
    }

    [Fact]
    public void BufferSubsetsAreRejectedForCollection()
    {
        using var train = Synthetic(16, 5);
        using var model = Base();
        var layout = Subsets.Resolve(model, "layer4.1.bn1.running_var");
        var e = Assert.Throws<ArgumentException>(() => Collector.Collect(model, layout, train, new CollectionRecipe { K = 1 }));
        Assert.Contains("running_var", e.Message);
    }
}
