using PDiff.Diffusion;
using PDiff.Models;
using PDiff.Studies;
using TorchSharp;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>Multiply-add counts against sums done by hand from the layer shapes.</summary>
public class ModelCostTests
{
    [Fact]
    public void ConvNet3WithThreeChannelCountsCountsEveryConvolutionAtItsResolution()
    {
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "convnet3", Channels = new[] { 32, 64, 128 } }, 1);
        var stages = ModelCost.PerStage(m, ((ImageClassifier)m).Spec);
        // 3×3 convs, padding 1, each followed by a 2×2 pool: 28×28, 14×14 and 7×7 outputs; the classifier sees 128·3·3.
        long conv1 = 28 * 28 * 32 * 1 * 9, conv2 = 14 * 14 * 64 * 32 * 9, conv3 = 7 * 7 * 128 * 64 * 9, fc = 128 * 9 * 10;
        Assert.Equal(conv1, stages.Single(s => s.Stage == "features.0").MultiplyAdds);
        Assert.Equal(conv2, stages.Single(s => s.Stage == "features.4").MultiplyAdds);
        Assert.Equal(conv3, stages.Single(s => s.Stage == "features.8").MultiplyAdds);
        Assert.Equal(fc, stages.Single(s => s.Stage == "classifier").MultiplyAdds);
        Assert.Equal(conv1 + conv2 + conv3 + fc, ModelCost.Forward(stages));
        Assert.Equal(7_462_656, ModelCost.Forward(stages));
        // From the last BN on (features.9): only the classifier's multiply-adds remain.
        Assert.Equal(fc, ModelCost.From(stages, 9));
        Assert.True(ModelCost.Counted(stages));
    }

    [Fact]
    public void MlpCountsItsLinearLayers()
    {
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "mlp" }, 1);
        var stages = ModelCost.PerStage(m, ((ImageClassifier)m).Spec);
        Assert.Equal(784L * 256 + 256 * 128 + 128 * 10, ModelCost.Forward(stages));
    }

    [Fact]
    public void CountingLeavesTheModelsModeAndWeightsAlone()
    {
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "convnet3", Width = 8 }, 1);
        m.train();
        var before = ModuleStateHash(m);
        ModelCost.PerStage(m, ((ImageClassifier)m).Spec);
        Assert.True(m.training);
        Assert.Equal(before, ModuleStateHash(m));   // BN running statistics untouched (the probe runs in eval mode)
    }

    static double ModuleStateHash(torch.nn.Module m) =>
        m.state_dict().Values.Where(t => t.is_floating_point()).Sum(t => t.to(torch.ScalarType.Float64).sum().item<double>());

    [Fact]
    public void TheV2DenoiserCostsTheReferencesCount()
    {
        // Reference §: Σ c_in·c_out = 344,192; × kernel 7 × length 128 = 308.4 M, plus the time MLP (256·128 + 128·128).
        using var g = new torch.Generator(1);
        using var d = new OneDimCNN(128, g);
        Assert.Equal(344_192L * 7 * 128 + 256 * 128 + 128 * 128, d.MultiplyAddsPerSample);
    }

    [Fact]
    public void TheV2AutoencoderCostsItsLayersAtTheirLengths()
    {
        using var g = new torch.Generator(1);
        using var ae = new OneDimVAE(2048, g);
        var (encode, decode) = ae.MultiplyAddsPerVector!.Value;
        // Encoder convs (k7, stride 2) at lengths 1024 … 64, then Linear(64·32 → 128) and fc_mu.
        long enc = 1024L * 1 * 64 * 7 + 512L * 64 * 128 * 7 + 256L * 128 * 256 * 7 + 128L * 256 * 256 * 7 + 64L * 256 * 32 * 7 + 2048 * 128 + 128 * 128;
        // Decoder: Linear(128 → 2048), transposed convs at input lengths 64 … 1024, the final conv at 2048.
        long dec = 128L * 2048 + 64L * 32 * 256 * 7 + 128L * 256 * 256 * 7 + 256L * 256 * 128 * 7 + 512L * 128 * 64 * 7 + 1024L * 64 * 64 * 7 + 2048L * 64 * 7;
        Assert.Equal(enc, encode);
        Assert.Equal(dec, decode);
        Assert.Equal(151_207_936, encode);   // ≈ 7.6 GMAC for a batch of 50, as the reference's cost table says
    }
}
