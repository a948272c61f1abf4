using PDiff.Zoo;

namespace PDiff.Studies;

/// <summary>
/// One p-diff task: which network, trained on which data, generates which parameter subset, learning from
/// how many checkpoints collected by which recipe. It names the zoo folder it is cached in.
/// <see cref="Seed"/> is the pipeline seed: seed s trains its own base model, collects its own zoo and trains
/// p-diff with every seed shifted (<see cref="ZooProfiles.SeedStride"/>); the data split stays fixed, so
/// every seed is scored on the same validation and test images. Seed 0 is the configuration of old.
/// </summary>
public sealed record TaskSpec(
    string Dataset = "fashion-mnist",
    string Arch = "resnet18",
    string Subset = Subsets.DefaultPreset,
    int? K = null,
    RecipeKind Recipe = RecipeKind.V2,
    int Seed = 0)
{
    public int KFor(Profile p) => K ?? ZooProfiles.K(p);

    /// <summary>Folder name of the zoo: dataset, architecture, subset, K and recipe; <c>_seed&lt;s&gt;</c> for seed s ≠ 0.</summary>
    public string ZooName(Profile p) =>
        $"{ZooStore.TaskName(Dataset, Arch, Subset)}_k{KFor(p)}_{Recipe.ToString().ToLowerInvariant()}{SeedSuffix}";

    /// <summary>"" for seed 0 (the zoo names of old stay valid), else <c>_seed&lt;s&gt;</c>.</summary>
    public string SeedSuffix => Seed == 0 ? "" : $"_seed{Seed}";

    /// <summary>The same task under pipeline seed <paramref name="seed"/>.</summary>
    public TaskSpec WithSeed(int seed) => seed < 0
        ? throw new ArgumentOutOfRangeException(nameof(seed), seed, "A pipeline seed is 0 or more.")
        : this with { Seed = seed };

    /// <summary>Dataset × architecture × subset, and the seed when it is not 0.</summary>
    public override string ToString() => $"{Dataset} × {Arch} × {Subset}" + (Seed == 0 ? "" : $" (seed {Seed})");
}
