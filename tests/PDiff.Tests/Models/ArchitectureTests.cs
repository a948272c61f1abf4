using System.Text.Json;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Models;

public class ArchitectureTests
{
    static Dictionary<string, long> PyTorchCounts() =>
        JsonSerializer.Deserialize<Dictionary<string, long>>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "zoo", "counts.json")))!;

    [Fact]
    public void ResNet18HasTheKnownParameterCount()
    {
        // kuangliu ResNet-18 has 11,220,132 parameters for 3 channels and 100 classes (reference §1.1);
        // with 1 channel (conv1 loses 2·64·9 = 1,152) and 10 classes (fc loses 90·513 = 46,170):
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "resnet18" }, 1);
        Assert.Equal(11_220_132 - 1_152 - 46_170, m.parameter_count());
        Assert.Equal(11_172_810, m.parameter_count());
        Assert.Equal(PyTorchCounts()["resnet18"], m.parameter_count());
        using var wide = ModelRegistry.Create(new ModelSpec { Arch = "resnet18", InChannels = 3, Classes = 100 }, 1);
        Assert.Equal(11_220_132, wide.parameter_count());
    }

    [Theory]
    [InlineData("resnet18", 16, "resnet18_width16")]
    [InlineData("convnet3", null, "convnet3")]
    [InlineData("mlp", null, "mlp")]
    public void CountsMatchPyTorch(string arch, int? width, string key)
    {
        using var m = ModelRegistry.Create(new ModelSpec { Arch = arch, Width = width }, 1);
        Assert.Equal(PyTorchCounts()[key], m.parameter_count());
    }

    [Fact]
    public void VitCountsMatchPyTorchForDepth6And12()
    {
        using var m6 = ModelRegistry.Create(new ModelSpec { Arch = "vit", Depth = 6 }, 1);
        Assert.Equal(PyTorchCounts()["vit_depth6"], m6.parameter_count());
        // Depth 12 by arithmetic (building it costs seconds): 444,864 parameters a block.
        Assert.Equal(PyTorchCounts()["vit_depth12"], m6.parameter_count() + 6 * 444_864);
    }

    [Fact]
    public void ResNet18NamesFollowKuangliu()
    {
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "resnet18", Width = 4 }, 1);
        var names = m.named_parameters().Select(p => p.name).ToList();
        Assert.Equal("conv1.weight", names[0]);
        Assert.Equal(new[] { "bn1.weight", "bn1.bias" }, names.Skip(1).Take(2));
        Assert.Contains("layer1.0.conv1.weight", names);
        Assert.Contains("layer2.0.shortcut.0.weight", names);
        Assert.Contains("layer2.0.shortcut.1.bias", names);
        Assert.DoesNotContain("layer1.0.shortcut.0.weight", names); // identity shortcut
        Assert.Contains("layer4.1.bn2.weight", names);
        Assert.Equal(new[] { "fc.weight", "fc.bias" }, names.TakeLast(2));
        Assert.Equal(62, names.Count); // 20 convs (17 + 3 shortcuts), 20 BNs ×2, fc ×2
        Assert.Equal(new long[] { 32, 16, 3, 3 }, m.state_dict().First(kv => kv.Key == "layer4.0.conv1.weight").Value.shape);
        Assert.Contains(m.state_dict(), kv => kv.Key == "layer4.1.bn1.running_var");
    }

    [Fact]
    public void VitNamesFollowTimm()
    {
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "vit", Dim = 16, Heads = 2, MlpDim = 32, Depth = 2 }, 1);
        var names = m.named_parameters().Select(p => p.name).ToList();
        Assert.Equal(new[] { "cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias" }, names.Take(4));
        foreach (var n in new[] { "norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2" })
            Assert.Contains($"blocks.1.{n}.weight", names);
        Assert.Equal(new[] { "norm.weight", "norm.bias", "head.weight", "head.bias" }, names.TakeLast(4));
        Assert.Equal(new long[] { 1, 50, 16 }, m.named_parameters().First(p => p.name == "pos_embed").parameter.shape);
    }

    [Fact]
    public void ConvNetAndMlpNames()
    {
        using var c = ModelRegistry.Create(new ModelSpec { Arch = "convnet3", Width = 8 }, 1);
        Assert.Equal(new[] { "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias" }, c.named_parameters().Select(p => p.name).Take(4));
        Assert.Equal(new long[] { 10, 72 }, c.named_parameters().First(p => p.name == "classifier.weight").parameter.shape);
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "mlp", Hidden = new[] { 8, 4 } }, 1);
        Assert.Equal(new[] { "fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias", "fc2.weight", "fc2.bias", "bn2.weight", "bn2.bias", "fc3.weight", "fc3.bias" },
            m.named_parameters().Select(p => p.name));
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("convnet3")]
    [InlineData("resnet18")]
    [InlineData("vit")]
    public void ForwardGivesLogitsAndStagesComposeToIt(string arch)
    {
        var spec = arch switch
        {
            "resnet18" => new ModelSpec { Arch = arch, Width = 4 },
            "convnet3" => new ModelSpec { Arch = arch, Width = 8 },
            "vit" => new ModelSpec { Arch = arch, Dim = 16, Heads = 2, MlpDim = 32, Depth = 2 },
            _ => new ModelSpec { Arch = arch, Hidden = new[] { 16 } },
        };
        using var m = ModelRegistry.Create(spec, 3);
        m.eval();
        using var g = new Generator(4);
        using var x = torch.randn(new long[] { 5, 1, 28, 28 }, generator: g);
        using var y = m.forward(x);
        Assert.Equal(new long[] { 5, 10 }, y.shape);
        // Any split point: the prefix then the suffix gives the same bits as the whole.
        var k = m.Stages.Count / 2;
        using var input = new Activations(x.alias());
        using var head = m.RunStages(input, 0, k);
        using var tail = m.RunStages(head, k, m.Stages.Count);
        Assert.Equal(y.data<float>().ToArray(), tail.Main.data<float>().ToArray());
    }

    [Fact]
    public void SpecRoundTripsThroughJsonAndRejectsForeignOptions()
    {
        var spec = ModelRegistry.Complete(new ModelSpec { Arch = "ViT", Depth = 6 });
        Assert.Equal("vit", spec.Arch);
        Assert.Equal(192, spec.Dim);
        var back = ModelSpec.FromJson(spec.ToJson());
        Assert.True(back.SameAs(spec));
        Assert.Contains("\"depth\":6", spec.ToJson());
        var e = Assert.Throws<ArgumentException>(() => ModelRegistry.Complete(new ModelSpec { Arch = "mlp", Width = 3 }));
        Assert.Contains("Width", e.Message);
        var u = Assert.Throws<ArgumentException>(() => ModelRegistry.Create(new ModelSpec { Arch = "resnet50" }, 1));
        Assert.Contains("resnet18", u.Message);
    }

    [Fact]
    public void SameSeedSameWeights()
    {
        using var a = ModelRegistry.Create(new ModelSpec { Arch = "resnet18", Width = 4 }, 7);
        using var b = ModelRegistry.Create(new ModelSpec { Arch = "resnet18", Width = 4 }, 7);
        using var c = ModelRegistry.Create(new ModelSpec { Arch = "resnet18", Width = 4 }, 8);
        var wa = a.named_parameters().First().parameter.data<float>().ToArray();
        Assert.Equal(wa, b.named_parameters().First().parameter.data<float>().ToArray());
        Assert.NotEqual(wa, c.named_parameters().First().parameter.data<float>().ToArray());
    }
}
