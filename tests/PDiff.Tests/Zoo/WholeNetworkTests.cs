using PDiff.Data;
using PDiff.Diffusion;
using PDiff.Studies;
using PDiff.Models;
using PDiff.Tests.Data;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Zoo;

/// <summary>Whole networks as vectors (the <c>whole</c> subset), zoos of networks trained from their own seeds, and the task grammar.</summary>
public class WholeNetworkTests
{
    static ImageClassifier ConvNet(ulong seed) => ModelRegistry.Create(ModelRegistry.Complete(new ModelSpec { Arch = "convnet3", Width = 4 }), seed);

    /// <summary>Every floating-point state-dict entry, i.e. not BatchNorm's integer step counter.</summary>
    static List<(string Name, Tensor Value)> FloatState(nn.Module m) =>
        ModuleTree.StateDict(m).Where(kv => torch.is_floating_point(kv.Value)).Select(kv => (kv.Key, kv.Value)).ToList();

    [Fact]
    public void WholeSubsetIsEveryParameterAndRunningStatisticInStateDictOrder()
    {
        using var m = ConvNet(1);
        var layout = Subsets.Resolve(m, "whole");
        var state = FloatState(m);
        Assert.Equal(state.Select(s => s.Name), layout.Tensors.Select(t => t.Name));
        Assert.Contains(layout.Tensors, t => t.Name.EndsWith("running_var", StringComparison.Ordinal));
        Assert.DoesNotContain(layout.Tensors, t => t.Name.EndsWith("num_batches_tracked", StringComparison.Ordinal));
        // ConvNet-3 at width 4 on 28×28: convs 9·(1·4 + 4·4 + 4·4) + 3·4 biases, BN 3·4·2 affine + 3·4·2 running, classifier 4·9·10 + 10.
        long convs = 9 * (4 + 16 + 16) + 12, bn = 24, running = 24, head = 4 * 9 * 10 + 10;
        Assert.Equal(convs + bn + running + head, layout.Length);
        Assert.Equal(m.parameter_count() + running, layout.Length);
        Assert.Contains("whole", Subsets.PresetNames(m));
    }

    [Fact]
    public void WholeVectorWrittenIntoAnotherNetworkMakesItThatNetwork()
    {
        using var a = ConvNet(1);
        using var b = ConvNet(2);
        // Running statistics that differ from the defaults, so the round trip has to carry them.
        using (torch.no_grad())
            foreach (var (name, t) in FloatState(b).Where(s => s.Name.Contains("running")))
                t.copy_(name.EndsWith("var", StringComparison.Ordinal) ? torch.rand(t.shape).add(0.5) : torch.randn(t.shape));
        var layout = Subsets.Resolve(a, "whole");
        using var vector = Subsets.Flatten(b, layout);
        Subsets.WriteBack(a, layout, vector);
        var sa = FloatState(a);
        var sb = FloatState(b);
        for (var i = 0; i < sa.Count; i++)
            Assert.True(sa[i].Value.allclose(sb[i].Value, 0, 0), $"{sa[i].Name} differs after the write-back");
        a.eval();
        b.eval();
        using var x = torch.randn(5, 1, 28, 28, generator: new Generator(3));
        using var ya = a.forward(x);
        using var yb = b.forward(x);
        Assert.True(ya.allclose(yb, 0, 0));
        using var back = Subsets.Flatten(a, layout);
        Assert.True(back.allclose(vector, 0, 0));
    }

    [Theory]
    [InlineData("mnist/mlp:24", "mnist", "mlp", "mnist_mlp-24")]
    [InlineData("mnist/mlp:64,32", "mnist", "mlp", "mnist_mlp-64-32")]
    [InlineData("fashion-mnist/convnet3:16", "fashion-mnist", "convnet3", "fashion-mnist_convnet3-16")]
    [InlineData("fashion-mnist/convnet3:8,16,32", "fashion-mnist", "convnet3", "fashion-mnist_convnet3-8-16-32")]
    public void TaskGrammar(string text, string dataset, string arch, string name)
    {
        var t = WholeNetworkTask.Parse(text);
        Assert.Equal(dataset, t.Dataset);
        Assert.Equal(arch, t.Model.Arch);
        Assert.Equal(name, t.Name);
    }

