using PDiff.Data;
using System.Text.Json;
using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Studies;
using PDiff.Storage;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// The pipeline over seeds. Seed 0 is the configuration of old (same zoo names, same seeds); seed s
/// shifts every seed but the data split's; the per-seed folders and the summary over seeds; the README block
/// and the rerun check built from them.
/// </summary>
public class SeedRunsTests
{
    [Fact]
    public void SeedZeroKeepsTodaysNamesAndSeeds()
    {
        var task = new TaskSpec("fashion-mnist", "resnet18", "last-two-norms");
        Assert.Equal(0, task.Seed);
        Assert.Equal("fashion-mnist_resnet18_last-two-norms_k200_v2", task.ZooName(Profile.Quick));
        Assert.Equal("fashion-mnist × resnet18 × last-two-norms", task.ToString());
        Assert.Equal(task, task.WithSeed(0));
        Assert.Equal("fashion-mnist_resnet18_last-two-norms_k10_v2_seed2", task.WithSeed(2).ZooName(Profile.Smoke));
        Assert.Equal(2, ZooCache.SeedOfZooName(task.WithSeed(2).ZooName(Profile.Smoke)));
        Assert.Equal(0, ZooCache.SeedOfZooName(task.ZooName(Profile.Smoke)));
        Assert.Throws<ArgumentOutOfRangeException>(() => task.WithSeed(-1));

        var c = PDiffConfig.Default;
        Assert.Equal(c, TaskRunner.SeedsFor(c, 0));
        Assert.Equal(c, TaskRunner.SeedsFor(c, 0, 0));
        Assert.Equal(c.AeSeed + 1000, TaskRunner.SeedsFor(c, 1).AeSeed);
        var s1 = TaskRunner.SeedsFor(c, 2, 1);
        Assert.Equal((c.InitSeed + 102_000, c.AeSeed + 102_000, c.DiffusionSeed + 102_000, c.SampleSeed + 102_000),
            (s1.InitSeed, s1.AeSeed, s1.DiffusionSeed, s1.SampleSeed));

        var train = ZooProfiles.Train(Profile.Quick, "resnet18");
        Assert.Same(train, ZooProfiles.Seeded(train, 0));
        Assert.Equal(train.Seed + 300_000, ZooProfiles.Seeded(train, 3).Seed);
        var recipe = ZooProfiles.Collection(Profile.Quick, RecipeKind.V2, "resnet18", 200);
        Assert.Equal(JsonSerializer.Serialize(CollectionRecipe.V2(200, "resnet18")), JsonSerializer.Serialize(recipe));
        Assert.Equal(recipe.Seed + 100_000, ZooProfiles.Seeded(recipe, 1).Seed);
        Assert.Equal(2, ZooProfiles.Seeds(Profile.Smoke));
        Assert.Equal(3, ZooProfiles.Seeds(Profile.Quick));
    }

    static IReadOnlyList<GroupSummary> Groups(double original, double generated, double ensemble, double average) => new[]
    {
        GroupSummary.From(Evaluator.Original, new[] { original, original + 0.01 }, new[] { original - 0.001, original + 0.001 }),
        GroupSummary.From(Evaluator.Ensemble, new[] { ensemble }, new[] { ensemble }),
        GroupSummary.From(Evaluator.Generated, new[] { generated, generated + 0.02 }, new[] { generated - 0.002, generated + 0.002 }),
        GroupSummary.From("average4", new[] { average }, new[] { average }),
    };

    static SeedSummary Synthetic(params double[] shifts) => SeedSummary.From("t", "smoke", Enumerable.Range(0, shifts.Length).ToList(),
        shifts.Select(s => (IReadOnlyList<IReadOnlyList<GroupSummary>>)new[] { Groups(0.87 + s, 0.872 + s, 0.875 + s, 0.8725 + s) }).ToList(),
        shifts.Select(s => 0.865 + s).ToList());

