using PDiff.Diffusion;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Diffusion;

/// <summary>Standardised latents (<see cref="LatentStandardizer"/>, <see cref="PDiffConfig.StandardizeLatents"/>).</summary>
public class LatentStandardizerTests
{
    [Fact]
    public void FitCentresEachDimensionAndDividesByOneSpread_WrittenOut()
    {
        // Three latents of two dimensions: centre (2, 10); deviations (−1, −2), (0, 0), (1, 2): RMS over all six = √(10/6).
        using var z = tensor(new float[] { 1, 8, 2, 10, 3, 12 }, 3, 2);
        using var s = new LatentStandardizer(new long[] { 2 });
        s.Fit(z);
        Assert.Equal(new float[] { 2, 10 }, s.Mean.data<float>().ToArray());
        Assert.Equal(Math.Sqrt(10.0 / 6), s.Scale, 6);
        using var x = s.ToDiffusion(z);
        var k = (float)Math.Sqrt(10.0 / 6);
        Assert.True(x.allclose(tensor(new float[] { -1 / k, -2 / k, 0, 0, 1 / k, 2 / k }, 3, 2), 1e-6, 1e-6));
        using var back = s.FromDiffusion(x);
        Assert.True(back.allclose(z, 1e-5, 1e-5));
    }

    [Fact]
    public void BadLatentsAreRefusedNamingTheProblem()
    {
        using var s = new LatentStandardizer(new long[] { 4 });
        using var wrongShape = zeros(3, 5);
        Assert.Contains("[K, 4]", Assert.Throws<ArgumentException>(() => s.Fit(wrongShape)).Message);
        using var one = ones(1, 4);
        Assert.Contains("at least 2", Assert.Throws<ArgumentException>(() => s.Fit(one)).Message);
        using var same = ones(5, 4);
        Assert.Contains("not all equal", Assert.Throws<ArgumentException>(() => s.Fit(same)).Message);
    }

    [Fact]
    public void TrainingFitsTheZoosLatents_AndTheModelSavesAndLoadsThem()
    {
        var (v, layout) = TrainingTests.TinyZoo();
        using var _ = v;
        var cfg = TrainingTests.Small("standardized") with { AeSteps = 30, DiffSteps = 10, CheckpointEvery = 0 };
        Assert.Contains("\"StandardizeLatents\": true", ConfigText.ToJson(cfg));
        Assert.DoesNotContain("StandardizeLatents", ConfigText.ToJson(cfg with { StandardizeLatents = false }));
        using var trainer = new PDiffTrainer(cfg, v, layout, new TrainerOptions { Log = null });
        using var model = trainer.Train();
        // The fitted statistics are those of the trained autoencoder's latents of the zoo: standardised, they are centred
        // in every dimension with unit RMS.
        using var z = model.EncodeVectors(v);
        using var x = model.Latents!.ToDiffusion(z);
        Assert.True(x.mean(new long[] { 0 }).abs().max().item<float>() < 1e-4);
        Assert.Equal(1.0, x.square().mean().sqrt().item<float>(), 4);
        Assert.True(model.Latents.Scale is > 0 and not 1.0);
        // Generation returns autoencoder-space latents (decoding them gives the vectors), and save/load keeps the statistics.
        using var g = new Generator(3);
        using var r = model.Generate(4, g);
        using var dec = model.DecodeLatents(r.Latents);
        Assert.True(dec.allclose(r.Vectors, 0, 0));
        var dir = Path.Combine(Path.GetTempPath(), "pdiff-latent-tests", Guid.NewGuid().ToString("N"));
        try
        {
            model.Save(dir);
            using var loaded = PDiffModel.Load(dir);
            Assert.Equal(model.Latents.Scale, loaded.Latents!.Scale);
            using var g2 = new Generator(3);
            using var r2 = loaded.Generate(4, g2);
            Assert.True(r2.Vectors.allclose(r.Vectors, 0, 0));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
