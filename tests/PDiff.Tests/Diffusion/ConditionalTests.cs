using PDiff.Diffusion;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Diffusion;

/// <summary>Conditional p-diff: the condition input, classifier-free guidance, condition statistics, persistence, bad input.</summary>
public class ConditionalTests
{
    const long D = 16;

    /// <summary>A small conditional OneDimCNN in eval mode whose condition MLP and null embedding are far from zero, so conditioning shows.</summary>
    static OneDimCNN ConditionalDenoiser(ulong seed = 5)
    {
        using var g = new Generator(seed);
        var m = new OneDimCNN(D, g, new long[] { 1, 8, 8, 8, 8, 8, 8, 8, 1 }, conditional: true);
        using (no_grad())
        using (var gen = new Generator(seed + 1))
            foreach (var (name, p) in m.named_parameters())
                if (name.StartsWith("cond_embed.", StringComparison.Ordinal)) p.copy_(randn(p.shape, generator: gen));
        m.eval();
        return m;
    }

    static (Tensor X, Tensor T) Inputs(long b = 4)
    {
        using var g = new Generator(9);
        return (randn(new[] { b, D }, generator: g), randint(0, 50, new[] { b }, generator: g));
    }

    [Fact]
    public void ConditioningChangesTheOutput_AndTheNullConditionIgnoresTheRequestedValue()
    {
        using var m = ConditionalDenoiser();
        var (x, t) = Inputs();
        using var _x = x; using var _t = t;
        using var low = tensor(new float[] { -2, -2, -2, -2 });
        using var high = tensor(new float[] { 2, 2, 2, 2 });
        using (no_grad())
        {
            using var a = m.ForwardConditional(x, t, low);
            using var b = m.ForwardConditional(x, t, high);
            using var gap = a.sub(b).abs().max();
            Assert.True(gap.item<float>() > 1e-3, $"the condition moved the prediction by only {gap.item<float>()}");

            // Every row dropped: the requested value must not matter, and it equals the plain forward (null embedding).
            using var drop = zeros(4, ScalarType.Bool);
            using var na = m.ForwardConditional(x, t, low, drop);
            using var nb = m.ForwardConditional(x, t, high, drop);
            using var plain = m.forward(x, t);
            using var none = m.ForwardConditional(x, t, null);
            Assert.True(na.allclose(nb, 0, 0));
            Assert.True(na.allclose(plain, 0, 0));
            Assert.True(none.allclose(plain, 0, 0));

            // A mixed mask: kept rows follow their condition, dropped rows the null embedding.
            using var keep = tensor(new[] { true, false, true, false });
            using var mixed = m.ForwardConditional(x, t, high, keep);
            Assert.True(mixed[0].allclose(b[0], 1e-5, 1e-6));
            Assert.True(mixed[1].allclose(plain[1], 1e-5, 1e-6));
        }
    }

