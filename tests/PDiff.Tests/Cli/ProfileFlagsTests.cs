using PDiff.Diffusion;
using PDiff.Studies;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Cli;

/// <summary>
/// "Flags always win": a profile fills in only what the user did not set. The chain is the one TaskRunner
/// runs before training (ForProfile, then the profile's sampler, then the run's seeds), and the JSON is what
/// it writes as run&lt;i&gt;/pdiff_config.json. No training.
/// </summary>
public sealed class ProfileFlagsTests
{
    static PDiffConfig AsRun(PDiffConfig preset, Profile profile, int run = 0) =>
        TaskRunner.SeedsFor(ProfileDefaults.SamplingFor(profile, preset.ForProfile(profile)), run);

    [Fact]
    public void ExplicitStepsSurviveTheSmokeProfile()
    {
        var flags = ConfigText.FromArgs(new[] { "--ae-steps", "300", "--diff-steps", "300" }, PDiffConfig.Default);
        var ran = AsRun(flags, Profile.Smoke);
        Assert.Equal((300, 300), (ran.AeSteps, ran.DiffSteps));
        var json = ConfigText.ToJson(ran);
        Assert.Contains("\"AeSteps\": 300", json);
        Assert.Contains("\"DiffSteps\": 300", json);
        // What the user did not set still comes from the profile.
        Assert.Equal(5, ran.LogEvery);
        Assert.Equal(0, ran.CheckpointEvery);
        Assert.Equal(SamplerKind.Ddim, ran.Sampler);
        // Without flags the smoke caps apply as before.
        var plain = AsRun(ConfigText.FromArgs(Array.Empty<string>(), PDiffConfig.Default), Profile.Smoke);
        Assert.Equal((20, 20), (plain.AeSteps, plain.DiffSteps));
    }

    [Fact]
    public void ExplicitStepsSurviveTheQuickCapsAndUnsetOnesAreCapped()
    {
        var ran = AsRun(ConfigText.FromArgs(new[] { "--ae-steps", "300" }, PDiffConfig.Default), Profile.Quick);
        Assert.Equal(300, ran.AeSteps);   // quick caps V2's AE at 150
        Assert.Equal(300, ran.DiffSteps); // not given: quick's cap of the default 1000
        var v1 = AsRun(ConfigText.FromArgs(new[] { "--diff-steps", "2500" }, PDiffConfig.V1), Profile.Paper);
        Assert.Equal((2000, 2500), (v1.AeSteps, v1.DiffSteps));
    }

    [Fact]
    public void AnExplicitSamplerAndIntervalsSurviveToo()
    {
        var ran = AsRun(ConfigText.FromArgs(new[] { "--sampler", "ddpm", "--ddim-steps", "7", "--log-every", "1", "--validate-models", "4" }, PDiffConfig.Default), Profile.Smoke);
        Assert.Equal((SamplerKind.Ddpm, 7, 1, 4), (ran.Sampler, ran.DdimSteps, ran.LogEvery, ran.ValidateModels));
        var quick = AsRun(ConfigText.FromArgs(new[] { "--ddim-steps", "30" }, PDiffConfig.Default), Profile.Quick);
        Assert.Equal((SamplerKind.Ddim, 30), (quick.Sampler, quick.DdimSteps));
    }

    [Fact]
    public void SeedsOfLaterRunsStillShiftAndExplicitMarksDoNotChangeEquality()
    {
        var flags = ConfigText.FromArgs(new[] { "--ae-steps", "300" }, PDiffConfig.Default);
        Assert.Equal(PDiffConfig.Default with { AeSteps = 300 }, flags);
        Assert.Equal(new[] { "AeSteps" }, flags.Explicit.ToArray());
        var second = AsRun(flags, Profile.Smoke, run: 1);
        Assert.Equal(300, second.AeSteps);
        Assert.Equal(PDiffConfig.Default.AeSeed + 1000, second.AeSeed);
        // A later --preset starts over: flags before it are gone, and so are their marks.
        var reset = ConfigText.FromArgs(new[] { "--ae-steps", "300", "--preset", "v2" }, null);
        Assert.Empty(reset.Explicit);
        Assert.Equal(20, AsRun(reset, Profile.Smoke).AeSteps);
        Assert.Throws<ArgumentException>(() => PDiffConfig.Default.WithExplicit(new[] { "NoSuchSetting" }));
    }

    [Theory]
    [InlineData("--ae-steps", "0", "--ae-steps must be at least 1")]
    [InlineData("--diff-batch", "0", "--diff-batch must be at least 1")]
    [InlineData("--timesteps", "-3", "--timesteps must be at least 1")]
    [InlineData("--ae-lr", "0", "--ae-lr takes a finite number > 0")]
    [InlineData("--diff-lr", "NaN", "--diff-lr")]
    [InlineData("--ae-lr", "Infinity", "--ae-lr")]
    [InlineData("--input-noise", "-1", "--input-noise must be ≥ 0")]
    [InlineData("--init-seed", "-1", "--init-seed must be ≥ 0")]
    [InlineData("--log-every", "-1", "--log-every must be at least 0")]
    [InlineData("--beta-start", "0", "beta-start")]
    public void PDiffFlagsAreRangeChecked(string flag, string value, string fragment)
    {
        var e = Assert.Throws<ArgumentException>(() => ConfigText.FromArgs(new[] { flag, value }, PDiffConfig.Default));
        Assert.Contains(fragment, e.Message);
        Assert.Equal(0, ConfigText.FromArgs(new[] { "--log-every", "0" }, PDiffConfig.Default).LogEvery); // 0 = never is allowed
    }
}
