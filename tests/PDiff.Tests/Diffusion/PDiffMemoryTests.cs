using PDiff.Diffusion;
using PDiff.Storage;
using PDiff.Models;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Diffusion;

/// <summary>
/// p-diff's memory counted from its configuration and the zoo's shape, checked before the autoencoder exists:
/// the autoencoder's count is the built one's, each flag's limit is accepted and one more refused.
/// </summary>
public class PDiffMemoryTests
{
    [Theory]
    [InlineData(AutoencoderKind.V2OneDim, 300, new long[] { 8, 16, 4 }, 12)]
    [InlineData(AutoencoderKind.V2OneDim, 2048, new long[] { 64, 128, 256, 256, 32 }, 128)]
    [InlineData(AutoencoderKind.Chunked, 1000, new long[] { 64, 32 }, 16)]
    [InlineData(AutoencoderKind.Chunked, 77, new long[] { 10, 3 }, 5)]
    public void TheAutoencodersCountIsTheBuiltOnes(AutoencoderKind kind, long n, long[] channels, int latent)
    {
        var c = PDiffConfig.Default with { Autoencoder = kind, AeChannels = channels, LatentDim = latent };
        using var g = new Generator(0);
        using var ae = PDiffModel.CreateAutoencoder(c, n, g);
        Assert.Equal(ModuleTree.ParameterCount(ae), (long)PDiffMemory.AutoencoderParameters(c, n));
    }

    public static TheoryData<string, string[]> Flags => new()
    {
        { "AeBatch", new[] { "--ae-batch", "2000000000" } },
        { "DiffBatch", new[] { "--diff-batch", "2000000000" } },
        { "Timesteps", new[] { "--timesteps", "2000000000" } },
        { "LatentDim", new[] { "--latent-dim", "2000000000" } },
        { "AeChannels", new[] { "--ae-channels", "64,128,100000000" } },
        { "AeSteps", new[] { "--ae-steps", "2000000000" } },
        { "DiffSteps", new[] { "--diff-steps", "2000000000" } },
        { "ValidateModels", new[] { "--validate-models", "2000000000" } },
    };

    [Theory]
    [MemberData(nameof(Flags))]
    public void EachSettingsLimitIsAcceptedAndOneMoreRefused(string property, string[] args)
    {
        var budget = new MachineBudget(4L << 30, 2);
        var c = ConfigText.FromArgs(args);
        var job = new PDiffMemory.Job(2048, 200, 100, 10_000, 10);
        var e = Assert.Throws<BudgetExceededException>(() => PDiffMemory.CheckFits(c, job, budget, ConfigText.FlagOf));
        Assert.Equal(property, e.Property);
        var limit = Assert.IsType<long>(e.Limit);
        Assert.StartsWith($"{args[0]} {e.Value}: p-diff on 200 vectors of 2,048 numbers needs at least ", e.Message);
        Assert.EndsWith($"; this machine has 4.0 GiB of memory available: use at most {args[0]} {limit}" + (property == "AeChannels" ? " (for the widest layer)." : "."), e.Message);
        PDiffMemory.CheckFits(With(args, limit), job, budget);
        Assert.Throws<BudgetExceededException>(() => PDiffMemory.CheckFits(With(args, limit + 1), job, budget));
    }

    /// <summary>The configuration of <paramref name="args"/> with its flag at <paramref name="v"/> (ae-channels: its widest layer).</summary>
    static PDiffConfig With(string[] args, long v) =>
        ConfigText.FromArgs(new[] { args[0], args[0] == "--ae-channels" ? $"64,128,{v}" : v.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    [Fact]
    public void TheZoosKAndTheGeneratedCountAreBounded()
    {
        var budget = new MachineBudget(4L << 30, 2);
        var c = PDiffConfig.Default;
        var job = new PDiffMemory.Job(2048, 200, 2_000_000_000, 10_000, 10);
        var e = Assert.Throws<BudgetExceededException>(() => PDiffMemory.CheckFits(c, job, budget));
        Assert.Equal("Generate", e.Property);
        Assert.StartsWith("Generate 2000000000: p-diff on 200 vectors of 2,048 numbers needs at least ", e.Message);
        Assert.Contains("(the generated models: ", e.Message);
        PDiffMemory.CheckFits(c, job with { Generate = e.Limit!.Value }, budget);
        Assert.Throws<BudgetExceededException>(() => PDiffMemory.CheckFits(c, job with { Generate = e.Limit!.Value + 1 }, budget));
        var k = Assert.Throws<BudgetExceededException>(() => PDiffMemory.CheckFits(c, job with { K = 100_000_000, Generate = 100 }, budget));
        Assert.Equal("K", k.Property);
        PDiffMemory.CheckFits(c, job with { K = k.Limit!.Value, Generate = 100 }, budget);
    }

    [Fact]
    public void TheTrainerRefusesARunThatCannotFitBeforeBuildingIt()
    {
        using var vectors = randn(4, 64);
        var layout = new PDiff.Zoo.SubsetLayout(new[] { new PDiff.Zoo.TensorSpec("w", new long[] { 64 }) });
        var e = Assert.Throws<BudgetExceededException>(() => new PDiffTrainer(PDiffConfig.Default with { AeBatch = int.MaxValue }, vectors, layout).Dispose());
        Assert.StartsWith("PDiffConfig.AeBatch 2147483647: p-diff on 4 vectors of 64 numbers", e.Message);
    }
}