    [Fact]
    public void SummaryPairsSeedsAndFollowsTheIntervals()
    {
        var s = Synthetic(0, 0.004, -0.003);
        Assert.Equal(0.87 + 0.001 / 3, s.Row(Evaluator.Original, SeedSummary.TestMean)!.Spread.Mean, 12);
        Assert.Equal("average4", s.Row("average*", SeedSummary.TestMean)!.Group);
        // The seeds move every group together; the paired differences keep only the constant gaps.
        var vsOriginal = s.Difference("pdiff_mean_vs_original_mean")!;
        Assert.Equal(0.002, vsOriginal.Mean, 12);
        Assert.Equal(DifferenceVerdict.Higher, vsOriginal.Verdict);
        Assert.Equal(DifferenceVerdict.Lower, s.Difference("pdiff_mean_vs_ensemble")!.Verdict);
        Assert.Null(s.Difference("pdiff_mean_vs_gaussian"));          // no such group: no comparison
        Assert.Contains(s.Sentences(), x => x.StartsWith("[exploratory] p-diff mean is lower than weight average: −0.30 pt"));
        var frame = s.ToDisplayFrame();
        Assert.Equal(5, frame.Rows.Count);                              // base model + 4 groups
        Assert.Equal(3 + 2 + 3, s.ToDataFrame().Columns.Count);         // group, statistic, seeds, mean, std, count

        var noisy = SeedSummary.From("t", "smoke", new[] { 0, 1, 2 },
            new[] { 0.0, 0.01, -0.01 }.Select((d, i) => (IReadOnlyList<IReadOnlyList<GroupSummary>>)new[] { Groups(0.87, 0.87 + d, 0.87, 0.87) }).ToList(),
            new[] { 0.86, 0.86, 0.86 });
        Assert.Equal(DifferenceVerdict.Indistinguishable, noisy.Difference("pdiff_mean_vs_original_mean")!.Verdict);
    }

    [Fact]
    public void ReadmeBlockAndRerunCheck()
    {
        var committed = Synthetic(0, 0.004, -0.003);
        var md = MainResult.Markdown(committed, new RunEnvironment("2026-12-02 10:00 UTC", "Test CPU", 2, 2, "0.107.0", "2.10.0", "10.0.0", "Linux"), "results/x");
        Assert.Contains("| **p-diff** |", md);
        Assert.Contains("Test CPU, 2 cores, 2 torch threads", md);
        Assert.Contains("| p-diff mean − originals' mean | headline | +0.20 / +0.20 / +0.20 |", md);

        var readme = Path.Combine(Path.GetTempPath(), "pdiff-readme-" + Guid.NewGuid().ToString("N") + ".md");
        try
        {
            File.WriteAllText(readme, $"intro\n{MainResult.BeginMarker}\nold text\n{MainResult.EndMarker}\noutro\n");
            Assert.True(MainResult.UpdateReadme(readme, md));
            var text = File.ReadAllText(readme);
            Assert.DoesNotContain("old text", text);
            Assert.StartsWith($"intro\n{MainResult.BeginMarker}\n**Main result over 3", text);
            Assert.EndsWith($"{MainResult.EndMarker}\noutro\n", text);
            File.WriteAllText(readme, "no markers");
            Assert.False(MainResult.UpdateReadme(readme, md));
        }
        finally { File.Delete(readme); }

        var same = MainResult.Compare(committed, Synthetic(0.001));
        Assert.NotEmpty(same);
        Assert.All(same, c => Assert.True(c.Inside, c.ToString()));
        var off = MainResult.Compare(committed, Synthetic(0.05));
        var orig = off.First(c => c.What == "original test_mean");
        Assert.False(orig.Inside);
        Assert.Contains("outside by", orig.ToString());
        Assert.True(orig.Outside > 0.01);
        Assert.Empty(MainResult.Compare(Synthetic(0), Synthetic(0)));   // one committed seed: no spread to compare with
    }