    [Theory]
    [InlineData("mnist")]
    [InlineData("mnist/mlp")]
    [InlineData("mnist/mlp:x")]
    [InlineData("mnist/mlp:0")]
    [InlineData("mnist/resnet18:8")]
    public void BadTaskTextSaysWhatToWrite(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => WholeNetworkTask.Parse(text));
        Assert.Contains(text, e.Message);
    }

    [Fact]
    public void WholeLengthOfAOneLayerMlp()
    {
        // 784·24 + 24 weights and bias, BN 24·2 affine + 24·2 running, head 24·10 + 10.
        Assert.Equal(784 * 24 + 24 + 48 + 48 + 240 + 10, WholeNetworkTask.Parse("mnist/mlp:24").WholeLength());
    }

    [Fact]
    public void ConfigTakesTheChunkedAutoencoderUnlessTheUserChoseOne()
    {
        var c = WholeNetwork.Config(PDiffConfig.Default, Profile.Smoke, 1);
        Assert.Equal(AutoencoderKind.Chunked, c.Autoencoder);
        Assert.Equal(WholeNetwork.AeChannels, c.AeChannels);
        Assert.Equal(PDiffConfig.Default.InitSeed + ZooProfiles.SeedStride, c.InitSeed);
        var quick = WholeNetwork.Config(PDiffConfig.Default, Profile.Quick, 0);
        Assert.Equal(600, quick.AeSteps);
        Assert.Equal(300, quick.DiffSteps);   // the profile's own
        // The pipeline applies the profile again (TaskRunner): the whole-network settings survive it.
        Assert.Equal(600, quick.ForProfile(Profile.Quick).AeSteps);
        Assert.Equal(AutoencoderKind.Chunked, quick.ForProfile(Profile.Quick).Autoencoder);
        var mine = (PDiffConfig.Default with { AeSteps = 40 }).WithExplicit(new[] { nameof(PDiffConfig.AeSteps) });
        Assert.Equal(40, WholeNetwork.Config(mine, Profile.Quick, 0).AeSteps);
        var v2 = PDiffConfig.Default.WithExplicit(new[] { nameof(PDiffConfig.Autoencoder), nameof(PDiffConfig.AeChannels) });
        Assert.Equal(AutoencoderKind.V2OneDim, WholeNetwork.Config(v2, Profile.Quick, 0).Autoencoder);
        // 2w + 2w·d/c = 128 + 256 multiply-adds a number at c = 64, w = 64, d = 128 (N a multiple of 64).
        Assert.Equal(384L * 6400, WholeNetworkCost.AeMultiplyAdds(6400, c));
        Assert.Equal(WholeNetwork.AeLr, quick.AeLr);
    }

    /// <summary>A zoo of <paramref name="models"/> one-hidden-layer MNIST MLPs on a few hundred images (seconds to train): for tests.</summary>
    public static SeedZooOptions TinyMnistZoo(string dir, int hidden, int models, int trainImages = 400, int testImages = 200) => new()
    {
        Dataset = "mnist", Model = new ModelSpec { Arch = "mlp", Hidden = new[] { hidden } },
        Data = new DataOptions { MaxTrain = trainImages, ValidationSize = 100, MaxTest = testImages },
        Train = WholeNetwork.Train(Profile.Smoke), Models = models, Out = dir,
    };

    [MnistFact]
    public void SeedZooTrainsEachNetworkFromItsOwnSeedAndIsReused()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pdiff-seedzoo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var options = TinyMnistZoo(dir, hidden: 8, models: 3);
            var log = new StringWriter();
            var zoo = SeedZoo.Ensure(options, log);
            Assert.Equal(3, zoo.K);
            Assert.Equal("whole", zoo.Manifest.Subset.Selector);
            using var rows = zoo.LoadMatrix();
            // Independent initialisations: no two rows alike.
            Assert.False(rows[0].allclose(rows[1], 0, 0));
            Assert.False(rows[1].allclose(rows[2], 0, 0));
            // Row 0 is the base model, whose training reported the same test accuracy the zoo's scorer measured.
            using var baseModel = zoo.LoadBaseModel();
            using var baseRow = Subsets.Flatten(baseModel, zoo.Layout);
            Assert.True(baseRow.allclose(rows[0], 0, 0));
            Assert.Equal(zoo.Manifest.BaseTestAccuracy!.Value, zoo.Manifest.Checkpoints[0].TestAccuracy, 12);
            Assert.Contains("network 3/3", log.ToString());

            var created = zoo.Manifest.Created;
            Assert.Equal(created, SeedZoo.Ensure(options, log).Manifest.Created);
            var rebuilt = SeedZoo.Ensure(options with { Models = 2 }, log);
            Assert.Equal(2, rebuilt.K);
            Assert.Contains("other settings", log.ToString());
            Assert.Throws<ArgumentException>(() => SeedZoo.Ensure(options with { Models = 1 }));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
