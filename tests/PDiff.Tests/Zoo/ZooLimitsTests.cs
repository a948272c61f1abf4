using PDiff.Storage;
using PDiff.Models;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Zoo;

/// <summary>A zoo's K × N matrix and its collection's iterations are bounded before a zoo is built.</summary>
public class ZooLimitsTests
{
    [Fact]
    public void KCheckpointsOfNNumbersMustFitTheMemory()
    {
        var budget = new MachineBudget(1L << 30, 2);   // 1 GiB: 2^28 floats
        ZooLimits.CheckVectors("K", 1 << 20, 256, "checkpoints", budget: budget);   // exactly 1 GiB
        var e = Assert.Throws<BudgetExceededException>(() => ZooLimits.CheckVectors("K", 100_000_000, 256, "checkpoints", budget: budget, name: p => "--k"));
        Assert.Equal("--k 100000000: 100,000,000 checkpoints of 256 numbers take 95.4 GiB in float32; this machine has 1.0 GiB of memory available: use at most --k 1048576.", e.Message);
        Assert.Throws<BudgetExceededException>(() => ZooLimits.CheckVectors("K", (1 << 20) + 1, 256, "checkpoints", budget: budget));
        // Scored at once, each vector also holds its logits twice: 2 · 1,000 images · 10 classes floats.
        Assert.Equal(4.0 * 3 * (256 + 20_000), ZooLimits.VectorBytes(3, 256, 1000, 10));
    }

    [Fact]
    public void TheCollectionsIterationsMustFitItsCounter()
    {
        var ok = CollectionRecipe.V1(10, (int.MaxValue - 0) / 10);
        ok.Validated();
        var e = Assert.Throws<BudgetExceededException>(() => (ok with { SaveEvery = 300_000_000 }).Validated(p => "--" + p.ToLowerInvariant()));
        Assert.Equal("--saveevery 300000000: 10 checkpoints 300000000 iterations apart make 3.0e9 iterations, more than the collector counts (2.1e9); " +
                     "use at most --saveevery 214748364 or a smaller --k.", e.Message);
        Assert.Equal(214748364, e.Limit);
    }

    [Fact]
    public void EpochsAreBoundedByTheirHistory()
    {
        var budget = new MachineBudget(1L << 20, 2);   // 1 MiB: 5,242 epochs of 200 bytes
        TrainConfig.V2(5242).Validated(budget: budget);
        var e = Assert.Throws<BudgetExceededException>(() => TrainConfig.V2(5243).Validated(p => "--epochs", budget));
        Assert.Equal("--epochs 5243: 5243 epochs keep 1.0 MiB of per-epoch history (200 bytes an epoch); this machine has 1.0 MiB of memory available: use at most --epochs 5242.", e.Message);
    }

    [Fact]
    public void ABuildIsCheckedBeforeAnyDataIsReadOrFolderClaimed()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"pdiff-limits-{Guid.NewGuid():N}");
        var o = new ZooBuildOptions { Out = dir, Arch = "mlp", Profile = Profile.Smoke, K = 100_000_000 };
        var budget = new MachineBudget(1L << 30, 2);
        var e = Assert.Throws<BudgetExceededException>(() => ZooLimits.CheckBuild(o, budget));
        Assert.StartsWith("ZooBuildOptions.K 100000000: 100,000,000 checkpoints of ", e.Message);
        // The smoke MLP's default subset (its last two norms: 2 · (64 + 32) numbers) at the largest K that fits.
        Assert.Equal(192, ZooLimits.CheckBuild(o with { K = (int)((1L << 30) / (4 * 192)) }, budget));
        var wide = Assert.Throws<BudgetExceededException>(() => ZooLimits.CheckBuild(o with { K = 10, Model = new ModelSpec { Arch = "mlp", Hidden = new[] { 2_000_000_000 } } }, budget));
        Assert.Equal("Hidden", wide.Property);
        // Through ZooBuilder: refused before the folder exists.
        Assert.Throws<BudgetExceededException>(() => ZooBuilder.Build(o with { Model = new ModelSpec { Arch = "mlp", Hidden = new[] { 2_000_000_000 } } }));
        Assert.False(Directory.Exists(dir));
    }
}
