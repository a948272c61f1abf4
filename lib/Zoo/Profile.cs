namespace PDiff.Zoo;

/// <summary>
/// How much work an experiment does (design.md §5): <c>Smoke</c> proves the code path in seconds to a
/// few minutes (CI), <c>Quick</c> is the README's main job (about a quarter of an hour on 2 cores),
/// <c>Paper</c> is the full reproduction whose results are committed. <c>FullV2</c> ("full-v2") runs exactly the
/// reference V2 budgets on one task (base 3 epochs, K = 200 by the V2 recipe, autoencoder 500 steps, denoiser
/// 1,000 steps, 200 models by the 1,000-step DDPM chain) and is timed stage by stage (notebook 11).
/// </summary>
public enum Profile { Smoke, Quick, Paper, FullV2 }

public static class Profiles
{
    public static Profile Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "smoke" => Profile.Smoke,
        "quick" => Profile.Quick,
        "paper" => Profile.Paper,
        "full-v2" or "fullv2" => Profile.FullV2,
        _ => throw new ArgumentException($"Unknown profile '{s}': use smoke, quick, paper or full-v2."),
    };

    /// <summary>The profile's name as <see cref="Parse"/> reads it and folders are named: smoke, quick, paper, full-v2.</summary>
    public static string Name(this Profile p) => p == Profile.FullV2 ? "full-v2" : p.ToString().ToLowerInvariant();
}
