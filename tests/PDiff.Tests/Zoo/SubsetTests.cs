using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Zoo;

public class SubsetTests
{
    static ImageClassifier ResNet(int width = 4) => ModelRegistry.Create(new ModelSpec { Arch = "resnet18", Width = width }, 1);

    static string[] Names(SubsetLayout l) => l.Tensors.Select(t => t.Name).ToArray();

    [Fact]
    public void LastTwoNormsOfResNet18AreLayer4Block1Bns()
    {
        using var m = ResNet(8);
        var l = Subsets.Resolve(m, "last-two-norms");
        Assert.Equal(new[] { "layer4.1.bn1.weight", "layer4.1.bn1.bias", "layer4.1.bn2.weight", "layer4.1.bn2.bias" }, Names(l));
        Assert.Equal(4 * 64, l.Length); // 4 tensors of 8w = 64 channels (2048 at width 64)
        using var full = ResNet(64);
        Assert.Equal(2048, Subsets.Resolve(full, "").Length); // the reference's N (§1.1)
    }

    [Fact]
    public void PaperLocationsAndOtherPresets()
    {
        using var m = ResNet();
        Assert.Equal(new[] { "layer4.0.bn1.weight", "layer4.0.bn1.bias", "layer4.0.bn2.weight", "layer4.0.bn2.bias" }, Names(Subsets.Resolve(m, "bn14-16")));
        Assert.Equal(8, Subsets.Resolve(m, "bn10-14").Tensors.Count);
        Assert.All(Subsets.Resolve(m, "bn10-14").Tensors, t => Assert.StartsWith("layer3.", t.Name));
        Assert.Equal(new[] { "fc.weight", "fc.bias" }, Names(Subsets.Resolve(m, "classifier")));
        Assert.Equal(new[] { "conv1.weight" }, Names(Subsets.Resolve(m, "first-conv")));
        Assert.Equal(m.parameter_count(), Subsets.Resolve(m, "all").Length);
        Assert.Equal(Names(Subsets.Resolve(m, "bn16-18")), Names(Subsets.Resolve(m, "last-two-norms")));
    }

    [Fact]
    public void VitMlpConvNetDefaults()
    {
        using var v = ModelRegistry.Create(new ModelSpec { Arch = "vit", Dim = 16, Heads = 2, MlpDim = 32, Depth = 3 }, 1);
        Assert.Equal(new[] { "blocks.2.norm2.weight", "blocks.2.norm2.bias", "norm.weight", "norm.bias" }, Names(Subsets.Resolve(v, "last-two-norms")));
        Assert.Equal(new[] { "head.weight", "head.bias" }, Names(Subsets.Resolve(v, "classifier")));
        using var c = ModelRegistry.Create(new ModelSpec { Arch = "convnet3", Width = 8 }, 1);
        Assert.Equal(new[] { "features.5.weight", "features.5.bias", "features.9.weight", "features.9.bias" }, Names(Subsets.Resolve(c, "last-two-norms")));
        using var mlp = ModelRegistry.Create(new ModelSpec { Arch = "mlp", Hidden = new[] { 8, 4 } }, 1);
        Assert.Equal(new[] { "bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias" }, Names(Subsets.Resolve(mlp, "last-two-norms")));
        Assert.Equal(new[] { "fc1.weight", "fc1.bias" }, Names(Subsets.Resolve(mlp, "first-conv")));
    }