    [Fact]
    public void AnUnconditionalDenoiserKeepsItsStateNamesAndRefusesConditions()
    {
        using var g1 = new Generator(5);
        using var g2 = new Generator(5);
        using var plain = new OneDimCNN(D, g1, new long[] { 1, 8, 8, 8, 8, 8, 8, 8, 1 });
        using var cond = new OneDimCNN(D, g2, new long[] { 1, 8, 8, 8, 8, 8, 8, 8, 1 }, conditional: true);
        Assert.False(plain.IsConditional);
        Assert.DoesNotContain(plain.state_dict().Keys, k => k.StartsWith("cond_embed", StringComparison.Ordinal));
        // The conditional model adds its embedding's state and draws it last: the shared layers start identical.
        var extra = cond.state_dict().Keys.Except(plain.state_dict().Keys).ToList();
        Assert.Equal(new[] { "cond_embed.mlp1.bias", "cond_embed.mlp1.weight", "cond_embed.mlp2.bias", "cond_embed.mlp2.weight", "cond_embed.null" }, extra.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, v) in plain.state_dict()) Assert.True(v.allclose(cond.state_dict()[k], 0, 0), k);
        var (x, t) = Inputs();
        using var _x = x; using var _t = t;
        using var c = tensor(new float[] { 0, 0, 0, 0 });
        Assert.Throws<InvalidOperationException>(() => plain.ForwardConditional(x, t, c));
        Assert.Throws<InvalidOperationException>(() => Guidance.Predict(plain, x, t, c, 2.0));
    }

    [Fact]
    public void GuidanceAtZeroIsTheUnconditionalPrediction_AtOneTheConditional_ElseTheFormula()
    {
        using var m = ConditionalDenoiser();
        var (x, t) = Inputs();
        using var _x = x; using var _t = t;
        using var c = tensor(new float[] { 1.5f, -0.5f, 3f, 0f });
        using var _ng = no_grad();
        using var uncond = m.ForwardConditional(x, t, null);
        using var cond = m.ForwardConditional(x, t, c);
        using var w0 = Guidance.Predict(m, x, t, c, 0);
        using var w1 = Guidance.Predict(m, x, t, c, 1);
        Assert.True(w0.allclose(uncond, 0, 0), "w = 0 must be the unconditional prediction exactly");
        Assert.True(w1.allclose(cond, 0, 0), "w = 1 must be the conditional prediction exactly");
        // The combination itself is exact at 0 and 1 (not only the shortcut that skips a pass).
        using var c0 = Guidance.Combine(uncond, cond, 0);
        using var c1 = Guidance.Combine(uncond, cond, 1);
        Assert.True(c0.allclose(uncond, 0, 0));
        Assert.True(c1.allclose(cond, 0, 0));
        // w = 2.5 through the batched pass: ε_u + w·(ε_c − ε_u), up to float rounding.
        using var w25 = Guidance.Predict(m, x, t, c, 2.5);
        using var expected = uncond.add(cond.sub(uncond).mul(2.5));
        Assert.True(w25.allclose(expected, 1e-4, 1e-5), $"max gap {w25.sub(expected).abs().max().item<float>()}");
        Assert.False(w25.allclose(cond, 1e-4, 1e-5));
    }

    [Fact]
    public void ConditionStatisticsRoundTrip()
    {
        var acc = new[] { 0.872, 0.880, 0.889, 0.875 };
        var s = ConditionScaler.Fit(ConditionKind.ValAccuracy, acc);
        Assert.Equal(acc.Average(), s.Mean, 12);
        var z = s.Normalize(acc);
        Assert.Equal(0, z.Average(), 5);
        Assert.Equal(1, Math.Sqrt(z.Select(v => (double)v * v).Average()), 4);   // population std 1
        foreach (var a in acc.Append(0.95).Append(0.5)) Assert.Equal(a, s.Denormalize(s.Normalize(a)), 12);
        var back = ConditionScaler.FromJson(s.ToJson());
        Assert.Equal((s.Kind, s.Mean, s.Std, s.Count), (back.Kind, back.Mean, back.Std, back.Count));
        // No spread: std 1, so z is the offset from the mean.
        var flat = ConditionScaler.Fit(ConditionKind.ValAccuracy, new[] { 0.9, 0.9 });
        Assert.Equal(1.0, flat.Std);
        Assert.Equal(0.1, flat.Normalize(1.0), 12);
        Assert.Throws<InvalidDataException>(() => ConditionScaler.FromJson("{\"Kind\":\"ValAccuracy\",\"Mean\":0.9,\"Std\":0,\"Count\":3}"));
    }

    [Fact]
    public void BadConditionsAreClearErrorsNamingTheArgument()
    {
        using var m = ConditionalDenoiser();
        var (x, t) = Inputs();
        using var _x = x; using var _t = t;
        using var three = tensor(new float[] { 0, 0, 0 });
        var e1 = Assert.Throws<ArgumentException>(() => m.ForwardConditional(x, t, three));
        Assert.Equal("condition", e1.ParamName);
        Assert.Contains("[4]", e1.Message);
        using var nan = tensor(new[] { 0f, float.NaN, 0f, 0f });
        Assert.Equal("condition", Assert.Throws<ArgumentException>(() => m.ForwardConditional(x, t, nan)).ParamName);
        var e2 = Assert.Throws<ArgumentException>(() => ConditionScaler.Fit(ConditionKind.ValAccuracy, new[] { 0.9, double.NaN }));
        Assert.Equal("values", e2.ParamName);

        var (v, layout) = TrainingTests.TinyZoo();
        using var _v = v;
        var cfg = SmallConditional();
        var e3 = Assert.Throws<ArgumentException>(() => new PDiffTrainer(cfg, v, layout, new TrainerOptions { Log = null }, Accuracies(15)));
        Assert.Equal("conditions", e3.ParamName);
        Assert.Equal("conditions", Assert.Throws<ArgumentException>(() => new PDiffTrainer(cfg, v, layout, new TrainerOptions { Log = null })).ParamName);
        Assert.Equal("conditions", Assert.Throws<ArgumentException>(() => new PDiffTrainer(TrainingTests.Small("default"), v, layout, new TrainerOptions { Log = null }, Accuracies(16))).ParamName);

        using var trainer = new PDiffTrainer(cfg with { AeSteps = 2, DiffSteps = 2 }, v, layout, new TrainerOptions { Log = null }, Accuracies(16));
        using var model = trainer.Train();
        using var g = new Generator(1);
        Assert.Equal("targets", Assert.Throws<ArgumentException>(() => model.GenerateConditional(3, g, new[] { 0.9, double.NaN, 0.9 })).ParamName);
        Assert.Equal("targets", Assert.Throws<ArgumentException>(() => model.GenerateConditional(3, g, new[] { 0.9, 0.9 })).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.GenerateConditional(3, g, new[] { 0.9 }, guidance: double.NaN));
    }

    [Fact]
    public void ConditioningSettingsAreValidatedAndLeftOutOfUnconditionalJson()
    {
        var plain = PDiffConfig.Default;
        var json = ConfigText.ToJson(plain);
        Assert.DoesNotContain("Condition", json);
        Assert.DoesNotContain("GuidanceScale", json);
        Assert.Equal(json, ConfigText.ToJson(plain with { ConditionDropout = 0.3 }));   // irrelevant when off

        var cond = plain.Conditioned();
        var cj = ConfigText.ToJson(cond);
        Assert.Contains("\"Condition\": \"ValAccuracy\"", cj);
        Assert.Equal(cond, ConfigText.FromJson(cj));
        Assert.Equal(cond, ConfigText.FromArgs(ConfigText.ToArgs(cond)));
        Assert.Equal(ConditionKind.ValAccuracy, ConfigText.FromArgs(new[] { "--condition", "valaccuracy", "--guidance-scale", "2" }).Condition);

        Assert.Contains("condition-dropout", Assert.Throws<ArgumentException>(() => (cond with { ConditionDropout = 0 }).Validate()).Message);
        Assert.Contains("condition-dropout", Assert.Throws<ArgumentException>(() => (cond with { ConditionDropout = 1 }).Validate()).Message);
        Assert.Contains("guidance-scale", Assert.Throws<ArgumentException>(() => (cond with { GuidanceScale = -1 }).Validate()).Message);
        Assert.Contains("V2 denoiser", Assert.Throws<ArgumentException>(() => PDiffConfig.V1.Conditioned().Validate()).Message);
        Assert.Throws<ArgumentException>(() => ConfigText.FromArgs(new[] { "--condition", "loss" }));
    }

    [Fact]
    public void AConditionalModelRoundTripsThroughSaveAndLoad()
    {
        var (v, layout) = TrainingTests.TinyZoo();
        using var _v = v;
        using var trainer = new PDiffTrainer(SmallConditional() with { AeSteps = 10, DiffSteps = 6 }, v, layout, new TrainerOptions { Log = null }, Accuracies(16));
        using var model = trainer.Train();
        Assert.True(model.IsConditional);
        var dir = Path.Combine(Path.GetTempPath(), "pdiff-conditional-tests", Guid.NewGuid().ToString("N"));
        try
        {
            model.Save(dir);
            Assert.True(File.Exists(Path.Combine(dir, PDiffModel.ConditionFile)));
            using var loaded = PDiffModel.Load(dir);
            Assert.Equal(model.Condition!.Mean, loaded.Condition!.Mean);
            var targets = new[] { 0.86, 0.9, 0.95 };
            using var g1 = new Generator(11);
            using var g2 = new Generator(11);
            using var a = model.GenerateConditional(3, g1, targets, guidance: 2);
            using var b = loaded.GenerateConditional(3, g2, targets, guidance: 2);
            Assert.True(a.Vectors.allclose(b.Vectors, 0, 0));
            // Another target from the same noise gives other vectors; one target for all equals it repeated.
            using var g3 = new Generator(11);
            using var g4 = new Generator(11);
            using var c = loaded.GenerateConditional(3, g3, new[] { 0.8 }, guidance: 2);
            using var d = loaded.GenerateConditional(3, g4, new[] { 0.8, 0.8, 0.8 }, guidance: 2);
            Assert.False(a.Vectors.allclose(c.Vectors, 0, 0));
            Assert.True(c.Vectors.allclose(d.Vectors, 1e-5, 1e-6));

            File.Delete(Path.Combine(dir, PDiffModel.ConditionFile));
            Assert.Throws<FileNotFoundException>(() => PDiffModel.Load(dir));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void AnAdoptedAutoencoderEqualsTheOneTrainingWouldGive()
    {
        var (v, layout) = TrainingTests.TinyZoo();
        using var _v = v;
        var plain = TrainingTests.Small("default") with { AeSteps = 8, DiffSteps = 2, CheckpointEvery = 0 };
        using var t1 = new PDiffTrainer(plain, v, layout, new TrainerOptions { Log = null });
        using var uncond = t1.Train();
        var cond = plain.Conditioned();
        using var t2 = new PDiffTrainer(cond, v, layout, new TrainerOptions { Log = null }, Accuracies(16));
        t2.AdoptAutoencoder(uncond, t1.AeLosses);
        using var adopted = t2.Train();
        using var t3 = new PDiffTrainer(cond, v, layout, new TrainerOptions { Log = null }, Accuracies(16));
        using var trained = t3.Train();
        foreach (var (k, p) in trained.Autoencoder.state_dict())
            Assert.True(p.allclose(adopted.Autoencoder.state_dict()[k], 0, 0), k);
        foreach (var (k, p) in trained.Denoiser.state_dict())
            Assert.True(p.allclose(adopted.Denoiser.state_dict()[k], 0, 0), k);
        Assert.Equal(t3.AeLosses, t2.AeLosses);

        using var t4 = new PDiffTrainer(cond with { AeSeed = 99 }, v, layout, new TrainerOptions { Log = null }, Accuracies(16));
        Assert.Equal("trained", Assert.Throws<ArgumentException>(() => t4.AdoptAutoencoder(uncond, t1.AeLosses)).ParamName);
    }

    static PDiffConfig SmallConditional() => TrainingTests.Small("default").Conditioned(dropout: 0.2) with
    {
        CheckpointEvery = 0, Sampler = SamplerKind.Ddim, DdimSteps = 10,
    };

    static double[] Accuracies(int k) => Enumerable.Range(0, k).Select(i => 0.87 + 0.001 * i).ToArray();
}
