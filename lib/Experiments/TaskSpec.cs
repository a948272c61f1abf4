using PDiff.Zoo;

namespace PDiff.Experiments;

/// <summary>
/// One p-diff task: which network, trained on which data, generates which parameter subset, learning from
/// how many checkpoints collected by which recipe. It names the zoo folder it is cached in.
/// </summary>
public sealed record TaskSpec(
    string Dataset = "fashion-mnist",
    string Arch = "resnet18",
    string Subset = Subsets.DefaultPreset,
    int? K = null,
    RecipeKind Recipe = RecipeKind.V2)
{
    public int KFor(Profile p) => K ?? ZooProfiles.K(p);

    /// <summary>Folder name of the zoo: dataset, architecture, subset, K and recipe.</summary>
    public string ZooName(Profile p) =>
        $"{ZooStore.TaskName(Dataset, Arch, Subset)}_k{KFor(p)}_{Recipe.ToString().ToLowerInvariant()}";

    public override string ToString() => $"{Dataset} × {Arch} × {Subset}";
}
