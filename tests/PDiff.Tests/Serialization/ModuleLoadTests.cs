using System.Text.Json;
using PDiff.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Serialization;

/// <summary>LoadInto: a checked checkpoint copied into a TorchSharp module by PyTorch's names.</summary>
[Collection(PDiff.Tests.TorchFixes.NativeStateCollection.Name)]
public class ModuleLoadTests
{
    // The Net of make_fixtures.py, with the same names: features.{0,1}.{conv,bn}, head.
    static nn.Module Net(long headOut = 3, bool withHead = true)
    {
        var features = nn.Sequential(
            ("0", nn.Sequential(("conv", nn.Conv2d(3, 4, 3, padding: 1)), ("bn", nn.BatchNorm2d(4)))),
            ("1", nn.Sequential(("conv", nn.Conv2d(4, 2, 1, bias: false)), ("bn", nn.BatchNorm2d(2)))));
        return withHead ? nn.Sequential(("features", features), ("head", nn.Linear(2, headOut))) : nn.Sequential(("features", features));
    }

    [Fact]
    public void CopiesATorchSaveStateDictIntoAModule()
    {
        using var scope = torch.NewDisposeScope();
        using var net = Net();
        var match = PtCheckpoint.LoadInto(net, Kit.Fixture("conv_bn.pt"));
        Assert.Equal(15, match.Loaded.Count);
        Assert.Empty(match.Missing);
        Assert.Empty(match.Unexpected);
        using var expected = JsonDocument.Parse(File.ReadAllText(Kit.Fixture("conv_bn.json")));
        var state = net.state_dict();
        foreach (var p in expected.RootElement.EnumerateObject())
            Kit.AssertMatches(p.Name, p.Value, state[p.Name]);
    }

    [Fact]
    public void StrictRefusesMismatchedNamesAndLenientLoadsTheSubset()
    {
        using var scope = torch.NewDisposeScope();
        using var net = Net(withHead: false);
        var ex = Assert.Throws<InvalidDataException>(() => PtCheckpoint.LoadInto(net, Kit.Fixture("conv_bn.pt")));
        Assert.Contains("conv_bn.pt", ex.Message);
        Assert.Contains("unexpected [head.weight, head.bias]", ex.Message);
        Assert.Contains("strict: false", ex.Message);

        var match = PtCheckpoint.LoadInto(net, Kit.Fixture("conv_bn.pt"), strict: false);
        Assert.Equal(13, match.Loaded.Count);
        Assert.Equal(new[] { "head.weight", "head.bias" }, match.Unexpected);
    }

    [Fact]
    public void RefusesAShapeMismatchWithoutChangingTheModule()
    {
        using var scope = torch.NewDisposeScope();
        using var net = Net(headOut: 4);
        var before = net.state_dict().ToDictionary(kv => kv.Key, kv => Kit.Values(kv.Value));
        var ex = Assert.Throws<InvalidDataException>(() => PtCheckpoint.LoadInto(net, Kit.Fixture("conv_bn.pt")));
        Assert.Contains("'head.weight' has shape [3, 2] in the file but [4, 2]", ex.Message);
        foreach (var (name, t) in net.state_dict())
            Assert.Equal(before[name], Kit.Values(t));
    }

    [Fact]
    public void RoundTripsAModuleThroughSafetensors()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        using var a = Net();
        PtCheckpoint.LoadInto(a, Kit.Fixture("conv_bn.pt"));
        var path = dir.File("net.safetensors");
        Safetensors.Save(path, a.state_dict());
        using var b = Net();
        var match = Safetensors.LoadInto(b, path);
        Assert.Equal(15, match.Loaded.Count);
        var sb = b.state_dict();
        foreach (var (name, t) in a.state_dict())
            Assert.Equal(Kit.Values(t), Kit.Values(sb[name]));
    }
}
