using PDiff.Diffusion;
using PDiff.Evaluation;
using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>What each profile (smoke, quick, full-v2, paper) scales in the pipeline: the evaluation, the sampler and the models generated per run.</summary>
public static class ProfileDefaults
{
    /// <summary>Evaluation options scaled to a profile (fewer baseline models and no t-SNE in smoke).</summary>
    public static EvaluationOptions EvaluationFor(Profile p) => p switch
    {
        Profile.Smoke => new EvaluationOptions
        {
            Baselines = new BaselineOptions { RelativeNoiseCount = 4, AbsoluteNoiseCount = 4, AverageCount = 4, AverageOf = 4, GaussianCount = 4, FineTunedCount = 2, FineTuneSteps = 3 },
            Tsne = false, WriteIouMatrix = false,
        },
        Profile.Quick => new EvaluationOptions
        {
            Baselines = new BaselineOptions { RelativeNoiseCount = 50, AbsoluteNoiseCount = 50, AverageCount = 50, GaussianCount = 50, FineTunedCount = 10, FineTuneSteps = 20 },
            WriteIouMatrix = false, EmbeddingMaxPerGroup = 100,
        },
        // Full-v2: the quick profile's baseline counts (its timed evaluation is of originals and generated models).
        Profile.FullV2 => EvaluationFor(Profile.Quick),
        _ => new EvaluationOptions(),
    };

    /// <summary>
    /// Smoke and quick sample with DDIM (20 and 100 steps) instead of 1,000 DDPM steps: the V2 denoiser costs
    /// about 0.3 GMAC per model per step, so 100 models × 1,000 steps would take over half an hour on 2 cores.
    /// The paper profile keeps the preset's sampler (DDPM, 1,000 steps); full-v2 samples by the 1,000-step DDPM
    /// chain whatever the preset (its notebook adds DDIM-50 as a second row). A sampler or step count the user set
    /// (<see cref="PDiffConfig.Explicit"/>) is kept.
    /// </summary>
    public static PDiffConfig SamplingFor(Profile p, PDiffConfig c) => c.KeepExplicit(p switch
    {
        Profile.Smoke => c with { Sampler = SamplerKind.Ddim, DdimSteps = Math.Min(c.DdimSteps, 20) },
        Profile.Quick => c with { Sampler = SamplerKind.Ddim, DdimSteps = Math.Min(c.Timesteps, 100) },
        Profile.FullV2 => c with { Sampler = SamplerKind.Ddpm },
        _ => c,
    });

    /// <summary>Models generated per run in each profile (the reference generates 100 (V1) or 200 (V2)).</summary>
    public static int GeneratedCount(Profile p) => p switch { Profile.Smoke => 8, Profile.Quick => 100, _ => 200 };
}
