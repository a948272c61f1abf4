using PDiff.Diffusion;
using PDiff.Studies;
using PDiff.Models;
using PDiff.Tests.Diffusion;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>The full-v2 profile (issue 12, point 3): the reference V2 budgets, flags still winning, and the pieces its timing uses.</summary>
public class FullV2ProfileTests
{
    [Theory]
    [InlineData("full-v2")]
    [InlineData("FULL-V2")]
    [InlineData("fullv2")]
    public void ParsesAndNamesItself(string text)
    {
        Assert.Equal(Profile.FullV2, Profiles.Parse(text));
        Assert.Equal("full-v2", Profile.FullV2.Name());
        Assert.Equal(Profile.FullV2, Profiles.Parse(Profile.FullV2.Name()));
    }

    [Fact]
    public void AnUnknownProfileNamesTheChoices()
    {
        var e = Assert.Throws<ArgumentException>(() => Profiles.Parse("fast"));
        Assert.Contains("full-v2", e.Message);
    }

    [Theory]
    [InlineData("default")]
    [InlineData("v1")]
    [InlineData("v2")]
    public void RunsTheReferenceV2BudgetsForEveryPreset(string preset)
    {
        var c = PDiffConfig.Preset(preset).ForProfile(Profile.FullV2);
        Assert.Equal((500, 50, 1000, 50, 1000), (c.AeSteps, c.AeBatch, c.DiffSteps, c.DiffBatch, c.Timesteps));
        var s = ProfileDefaults.SamplingFor(Profile.FullV2, c);
        Assert.Equal(SamplerKind.Ddpm, s.Sampler);
        Assert.Equal(200, ProfileDefaults.GeneratedCount(Profile.FullV2));
    }

    [Fact]
    public void AFlagTheUserGaveWinsOverTheProfile()
    {
        var c = ConfigText.FromArgs(new[] { "--ae-steps", "40", "--sampler", "ddim" }, PDiffConfig.Default);
        var p = ProfileDefaults.SamplingFor(Profile.FullV2, c.ForProfile(Profile.FullV2));
        Assert.Equal(40, p.AeSteps);
        Assert.Equal(1000, p.DiffSteps);
        Assert.Equal(SamplerKind.Ddim, p.Sampler);
    }

    [Fact]
    public void TheZooIsConvNet3With32_64_128ChannelsTrainedThreeEpochsByV2()
    {
        var spec = ModelRegistry.Complete(ZooProfiles.Model(Profile.FullV2, "convnet3"));
        Assert.Equal(new[] { 32, 64, 128 }, spec.Channels);
        Assert.Null(spec.Width);
        var train = ZooProfiles.Train(Profile.FullV2, "convnet3");
        Assert.Equal(("adamw", 5e-4, 5e-4, "cosine", 3, 128), (train.Optimizer, train.Lr, train.WeightDecay, train.Schedule, train.Epochs, train.BatchSize));
        Assert.Equal(200, ZooProfiles.K(Profile.FullV2));
        Assert.Null(ZooProfiles.Data(Profile.FullV2).MaxTrain);   // every training image
        // The last two BN layers of that network hold 2·(64 + 128) numbers.
        using var m = ModelRegistry.Create(spec, 1);
        var layout = Subsets.Resolve(m, "last-two-norms");
        Assert.Equal(384, layout.Length);
    }

    [Fact]
    public void ChannelsRoundTripAndRejectWhatDoesNotApply()
    {
        var spec = new ModelSpec { Arch = "convnet3", Channels = new[] { 32, 64, 128 } };
        Assert.True(spec.SameAs(ModelSpec.FromJson(spec.ToJson())));
        Assert.Contains("channels [32, 64, 128]", spec.ToString());
        using (var m = ModelRegistry.Create(spec, 1))
        {
            var shapes = m.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
            Assert.Equal(new long[] { 64, 32, 3, 3 }, shapes["features.4.weight"]);
            Assert.Equal(new long[] { 10, 128 * 9 }, shapes["classifier.weight"]);
        }
        Assert.Contains("Channels", Assert.Throws<ArgumentException>(() => ModelRegistry.Complete(spec with { Width = 16 })).Message);
        Assert.Contains("Channels", Assert.Throws<ArgumentException>(() => ModelRegistry.Complete(spec with { Channels = new[] { 8, 8 } })).Message);
        Assert.Contains("Channels", Assert.Throws<ArgumentException>(() => ModelRegistry.Complete(new ModelSpec { Arch = "mlp", Channels = new[] { 8, 8, 8 } })).Message);
        // A spec without channels reads as before: every block at Width.
        Assert.Equal("{\"arch\":\"convnet3\",\"classes\":10,\"inChannels\":1,\"imageSize\":28,\"width\":128}", ModelRegistry.Complete(new ModelSpec { Arch = "convnet3" }).ToJson());
    }

    [Fact]
    public void TheTrainerTimesBothPhases()
    {
        var (v, layout) = TrainingTests.TinyZoo();
        using var _ = v;
        var cfg = TrainingTests.Small("default") with { AeSteps = 3, DiffSteps = 2, CheckpointEvery = 0 };
        using var trainer = new PDiffTrainer(cfg, v, layout, new TrainerOptions { Log = null });
        using var model = trainer.Train();
        Assert.True(trainer.PhaseSeconds[PDiffTrainer.AePhase] > 0);
        Assert.True(trainer.PhaseSeconds[PDiffTrainer.DiffusionPhase] > 0);
    }

    [Fact]
    public void TheMatmulPeakIsAPositiveRateAndRefusesNonsense()
    {
        var g = MatmulPeak.GflopPerSecond(256, 2);
        Assert.True(double.IsFinite(g) && g > 0.1, $"{g} GFLOP/s");
        Assert.Throws<ArgumentOutOfRangeException>(() => MatmulPeak.GflopPerSecond(0));
    }

    [Fact]
    public void AStageRateIsTwoFlopsAMultiplyAdd()
    {
        var s = new StageTime("x", 2.0, 50e9, "");
        Assert.Equal(50.0, s.GflopPerSecond!.Value, 9);
        Assert.Equal(0.25, s.FractionOfPeak(200)!.Value, 9);
        Assert.Null(new StageTime("y", 1.0, null, "").GflopPerSecond);
    }
}
