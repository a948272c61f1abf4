using PDiff.Data;
using PDiff.TorchFixes;
using PDiff.Models;
using PDiff.Zoo;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Zoo;

/// <summary>
/// Subsets, scoring and collection find tensors by name, so they work on a network that is not one of
/// ours: a TorchScript file (the user's CNN of fixtures/byo_cnn, scripted by PyTorch 1.13) and a plain
/// TorchSharp module class.
/// </summary>
public class AnyModuleTests
{
    static string Script => Path.Combine(AppContext.BaseDirectory, "fixtures", "byo_cnn", "model.pt");

    static string[] Names(SubsetLayout l) => l.Tensors.Select(t => t.Name).ToArray();

    /// <summary>
    /// A user's own classifier: conv → bn → ReLU → pool → linear, no stages declared. Its convolution runs
    /// through SafeConv (and says so), as lib/Zoo asks of a module it trains where libtorch's float32
    /// convolutions are not exact (ForeignConvolutionsTests).
    /// </summary>
    sealed class TinyNet : nn.Module<Tensor, Tensor>, ISafeConvolutions
    {
        readonly Conv2d conv;
        readonly BatchNorm2d bn;
        readonly Linear head;

        public TinyNet(Generator g) : base(nameof(TinyNet))
        {
            conv = Layers.Conv2d(1, 16, 3, g, padding: 1);
            bn = nn.BatchNorm2d(16);
            head = Layers.Linear(16 * 7 * 7, 10, g);
            register_module("conv", conv);
            register_module("bn", bn);
            register_module("head", head);
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = nn.functional.avg_pool2d(bn.forward(SafeConv.Conv(x, conv)).relu(), 4);
            return head.forward(h.flatten(1)).MoveToOuterDisposeScope();
        }
    }

    static (LabeledImages Val, LabeledImages Test) Data()
    {
        using var g = new Generator(21);
        return (new LabeledImages(randn(new long[] { 48, 1, 28, 28 }, generator: g).DetachFromDisposeScope(), randint(0, 10, new long[] { 48 }, generator: g).DetachFromDisposeScope()),
                new LabeledImages(randn(new long[] { 30, 1, 28, 28 }, generator: g).DetachFromDisposeScope(), randint(0, 10, new long[] { 30 }, generator: g).DetachFromDisposeScope()));
    }

