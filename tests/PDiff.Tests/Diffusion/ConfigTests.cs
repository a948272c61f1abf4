using PDiff.Diffusion;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Diffusion;

public class ConfigTests
{
    public static TheoryData<string> Presets => new() { "v1", "v2", "default" };

    [Theory]
    [MemberData(nameof(Presets))]
    public void PresetsRoundTripThroughJson(string name)
    {
        var c = PDiffConfig.Preset(name);
        var json = ConfigText.ToJson(c);
        var back = ConfigText.FromJson(json);
        Assert.Equal(c, back);
        Assert.Equal(json, ConfigText.ToJson(back));
        Assert.Contains("\"Autoencoder\": \"", json);   // enums as names, readable and stable
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void PresetsRoundTripThroughFlags(string name)
    {
        var c = PDiffConfig.Preset(name);
        var args = ConfigText.ToArgs(c);
        Assert.Equal(c, ConfigText.FromArgs(args, PDiffConfig.V1 with { AeSteps = 7 }));
        Assert.Contains("--ae-steps", args);
        Assert.Contains("--latent-noise", args);
        Assert.Contains("--ae-inference-norm", args);
        Assert.Contains("--time-embedding", args);
    }

    [Fact]
    public void EveryPropertyHasAFlag()
    {
        var flags = ConfigText.Flags().Select(f => f.Flag).ToHashSet();
        var props = typeof(PDiffConfig).GetProperties().Where(p => p.SetMethod is not null).ToArray();
        Assert.Equal(props.Length, flags.Count);
        Assert.Contains("--ddpm-variance", flags);
        Assert.Contains("--ema-decay", flags);
    }

    [Fact]
    public void FlagsOverrideTheBasis()
    {
        var c = ConfigText.FromArgs(new[] { "--ae-steps", "500", "--latent-noise", "0.25", "--sampler", "ddim", "--ae-channels", "8,8,4",
            "--noisy-target", "--ema-decay=0" }, PDiffConfig.Default, out var rest);
        Assert.Empty(rest);
        Assert.Equal(500, c.AeSteps);
        Assert.Equal(0.25, c.LatentNoise);
        Assert.Equal(SamplerKind.Ddim, c.Sampler);
        Assert.Equal(new long[] { 8, 8, 4 }, c.AeChannels);
        Assert.True(c.NoisyTarget);
        Assert.Equal(0, c.EmaDecay);
        Assert.Equal(PDiffConfig.Default.DiffSteps, c.DiffSteps);
    }

    [Fact]
    public void PresetFlagPicksTheBasisAndOtherArgumentsAreReturned()
    {
        var c = ConfigText.FromArgs(new[] { "--profile", "quick", "--preset", "v1", "--diff-steps", "10" }, null, out var rest);
        Assert.Equal(new[] { "--profile", "quick" }, rest);
        Assert.Equal(PDiffConfig.V1 with { DiffSteps = 10 }, c);
    }

    [Fact]
    public void BadFlagsAreClearErrors()
    {
        var e = Assert.Throws<ArgumentException>(() => ConfigText.FromArgs(new[] { "--ae-stepz", "3" }));
        Assert.Contains("--ae-stepz", e.Message);
        Assert.Contains("--ae-steps", e.Message);
        e = Assert.Throws<ArgumentException>(() => ConfigText.FromArgs(new[] { "--ae-steps", "many" }));
        Assert.Contains("--ae-steps", e.Message);
        e = Assert.Throws<ArgumentException>(() => ConfigText.FromArgs(new[] { "--sampler", "euler" }));
        Assert.Contains("Ddpm|Ddim", e.Message);
        e = Assert.Throws<ArgumentException>(() => ConfigText.FromArgs(new[] { "--ddim-steps", "5000" }));
        Assert.Contains("ddim-steps", e.Message);
        Assert.Throws<InvalidDataException>(() => ConfigText.FromJson("{\"AeStepz\": 3}"));
    }

    [Fact]
    public void PresetsCarryTheReferenceSettings()
    {
        var v1 = PDiffConfig.V1;
        Assert.Equal((30_000, 30_000, 200, 0.5, 0.9999), (v1.AeSteps, v1.DiffSteps, v1.AeBatch, v1.LatentNoise, v1.EmaDecay));
        Assert.Equal(TimeEmbeddingMode.BatchShared, v1.TimeEmbedding);
        Assert.Equal(DdpmVariance.FixedLarge, v1.DdpmVariance);
        Assert.Equal(1.0, v1.SamplerOptions.Clip);
        var v2 = PDiffConfig.V2;
        Assert.Equal((500, 1000, 50, 2e-5, 1e-4), (v2.AeSteps, v2.DiffSteps, v2.AeBatch, v2.AeLr, v2.DiffLr));
        Assert.Equal(AeInferenceNorm.PerSample, v2.AeInferenceNorm);
        Assert.Null(v2.SamplerOptions.Clip);
        var d = PDiffConfig.Default;
        Assert.Equal(AeInferenceNorm.Eval, d.AeInferenceNorm);
        Assert.Equal(TimeEmbeddingMode.PerSample, d.TimeEmbedding);
        Assert.True(d.EmaDecay > 0);
        Assert.Equal(2e-4, d.AeLr);         // ours: V2's 2e-5 barely moves the AE in the quick profile's 150 steps
    }

    [Fact]
    public void ProfilesScaleTheBudgets()
    {
        Assert.True(PDiffConfig.V2.ForProfile(Profile.Smoke).AeSteps <= 30);
        Assert.Equal(PDiffConfig.V2, PDiffConfig.V2.ForProfile(Profile.Paper));
        var v1Paper = PDiffConfig.V1.ForProfile(Profile.Paper);
        Assert.True(v1Paper.AeSteps < PDiffConfig.V1.AeSteps);
        var q = PDiffConfig.Default.ForProfile(Profile.Quick);
        Assert.InRange(q.AeSteps, 1, PDiffConfig.Default.AeSteps);
    }
}
