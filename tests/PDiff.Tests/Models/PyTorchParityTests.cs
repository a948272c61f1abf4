using PDiff.Checkpoints;
using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Models;

/// <summary>
/// Our networks compute what PyTorch computes: the same weights (written by make_fixtures.py with
/// torch 1.13, norms randomised, eval mode) give the same logits on the same inputs.
/// </summary>
public class PyTorchParityTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "zoo", name);

    public static ModelSpec SmallSpec(string arch) => arch switch
    {
        "mlp" => new ModelSpec { Arch = "mlp", Hidden = new[] { 32, 16 } },
        "convnet3" => new ModelSpec { Arch = "convnet3", Width = 8 },
        "resnet18" => new ModelSpec { Arch = "resnet18", Width = 4 },
        _ => new ModelSpec { Arch = "vit", Dim = 16, Heads = 2, MlpDim = 32, Depth = 2 },
    };

    [Theory]
    [InlineData("mlp")]
    [InlineData("convnet3")]
    [InlineData("resnet18")]
    [InlineData("vit")]
    public void ForwardMatchesPyTorch(string arch)
    {
        using var model = BaseModels.LoadWeights(Fixture($"{arch}_state.pth"), SmallSpec(arch));
        var io = PtCheckpoint.Load(Fixture($"{arch}_io.pth"));
        try
        {
            using var y = model.forward(io["x"]);
            Assert.Equal(io["logits"].shape, y.shape);
            using var diff = y.sub(io["logits"]).abs().max();
            Assert.True(diff.ToDouble() < 1e-5, $"{arch}: max |ours − PyTorch| = {diff.ToDouble():G3}");
        }
        finally
        {
            foreach (var t in io.Values) t.Dispose();
        }
    }

    [Fact]
    public void ArchitectureMismatchNamesTheKeys()
    {
        var e = Assert.Throws<InvalidDataException>(() => BaseModels.LoadWeights(Fixture("mlp_state.pth"), new ModelSpec { Arch = "mlp", Hidden = new[] { 32, 16, 8 } }));
        Assert.Contains($"base model {Fixture("mlp_state.pth")} does not fit the network mlp(hidden [32, 16, 8], 10 classes): ", e.Message);
        Assert.Contains("the file lacks", e.Message);
        Assert.Contains("pass the --arch and size options (--width, --hidden, --depth, …) of the network that wrote it", e.Message);
        var s = Assert.Throws<InvalidDataException>(() => BaseModels.LoadWeights(Fixture("mlp_state.pth"), new ModelSpec { Arch = "mlp", Hidden = new[] { 32, 8 } }));
        Assert.Matches(@"'fc2\.weight' is \[16, 32\] in the file but \[8, 32\] in the network", s.Message);
        var k = Assert.Throws<InvalidDataException>(() => BaseModels.LoadWeights(Fixture("mlp_state.pth"), new ModelSpec { Arch = "convnet3", Width = 8 }));
        Assert.Contains("fc1.weight", k.Message);
        Assert.Contains("that the network lacks", k.Message);
    }
}