    static Tensor NearbyVectors(nn.Module m, SubsetLayout l, int count)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(4);
        var v = Subsets.Flatten(m, l);
        return stack(Enumerable.Range(0, count).Select(i => v.add(randn(new[] { l.Length }, generator: g).mul(0.5 * i))).ToList()).MoveToOuterDisposeScope();
    }

    static ImageDataset Synthetic(int n)
    {
        using var g = new Generator(8);
        var x = randn(new long[] { n, 1, 28, 28 }, generator: g);
        var y = randint(0, 10, new long[] { n }, generator: g);
        return new ImageDataset("synthetic/train", x, y, new Normalization(0, 1), Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray());
    }

    [Fact]
    public void PresetsResolveOnATorchScriptModelByName()
    {
        using var m = TorchScriptModel.Load(Script);
        Assert.Equal(new[] { "bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias" }, Names(Subsets.Resolve(m, "last-two-norms")));
        Assert.Equal(new[] { "fc.weight", "fc.bias" }, Names(Subsets.Resolve(m, "classifier")));
        Assert.Equal(new[] { "conv1.weight", "conv1.bias" }, Names(Subsets.Resolve(m, "first-conv")));
        Assert.Equal(new[] { "bn2.weight", "bn2.bias", "fc.bias" }, Names(Subsets.Resolve(m, "fc.bias,bn2")));
        var e = Assert.Throws<ArgumentException>(() => Subsets.Resolve(m, "layer9"));
        Assert.Contains("conv2", e.Message);
    }

    [Fact]
    public void ScoringATorchScriptModelMatchesItsForwardPassAndLeavesItAsItWas()
    {
        using var m = TorchScriptModel.Load(Script);
        var layout = Subsets.Resolve(m, "last-two-norms");
        var (val, test) = Data();
        using var vectors = NearbyVectors(m, layout, 4);
        using var before = Subsets.Flatten(m, layout);
        var full = new FullScorer(m, layout, val, test, batchSize: 20);
        using var cached = new CachedScorer(m, layout, val, test, batchSize: 20, rowsPerForward: 50, maxStack: 3);
        Assert.Equal("forward", cached.CutStageName); // no declared stages: the whole pass is one
        using var lf = full.Logits(vectors, EvalSplit.Test);
        using var lc = cached.Logits(vectors, EvalSplit.Test);
        Assert.Equal(new long[] { 4, 30, 10 }, lc.shape);
        Assert.True(lf.allclose(lc, 1e-5, 1e-5));
        using var first = lf.select(0, 0);
        using var last = lf.select(0, 3);
        Assert.False(first.allclose(last, 1e-3, 1e-3));
        // Row 0 is the model's own vector: its logits are the script's plain forward pass.
        m.eval();
        using (no_grad())
        using (var own = m.forward(test.X))
            Assert.True(own.allclose(first, 1e-5, 1e-5));
        using var after = Subsets.Flatten(m, layout);
        Assert.Equal(before.data<float>().ToArray(), after.data<float>().ToArray());
    }

    /// <summary>
    /// Where no exact route is left for this process's float32 convolutions (PDiff.TorchFixes.ConvCheck), lib/Zoo
    /// refuses to train a TorchScript CNN instead (ForeignConvolutionsTests); then there is nothing to check here.
    /// </summary>
    [Fact]
    public void CollectionTrainsATorchScriptModelAndRestoresIt()
    {
        if (!ConvCheck.OneDnnIsExact && !ConvCheck.NativeIsExact) return;
        using var m = TorchScriptModel.Load(Script);
        var layout = Subsets.Resolve(m, "last-two-norms");
        using var train = Synthetic(64);
        Assert.NotNull(ModuleTree.Find(m, "bn2")); // the script's own module: collection puts it in train mode
        var state = ModuleTree.Snapshot(m);
        var wasTraining = m.training;
        try
        {
            using var r = Collector.Collect(m, layout, train, new CollectionRecipe { K = 3, BatchSize = 16, Lr = 0.05 });
            Assert.Equal(new long[] { 3, layout.Length }, r.Vectors.shape);
            Assert.Equal("forward", r.CutStage);
            using var r0 = r.Vectors.select(0, 0);
            using var r2 = r.Vectors.select(0, 2);
            Assert.NotEqual(r0.data<float>().ToArray(), r2.data<float>().ToArray());
            // Subset, running statistics, flags: all as before.
            foreach (var (name, t) in ModuleTree.StateDict(m))
                Assert.True(t.eq(state[name]).all().ToBoolean(), $"{name} changed");
            Assert.Equal(wasTraining, m.training);
            Assert.All(m.parameters(), p => Assert.True(p.requires_grad));
        }
        finally
        {
            ModuleTree.Free(state);
        }
    }

    [Fact]
    public void AUserModuleClassIsScoredAndCollectedWithoutDeclaringStages()
    {
        using var g = new Generator(3);
        using var m = new TinyNet(g);
        Assert.Equal(new[] { "bn" }, ModelAnatomy.NormModules(m));
        Assert.Equal("head", ModelAnatomy.ClassifierModule(m));
        var layout = Subsets.Resolve(m, "bn");
        Assert.Equal(new[] { "bn.weight", "bn.bias" }, Names(layout));
        var (val, test) = Data();
        using var vectors = NearbyVectors(m, layout, 3);
        var full = new FullScorer(m, layout, val, test);
        using var cached = new CachedScorer(m, layout, val, test, maxStack: 2);
        using var lf = full.Logits(vectors, EvalSplit.Validation);
        using var lc = cached.Logits(vectors, EvalSplit.Validation);
        Assert.True(lf.allclose(lc, 1e-5, 1e-5));

        using var train = Synthetic(48);
        using var runningMean = m.named_buffers().First(b => b.name == "bn.running_mean").buffer.clone();
        m.train();
        using var r = Collector.Collect(m, layout, train, new CollectionRecipe { K = 2, BatchSize = 16, Lr = 0.05 });
        Assert.Equal(new long[] { 2, 32 }, r.Vectors.shape);
        Assert.True(m.training); // the caller's mode is back
        Assert.True(runningMean.eq(m.named_buffers().First(b => b.name == "bn.running_mean").buffer).all().ToBoolean()); // batch statistics during collection were not kept
    }
}
