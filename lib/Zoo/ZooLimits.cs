using PDiff.Data;
using PDiff.Storage;
using PDiff.Models;

namespace PDiff.Zoo;

/// <summary>
/// The memory a zoo's vectors take, checked before a zoo is built or read (<see cref="MachineBudget"/>): K
/// checkpoints of a subset of N numbers are a K × N float32 matrix, which collection assembles, p-diff trains
/// on and the evaluation scores. Vectors scored at once (the evaluation scores all originals, then all generated
/// models) also hold their logits, M × images × classes floats, twice (the scorer's result and the copy it returns).
/// </summary>
public static class ZooLimits
{
    /// <summary>The images a profile's evaluation scores at once: the larger of its validation and test splits (the full splits hold 5,000 and 10,000).</summary>
    public static long ScoredImages(DataOptions data) => Math.Max(data.MaxTest ?? 10_000, data.ValidationSize ?? 5_000);

    /// <summary>Bytes of <paramref name="count"/> vectors of <paramref name="length"/> float32 numbers, plus their logits when scored at once on <paramref name="images"/> images of <paramref name="classes"/> classes (0 when not scored together).</summary>
    public static double VectorBytes(double count, long length, long images = 0, long classes = 0) => 4.0 * count * (length + 2.0 * images * classes);

    /// <summary>
    /// Throws <see cref="BudgetExceededException"/> when <paramref name="count"/> vectors (named <paramref name="property"/>,
    /// described as <paramref name="what"/>, e.g. "checkpoints") of <paramref name="length"/> numbers do not fit the budget.
    /// </summary>
    public static void CheckVectors(string property, long count, long length, string what, long images = 0, long classes = 0,
        MachineBudget? budget = null, Func<string, string>? name = null)
    {
        budget ??= MachineBudget.Current();
        var bytes = VectorBytes(count, length, images, classes);
        if (bytes <= budget.MemoryBytes) return;
        var scored = images > 0 ? $" and their logits on {MachineBudget.FormatCount(images)} images" : "";
        budget.CheckMemory(bytes, $"{MachineBudget.FormatCount(count)} {what} of {MachineBudget.FormatCount(length)} numbers{scored} take {MachineBudget.FormatBytes(bytes)} in float32",
            new[] { new SizeKnob(property, count, 1, v => VectorBytes(v, length, images, classes)) }, name ?? (p => p));
    }

    /// <summary>
    /// Everything <see cref="ZooBuilder.Build"/> will hold, checked before any data is read or folder claimed: the base
    /// network trained in batches (<see cref="ModelSize.CheckFits"/>), the collection's iterations
    /// (<see cref="CollectionRecipe.Validated"/>) and the K × N checkpoint matrix. Builds the network once to resolve the
    /// subset (a second at most); returns the subset length N. <paramref name="name"/> spells properties for messages
    /// (the CLI passes its flags: "Width" → "--width").
    /// </summary>
    public static long CheckBuild(ZooBuildOptions o, MachineBudget? budget = null, Func<string, string>? name = null)
    {
        budget ??= MachineBudget.Current();
        var arch = ModelRegistry.Canonical(o.Arch);
        var spec = ModelRegistry.Complete(o.Model ?? ZooProfiles.Model(o.Profile, arch));
        var train = o.Train ?? ZooProfiles.Train(o.Profile, arch);
        var k = o.K ?? ZooProfiles.K(o.Profile);
        if (k < 1) throw new ArgumentException($"{(name ?? (p => p))("K")} must be at least 1 (got {k}).");
        ModelSize.CheckFits(spec, ModelUse.Train, train.BatchSize, budget, name);
        var recipe = o.Collection ?? ZooProfiles.Collection(o.Profile, o.Recipe, arch, k);
        (recipe with { K = k }).Validated(name);
        long length;
        using (var probe = ModelRegistry.Build(spec, 0)) length = Subsets.Resolve(probe, o.Subset).Length;
        CheckVectors("K", k, length, "checkpoints", budget: budget, name: name ?? (p => $"{nameof(ZooBuildOptions)}.{p}"));
        return length;
    }
}