    [Fact]
    public void TwoSeedsWriteTheirFoldersAndASummaryThatReloads()
    {
        var root = Path.Combine(Path.GetTempPath(), "pdiff-seeds-" + Guid.NewGuid().ToString("N"));
        try
        {
            var task = new TaskSpec("fashion-mnist", "resnet18", "last-two-norms");
            var config = PDiffConfig.Default with { AeSteps = 5, DiffSteps = 5 };
            var zoos = Path.Combine(root, "zoos");
            var dir = Path.Combine(root, "results");
            var log = new StringWriter();
            using var result = TaskRunner.RunSeeds(task, config, Profile.Smoke, new[] { 0, 1 }, dir, log, generate: 4, zooRoot: zoos);

            Assert.Equal(Path.GetFullPath(dir), result.Folder);
            var owned = OwnedFolder.Claim(dir, ResultsFolders.Kind);
            foreach (var f in new[] { SeedSummary.SummaryCsv, SeedSummary.DifferencesCsv, SeedSummary.SummaryJson, RunEnvironment.FileName })
            {
                Assert.True(File.Exists(Path.Combine(dir, f)), $"missing {f}");
                Assert.True(owned.Owns(f), $"{f} is not on the folder's list");
            }
            foreach (var s in new[] { 0, 1 })
                foreach (var f in new[] { "run0/groups.json", "run0/pdiff_config.json", "main_row.json", "zoo_manifest.json" })
                    Assert.True(File.Exists(Path.Combine(dir, $"seed{s}", f)), $"missing seed{s}/{f}");

            // Seed 0: today's zoo name and seeds; seed 1: every seed shifted but the data split's.
            var z0 = result.Seeds[0].Zoo.Manifest;
            var z1 = result.Seeds[1].Zoo.Manifest;
            Assert.Equal(Path.Combine(zoos, task.ZooName(Profile.Smoke)), Path.GetFullPath(result.Seeds[0].Zoo.Directory).TrimEnd('/'));
            Assert.EndsWith("_seed1", result.Seeds[1].Zoo.Directory.TrimEnd('/'));
            Assert.Equal((0UL, 42UL, 40UL), (z0.Seeds["data"], z0.Seeds["base"], z0.Seeds["collection"]));
            Assert.Equal((0UL, 100_042UL, 100_040UL), (z1.Seeds["data"], z1.Seeds["base"], z1.Seeds["collection"]));
            Assert.Equal(z0.Data.Fingerprint, z1.Data.Fingerprint);
            var c0 = ConfigText.FromJson(File.ReadAllText(Path.Combine(dir, "seed0", "run0", "pdiff_config.json")));
            var c1 = ConfigText.FromJson(File.ReadAllText(Path.Combine(dir, "seed1", "run0", "pdiff_config.json")));
            Assert.Equal(PDiffConfig.Default.InitSeed, c0.InitSeed);
            Assert.Equal(c0.SampleSeed + ZooProfiles.SeedStride, c1.SampleSeed);
            Assert.NotEqual(z0.BaseTestAccuracy, z1.BaseTestAccuracy);

            // The summary on disk is rebuilt from the per-seed files alone, to the same numbers.
            var live = result.Summary;
            Assert.Equal(2, live.Differences.First().Count);
            var loaded = SeedSummary.Load(dir);
            Assert.Equal(live.Seeds, loaded.Seeds);
            Assert.Equal(live.Rows.Select(r => (r.Group, r.Statistic)), loaded.Rows.Select(r => (r.Group, r.Statistic)));
            foreach (var (a, b) in live.Rows.Zip(loaded.Rows)) Assert.Equal(a.Spread.Values, b.Spread.Values);
            Assert.Equal(live.Differences.Select(d => d.Low), loaded.Differences.Select(d => d.Low));
            Assert.Contains("pipeline seed 1", log.ToString());
            Assert.NotNull(RunEnvironment.Read(dir));
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }
}
