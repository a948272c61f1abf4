using PDiff.Diffusion;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.Diffusion;

/// <summary>The chunked autoencoder for whole networks: its arithmetic written out by hand, its shapes, cost and errors.</summary>
public class ChunkAutoencoderTests
{
    static Tensor W(ChunkAutoencoder ae, string name) => ae.named_parameters().Single(p => p.name == name).parameter;

    [Fact]
    public void EncodeAndDecodeAreTheChunkedLinearMapsWrittenOut()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        // N = 100 is not a multiple of the chunk (16): 7 chunks, the last padded with 12 zeros.
        using var ae = new ChunkAutoencoder(100, g, chunk: 16, width: 4, latentDim: 8);
        ae.eval();
        var x = randn(new long[] { 3, 100 }, generator: g);
        var padded = cat(new[] { x, zeros(3, 12) }, 1).reshape(3, 7, 16);
        var h = F.leaky_relu(padded.matmul(W(ae, "chunk_in.weight").t()).add(W(ae, "chunk_in.bias")), 0.01).reshape(3, 28);
        var z = h.matmul(W(ae, "to_latent.weight").t()).add(W(ae, "to_latent.bias"));
        Assert.True(ae.Encode(x).allclose(z, 1e-5, 1e-6));

        var hd = F.leaky_relu(z.matmul(W(ae, "from_latent.weight").t()).add(W(ae, "from_latent.bias")), 0.01).reshape(3, 7, 4);
        var y = hd.matmul(W(ae, "chunk_out.weight").t()).add(W(ae, "chunk_out.bias")).reshape(3, 112).narrow(1, 0, 100);
        Assert.True(ae.Decode(z).allclose(y, 1e-5, 1e-6));
        Assert.Equal(new long[] { 8 }, ae.LatentShape);
        // (16·4 + 4) + (28·8 + 8) + (8·28 + 28) + (4·16 + 16) parameters.
        Assert.Equal(68 + 232 + 252 + 80, ae.parameters().Sum(p => p.numel()));
        Assert.Equal((7 * 64 + 224L, 224 + 7 * 64L), ae.MultiplyAddsPerVector);
    }

    [Fact]
    public void TrainingLossIsTheReconstructionErrorWithoutNoise()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(6);
        using var ae = new ChunkAutoencoder(40, g, 8, 4, 6, inputNoise: 0, latentNoise: 0);
        var x = randn(new long[] { 5, 40 }, generator: g);
        var expected = ae.Decode(ae.Encode(x)).sub(x).square().mean();
        Assert.Equal(expected.item<float>(), ae.TrainingLoss(x, g, false).item<float>(), 6);
    }

    [Fact]
    public void BadShapesAndSettingsSayWhatIsExpected()
    {
        using var g = new Generator(7);
        using var ae = new ChunkAutoencoder(40, g, 8, 4, 6);
        using var wrong = zeros(2, 41);
        Assert.Contains("[B, 40]", Assert.Throws<ArgumentException>(() => ae.Encode(wrong)).Message);
        using var lat = zeros(2, 5);
        Assert.Contains("[B, 6]", Assert.Throws<ArgumentException>(() => ae.Decode(lat)).Message);
        Assert.Throws<ArgumentException>(() => new ChunkAutoencoder(40, g, 0, 4, 6));
        var bad = PDiffConfig.Default with { Autoencoder = AutoencoderKind.Chunked };   // five V2 widths, not [chunk, width]
        Assert.Contains("[chunk length, chunk width]", Assert.ThrowsAny<Exception>(() => bad.Validate()).Message);
        Assert.False((PDiffConfig.Default with { Autoencoder = AutoencoderKind.Chunked }).IsV1Autoencoder);
    }
}
