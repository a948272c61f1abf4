using System.Text.Json;
using System.Text.Json.Nodes;
using PDiff.Studies;
using Xunit;
using static PDiff.Tests.Studies.BenchScripts;

namespace PDiff.Tests.Studies;

/// <summary>
/// bench/python/equal_work_table.py on fixture JSONs (fixtures/equal_work: our stages 100, 2, 50, 20, 40 s shared, then
/// 30 + 10 s for DDPM-1000 and 5 + 8 s for DDIM-50; PyTorch's 250, 1, 100, 60, 80, then 90 + 30 and 10 + 20): every ratio
/// is PyTorch ÷ ours of the two files, stages are matched by name, and what does not match is reported, not guessed.
/// </summary>
public class EqualWorkTableTests
{
    static JsonElement Written(string dir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "equal-work.json"))).RootElement;

    static double? Field(JsonElement row, string name) => row.GetProperty(name).ValueKind == JsonValueKind.Null ? null : row.GetProperty(name).GetDouble();

    static JsonElement Row(JsonElement root, string list, string key, string value) =>
        root.GetProperty(list).EnumerateArray().Single(r => r.GetProperty(key).GetString() == value);

    /// <summary>The PyTorch fixture changed by <paramref name="edit"/>, written to a temporary file.</summary>
    static string EditedPyTorch(Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(Fixture("pytorch.json")))!.AsObject();
        edit(node);
        var path = Path.Combine(Directory.CreateTempSubdirectory("pdiff-equal-work-in-").FullName, "pytorch.json");
        File.WriteAllText(path, node.ToJsonString());
        return path;
    }

    [Fact]
    public void EveryRatioIsPyTorchOverOursFromTheTwoFiles()
    {
        var (code, err, dir) = Table(Fixture("pdiff.json"), Fixture("pytorch.json"), "--set", "date=2026-12-08 01:00 UTC");
        Assert.True(code == 0, err);
        var root = Written(dir);
        foreach (var (stage, ratio) in new[] { ("base training", 2.5), ("collection", 0.5), ("scoring the zoo", 2.0), ("autoencoder training", 3.0),
                     ("denoiser training", 2.0), ("sampling, DDPM-1000", 3.0), ("evaluation, DDPM-1000", 3.0), ("sampling, DDIM-50", 2.0), ("evaluation, DDIM-50", 2.5) })
            Assert.Equal(ratio, Field(Row(root, "stages", "stage", stage), "ratio")!.Value, 12);
        // Whole pipelines: the shared stages plus the sampler's two. DDPM: 252 s ours, 611 s PyTorch; DDIM: 225 s, 521 s.
        var ddpm = Row(root, "pipelines", "sampler", "DDPM-1000");
        Assert.Equal((252.0, 611.0), (Field(ddpm, "pdiff_seconds")!.Value, Field(ddpm, "pytorch_seconds")!.Value));
        Assert.Equal(611.0 / 252.0, Field(ddpm, "ratio")!.Value, 12);
        Assert.Equal(521.0 / 225.0, Field(Row(root, "pipelines", "sampler", "DDIM-50"), "ratio")!.Value, 12);
        Assert.Equal("2026-12-08 01:00 UTC", root.GetProperty("date").GetString());
        Assert.Equal(("full-v2", "bf16"), (root.GetProperty("profile").GetString(), root.GetProperty("precision").GetString()));
        var tsv = File.ReadAllLines(Path.Combine(dir, "equal-work.tsv"));
        Assert.Equal("stage\tpdiff_seconds\tpytorch_seconds\tpytorch_cpu_seconds\tratio_pytorch_over_pdiff", tsv[0]);
        Assert.Contains("base training\t100.000\t250.000\t375.000\t2.5000", tsv);
        Assert.Contains("whole pipeline, DDPM-1000\t252.000\t611.000\t\t2.4246", tsv);
        Assert.Contains("| **whole pipeline, DDIM-50** | 225.0 | 521.0 | | **2.32** |", File.ReadAllText(Path.Combine(dir, "equal-work.md")));
    }

    [Fact]
    public void AStageOnOneSideOnlyIsReportedAndItsPipelinesGetNoRatio()
    {
        var pytorch = EditedPyTorch(n =>
        {
            var stages = n["stages"]!.AsArray();
            stages.Remove(stages.Single(s => (string)s!["stage"]! == "collection"));
            stages.Add(new JsonObject { ["stage"] = "loading the data", ["seconds"] = 3.0 });
        });
        var (code, err, dir) = Table(Fixture("pdiff.json"), pytorch);
        Assert.True(code == 0, err);
        var root = Written(dir);
        var collection = Row(root, "stages", "stage", "collection");
        Assert.Equal(2.0, Field(collection, "pdiff_seconds"));
        Assert.Null(Field(collection, "pytorch_seconds"));
        Assert.Null(Field(collection, "ratio"));
        Assert.Equal(3.0, Field(Row(root, "stages", "stage", "loading the data"), "pytorch_seconds"));
        Assert.Equal(new[] { "collection" }, root.GetProperty("unmatched").GetProperty("pdiff_only").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(new[] { "loading the data" }, root.GetProperty("unmatched").GetProperty("pytorch_only").EnumerateArray().Select(e => e.GetString()));
        foreach (var p in root.GetProperty("pipelines").EnumerateArray())
        {
            Assert.Null(Field(p, "ratio"));
            Assert.Contains("collection", p.GetProperty("missing").EnumerateArray().Select(e => e.GetString()));
        }
        Assert.Contains("stages only PDiff.NET reported: collection", err);
        Assert.Contains("Stages only PyTorch reported (no ratio): loading the data.", File.ReadAllText(Path.Combine(dir, "equal-work.md")));
    }

    [Theory]
    [InlineData("profile", "smoke", "profile full-v2 (PDiff.NET) against smoke (PyTorch)")]
    [InlineData("precision", "float32", "precision bf16 (PDiff.NET) against float32 (PyTorch)")]
    [InlineData("sampler", "DDIM-20", "sampler rows DDPM-1000, DDIM-50 (PDiff.NET) against DDPM-1000, DDIM-20 (PyTorch)")]
    public void NotTheSameWorkIsRefusedAndNothingWritten(string what, string value, string message)
    {
        var pytorch = EditedPyTorch(n =>
        {
            if (what != "sampler") n[what] = value;
            else
                foreach (var s in n["stages"]!.AsArray())
                    s!["stage"] = ((string)s["stage"]!).Replace("DDIM-50", value);
        });
        var (code, err, dir) = Table(Fixture("pdiff.json"), pytorch);
        Assert.Equal(1, code);
        Assert.Equal("equal_work_table.py: not equal work: " + message, Assert.Single(Lines(err)));
        Assert.False(File.Exists(Path.Combine(dir, "equal-work.json")));
    }

    [Theory]
    [InlineData("--set", "nodate")]
    [InlineData("--bogus")]
    public void UsageErrorsExitTwoWithOneLine(params string[] extra)
    {
        var (code, err, _) = Table(Fixture("pdiff.json"), Fixture("pytorch.json"), extra);
        Assert.Equal(2, code);
        Assert.StartsWith("equal_work_table.py: ", Assert.Single(Lines(err)));
    }

    [Fact]
    public void AFileWithoutStagesIsNamed()
    {
        var (code, err, _) = Table(Fixture("pdiff.json"), EditedPyTorch(n => n.Remove("stages")));
        Assert.Equal(1, code);
        Assert.Contains("has no list of stages", Assert.Single(Lines(err)));
    }

    [Fact]
    public void WhatItWritesIsWhatNotebook11Reads()
    {
        var (code, err, dir) = Table(Fixture("pdiff.json"), Fixture("pytorch.json"), "--set", "date=2026-12-08 01:00 UTC", "--set", "cpu=AMD EPYC, 2 cores", "--set", "pytorch=1.13.0a0");
        Assert.True(code == 0, err);
        var r = EqualWorkResult.Load(Path.Combine(dir, "equal-work.json"));
        Assert.Equal(("2026-12-08 01:00 UTC", "full-v2", "bf16", "AMD EPYC, 2 cores", "1.13.0a0"), (r.Date, r.Profile, r.Precision, r.Cpu, r.TorchVersion));
        Assert.Equal(new[] { "DDPM-1000", "DDIM-50" }, r.Samplers);
        Assert.Equal(611.0 / 252.0, r.Pipeline("DDPM-1000")!.Ratio!.Value, 12);
        // PyTorch's DDIM-50 stages in the chart's groups, minutes: evaluation = its DDIM evaluation + the zoo's scoring.
        var expected = new[] { 250.0, 1, 60, 80, 10, 20 + 100 }.Select(s => s / 60);
        Assert.Equal(expected, StageComparison.GroupedMinutes(r.PyTorchStages, "DDIM-50"));
        var (found, note) = EqualWork.Find("", PDiff.Zoo.Profile.FullV2, PDiff.Diffusion.AutocastKind.BFloat16, dir);
        Assert.Equal(r.Path, found!.Path);
        Assert.Contains("2026-12-08 01:00 UTC", note);
    }
}
