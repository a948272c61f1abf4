using System.Text.Json;
using PDiff.Diffusion;
using PDiff.Studies;
using PDiff.Zoo;
using Xunit;
using static PDiff.Tests.Studies.BenchScripts;

namespace PDiff.Tests.Studies;

/// <summary>
/// bench/python/pdiff_v2_pipeline.py does notebook 11's work: its settings per profile are read back (argument parsing
/// only, no PyTorch needed) and set against what notebook 11 runs in that profile; its and bench/equal-work.sh's usage
/// errors exit 2 with one line.
/// </summary>
public class ReferenceScriptTests
{
    static JsonElement Settings(params string[] args)
    {
        var code = "import json, sys; sys.path.insert(0, 'bench/python'); import pdiff_v2_pipeline as p; print(json.dumps(p.parse(sys.argv[1:])))";
        var (exit, stdout, stderr) = Run("python3", new[] { "-c", code }.Concat(args).ToArray());
        Assert.True(exit == 0, stderr);
        return JsonDocument.Parse(stdout).RootElement;
    }

    [Theory]
    [InlineData("full-v2", 1000)]
    [InlineData("smoke", 100)]   // notebook 11 runs the smoke profile's chain at 100 timesteps
    public void ItsBudgetsAreNotebook11s(string name, int timesteps)
    {
        var profile = Profiles.Parse(name);
        var s = Settings("--profile", name, "--out", "x.json");
        int Int(string key) => s.GetProperty(key).GetInt32();
        var data = ZooProfiles.Data(profile);
        Assert.Equal((data.MaxTrain ?? 55_000, data.ValidationSize ?? 5_000, data.MaxTest ?? 10_000), (Int("train_size"), Int("val_size"), Int("test_size")));
        var model = ZooProfiles.Model(profile, "convnet3");
        Assert.Equal(model.Channels ?? Enumerable.Repeat(model.Width!.Value, 3).ToArray(), s.GetProperty("channels").EnumerateArray().Select(e => e.GetInt32()));
        var train = ZooProfiles.Train(profile, "convnet3");
        Assert.Equal((train.Epochs, train.BatchSize, train.Lr, train.Augment, train.Optimizer),
            (Int("epochs"), Int("base_batch"), s.GetProperty("base_lr").GetDouble(), s.GetProperty("augment").GetBoolean(), "adamw"));
        var recipe = ZooProfiles.Collection(profile, RecipeKind.V2, "convnet3", ZooProfiles.K(profile));
        Assert.Equal((ZooProfiles.K(profile), 0.05, 128, 1), (Int("k"), recipe.Lr, recipe.BatchSize, recipe.SkipFirst));
        var config = ProfileDefaults.SamplingFor(profile, PDiffConfig.Default.ForProfile(profile));
        Assert.Equal((config.AeSteps, config.DiffSteps, config.ValidateModels, ProfileDefaults.GeneratedCount(profile)),
            (Int("ae_steps"), Int("diff_steps"), Int("validate_models"), Int("models")));
        Assert.Equal((50, 50, 2e-4, 1e-4, 0.999), (config.AeBatch, config.DiffBatch, config.AeLr, config.DiffLr, config.EmaDecay));
        Assert.Equal(timesteps, Int("timesteps"));
        var validation = config.Sampler == SamplerKind.Ddpm ? $"DDPM-{timesteps}" : $"DDIM-{config.DdimSteps}";
        Assert.Equal(validation, s.GetProperty("validate_sampler").GetProperty("name").GetString());
        Assert.Equal(new[] { $"DDPM-{timesteps}", "DDIM-50" }, s.GetProperty("samplers").EnumerateArray().Select(e => e.GetProperty("name").GetString()));
    }

    [Fact]
    public void SamplersAndBudgetsCanBeSetOneByOne()
    {
        var s = Settings("--profile", "smoke", "--sampler", "ddim", "--sample-steps", "10", "--k", "4", "--timesteps", "40", "--precision", "bf16", "--out", "x.json");
        Assert.Equal(("DDIM-10", 4, 40, "bf16"), (s.GetProperty("samplers")[0].GetProperty("name").GetString(), s.GetProperty("k").GetInt32(),
            s.GetProperty("timesteps").GetInt32(), s.GetProperty("precision").GetString()));
        Assert.Equal(1, s.GetProperty("samplers").GetArrayLength());
    }

    [Theory]
    [InlineData("DDPM runs every timestep", "--sampler", "ddpm", "--sample-steps", "50", "--out", "x.json")]
    [InlineData("one --sample-steps per --sampler", "--sample-steps", "50", "--out", "x.json")]
    [InlineData("--k must be at least 1", "--k", "0", "--out", "x.json")]
    [InlineData("invalid choice", "--precision", "fp16", "--out", "x.json")]
    [InlineData("required: --out")]
    public void ThePipelineScriptsUsageErrorsExitTwoWithOneLine(string message, params string[] args)
    {
        var (code, _, err) = Run("python3", new[] { "bench/python/pdiff_v2_pipeline.py" }.Concat(args).ToArray());
        Assert.Equal(2, code);
        Assert.Contains(message, Assert.Single(Lines(err)));
    }

    [Theory]
    [InlineData("give --budget full or small")]
    [InlineData("--budget is full or small, not 'huge'", "--budget", "huge", "--precision", "bf16")]
    [InlineData("give --precision float32 or bf16", "--budget", "small")]
    [InlineData("--threads is a whole number", "--budget", "small", "--precision", "bf16", "--threads", "two")]
    [InlineData("unknown argument '--fast'", "--fast")]
    public void TheBenchCommandsUsageErrorsExitTwoWithOneLine(string message, params string[] args)
    {
        var (code, _, err) = Run("bash", new[] { "bench/equal-work.sh" }.Concat(args).ToArray());
        Assert.Equal(2, code);
        Assert.Contains(message, Assert.Single(Lines(err)));
    }
}
