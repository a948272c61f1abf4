using System.Text.Json;
using PDiff.Diffusion;
using PDiff.Plots;
using PDiff.Studies;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// Where notebook 11 takes PyTorch's bars from (EqualWork) and how it draws them (StageComparison): only a measured
/// equal-work file of the run's profile, precision and sampler, the latest by date; nothing typed.
/// </summary>
public class EqualWorkTests
{
    /// <summary>A minimal equal-work.json in <paramref name="dir"/>/<paramref name="name"/>/ with PyTorch's stages for the given samplers.</summary>
    static string Write(string dir, string name, string date, string profile, string precision, params string[] samplers)
    {
        var stages = new List<object> { new { stage = "base training", seconds = 120.0 }, new { stage = "scoring the zoo", seconds = 60.0 } };
        foreach (var s in samplers)
        {
            stages.Add(new { stage = $"sampling, {s}", seconds = 30.0 });
            stages.Add(new { stage = $"evaluation, {s}", seconds = 6.0 });
        }
        var json = new
        {
            format = "pdiff-equal-work", version = 1, date, profile, precision, cpu = "AMD EPYC, 2 cores", pytorch = "1.13.0a0",
            pytorch_stages = stages, pipelines = samplers.Select(s => new { sampler = s, pdiff_seconds = 72.0, pytorch_seconds = 216.0, ratio = 3.0 }),
        };
        var path = Path.Combine(dir, name, "equal-work.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, JsonSerializer.Serialize(json));
        return path;
    }

    static string Folder()
    {
        var dir = Directory.CreateTempSubdirectory("pdiff-bench-results-").FullName;
        Write(dir, "2026-12-01-full-bf16", "2026-12-01 10:00 UTC", "full-v2", "bf16", "DDPM-1000", "DDIM-50");
        Write(dir, "2026-12-05-full-bf16", "2026-12-05 10:00 UTC", "full-v2", "bf16", "DDPM-1000", "DDIM-50");
        Write(dir, "2026-12-09-full-float32", "2026-12-09 10:00 UTC", "full-v2", "float32", "DDPM-1000");
        Write(dir, "nested/2026-12-09-small-bf16", "2026-12-09 11:00 UTC", "smoke", "bf16", "DDPM-100", "DDIM-50");
        return dir;
    }

    [Theory]
    [InlineData(Profile.FullV2, AutocastKind.BFloat16, "2026-12-05-full-bf16")]
    [InlineData(Profile.FullV2, AutocastKind.None, "2026-12-09-full-float32")]
    [InlineData(Profile.Smoke, AutocastKind.BFloat16, "2026-12-09-small-bf16")]
    public void TakesTheLatestOfTheRunsProfileAndPrecision(Profile profile, AutocastKind autocast, string expected)
    {
        var (r, note) = EqualWork.Find("", profile, autocast, Folder());
        Assert.Equal(expected, Path.GetFileName(Path.GetDirectoryName(r!.Path)));
        Assert.Equal((profile.Name(), EqualWork.Precision(autocast)), (r.Profile, r.Precision));
        Assert.Contains(r.Path, note);
    }

    [Fact]
    public void WithoutAMatchingFileThereIsNoBarAndTheNoteSaysHowToMeasureOne()
    {
        var (r, note) = EqualWork.Find("", Profile.Smoke, AutocastKind.None, Folder());
        Assert.Null(r);
        Assert.Contains("profile smoke, precision float32", note);
        Assert.Contains("bench/equal-work.sh --budget small --precision float32", note);
        Assert.Null(EqualWork.Find("", Profile.FullV2, AutocastKind.BFloat16, Path.Combine(Folder(), "absent")).Result);
    }

    [Fact]
    public void NoneTurnsTheBarOffAndAPathIsTakenOnlyWhenItMatches()
    {
        var dir = Folder();
        Assert.Null(EqualWork.Find("none", Profile.FullV2, AutocastKind.BFloat16, dir).Result);
        var float32 = Path.Combine(dir, "2026-12-09-full-float32", "equal-work.json");
        Assert.Equal(float32, EqualWork.Find(float32, Profile.FullV2, AutocastKind.None, dir).Result!.Path);
        var (r, note) = EqualWork.Find(float32, Profile.FullV2, AutocastKind.BFloat16, dir);
        Assert.Null(r);
        Assert.Contains("measured profile full-v2, precision float32, not this run's profile full-v2, precision bf16", note);
        Assert.Throws<FileNotFoundException>(() => EqualWork.Find(Path.Combine(dir, "nothing.json"), Profile.FullV2, AutocastKind.BFloat16, dir));
    }

    [Fact]
    public void AFileThatIsNotAnEqualWorkResultIsRefusedByName()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("pdiff-bench-bad-").FullName, "equal-work.json");
        File.WriteAllText(path, "{\"stages\": []}");
        Assert.Contains(path, Assert.Throws<InvalidDataException>(() => EqualWorkResult.Load(path)).Message);
        File.WriteAllText(path, "{\"format\": \"pdiff-equal-work\"}");
        Assert.Contains(path, Assert.Throws<InvalidDataException>(() => EqualWorkResult.Load(path)).Message);
    }

    static IReadOnlyList<(string, double)> OurStages(string sampler) => new (string, double)[]
    {
        ("base training", 60), ("collection", 6), ("scoring the zoo", 30), ("autoencoder training", 12), ("denoiser training", 24),
        ($"sampling, {sampler}", 18), ($"evaluation, {sampler}", 12), ("sampling, another sampler", 600),
    };

    [Fact]
    public void GroupsAddTheZoosScoringToEvaluationAndLeaveOtherSamplersOut()
    {
        Assert.Equal(new[] { 1.0, 0.1, 0.2, 0.4, 0.3, 0.7 }, StageComparison.GroupedMinutes(OurStages("DDIM-50"), "DDIM-50").Select(m => Math.Round(m, 12)));
    }

    [Fact]
    public void PyTorchIsDrawnOnlyForTheSamplersItMeasured()
    {
        var r = EqualWorkResult.Load(Path.Combine(Folder(), "2026-12-05-full-bf16", "equal-work.json"));
        var ours = new[] { ("DDPM-1000", OurStages("DDPM-1000")), ("DDIM-20", OurStages("DDIM-20")) };
        var bars = StageComparison.Chart("task", ours, r).Data.Cast<Bar>().ToList();
        Assert.Equal(new[] { "PyTorch 1.13.0a0 eager, DDPM-1000 (bench of 2026-12-05 10:00 UTC): 3.6 min", "PDiff.NET, DDPM-1000: 2.7 min", "PDiff.NET, DDIM-20: 2.7 min" },
            bars.Select(b => b.Name));
        Assert.Equal(new[] { 2.0, 0, 0, 0, 0.5, 1.1 }, bars[0].X);
        Assert.Equal(2, StageComparison.Chart("task", ours).Data.Count);
    }

    [Fact]
    public void DescribeQuotesTheBenchsOwnPair()
    {
        var r = EqualWorkResult.Load(Path.Combine(Folder(), "2026-12-05-full-bf16", "equal-work.json"));
        Assert.Equal("DDIM-50, equal-work bench of 2026-12-05 10:00 UTC: PDiff.NET 1.2 min, PyTorch 3.6 min, PyTorch ÷ PDiff.NET = 3.00 (both sides of that run)",
            EqualWork.Describe(r, "DDIM-50"));
        Assert.Contains("has no such row (it measured DDPM-1000, DDIM-50)", EqualWork.Describe(r, "DDIM-20"));
    }
}