    [Fact]
    public void NamesGlobsRegexesAndListsResolveInModelOrder()
    {
        using var m = ResNet();
        // Selector order does not matter: tensors follow the state dict.
        Assert.Equal(new[] { "layer4.0.bn2.weight", "layer4.0.bn2.bias", "layer4.1.bn1.weight", "layer4.1.bn1.bias" },
            Names(Subsets.Resolve(m, "layer4.1.bn1, layer4.0.bn2")));
        Assert.Equal(new[] { "layer4.0.bn1.weight", "layer4.1.bn1.weight" }, Names(Subsets.Resolve(m, "layer4.*.bn1.weight")));
        Assert.Equal(4, Subsets.Resolve(m, "layer4.?.bn1").Tensors.Count); // a glob on module names picks their parameters
        Assert.Equal(new[] { "layer2.0.shortcut.0.weight", "layer3.0.shortcut.0.weight", "layer4.0.shortcut.0.weight" },
            Names(Subsets.Resolve(m, @"re:shortcut\.0")));
        Assert.Equal(new[] { "fc.bias" }, Names(Subsets.Resolve(m, "fc.bias")));
        Assert.Equal(new[] { "layer4.1.bn1.running_var" }, Names(Subsets.Resolve(m, "layer4.1.bn1.running_var")));
        Assert.True(Subsets.Resolve(m, "layer4.1.bn1.running_var").Tensors[0].IsRunningVar);
    }

    [Fact]
    public void UnknownNameListsWhatExists()
    {
        using var m = ResNet();
        var e = Assert.Throws<ArgumentException>(() => Subsets.Resolve(m, "layer5.0.bn1"));
        Assert.Contains("layer5.0.bn1", e.Message);
        Assert.Contains("last-two-norms", e.Message);
        Assert.Contains("bn14-16", e.Message);
        Assert.Contains("layer4.1.bn2", e.Message);
        Assert.Contains("conv1", e.Message);
        var g = Assert.Throws<ArgumentException>(() => Subsets.Resolve(m, "layer9.*"));
        Assert.Contains("layer9.*", g.Message);
        Assert.Throws<ArgumentException>(() => Subsets.Resolve(m, "re:("));
        using var mlp = ModelRegistry.Create(new ModelSpec { Arch = "mlp", Hidden = new[] { 8 } }, 1);
        var n = Assert.Throws<ArgumentException>(() => Subsets.Resolve(mlp, "last-two-norms"));
        Assert.Contains("1 normalisation layer", n.Message);
    }

    [Fact]
    public void FlattenWriteBackRoundTripIsExact()
    {
        using var m = ResNet();
        var layout = Subsets.Resolve(m, "bn10-14,fc");
        using var before = Subsets.Flatten(m, layout);
        Assert.Equal(layout.Length, before.numel());
        using var g = new Generator(5);
        using var v = torch.randn(new[] { layout.Length }, generator: g);
        Subsets.WriteBack(m, layout, v);
        using var after = Subsets.Flatten(m, layout);
        Assert.Equal(v.data<float>().ToArray(), after.data<float>().ToArray());
        // The values land in the named tensors, in order: fc.bias is the last 10 numbers.
        var fcBias = m.named_parameters().First(p => p.name == "fc.bias").parameter.data<float>().ToArray();
        Assert.Equal(v.data<float>().ToArray().TakeLast(10), fcBias);
        var l3bn1 = m.named_parameters().First(p => p.name == "layer3.0.bn1.weight").parameter.data<float>().ToArray();
        Assert.Equal(v.data<float>().ToArray().Take(l3bn1.Length), l3bn1);
        // Tensors outside the subset are untouched, and parameters are still the same objects (in place).
        Assert.True(m.named_parameters().First(p => p.name == "layer4.1.bn1.weight").parameter.data<float>().ToArray().All(x => x == 1f));
        Assert.True(m.named_parameters().First(p => p.name == "fc.bias").parameter.requires_grad);
    }

    [Fact]
    public void WriteBackRejectsAWrongLength()
    {
        using var m = ResNet();
        var layout = Subsets.Resolve(m, "last-two-norms");
        using var v = torch.zeros(layout.Length + 1);
        var e = Assert.Throws<ArgumentException>(() => Subsets.WriteBack(m, layout, v));
        Assert.Contains($"[{layout.Length}]", e.Message);
        var wrong = new SubsetLayout(new[] { new TensorSpec("layer4.1.bn1.weight", new long[] { 3 }) });
        var s = Assert.Throws<ArgumentException>(() => Subsets.Flatten(m, wrong));
        Assert.Contains("layer4.1.bn1.weight", s.Message);
    }
}
