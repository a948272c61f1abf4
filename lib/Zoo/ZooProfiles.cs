using PDiff.Data;
using PDiff.Models;

namespace PDiff.Zoo;

/// <summary>
/// What each <see cref="Profile"/> means for a zoo (design §5). One table, so a profile's cost is read
/// in one place (the measured costs are in bench/README.md):
/// <list type="bullet">
/// <item><b>smoke</b> — seconds: 2,000 training images, 500 validation, 1,000 test; narrow nets
/// (ResNet-18 width 4); 1 epoch; K = 10.</item>
/// <item><b>quick</b> — the README's main job: ResNet-18 at width 8 (widths 8–64 instead of 64–512:
/// 1/64 of the multiply-adds), trained 2 epochs on 20,000 Fashion-MNIST images (AdamW), validation 2,000,
/// the full 10,000 test images; K = 200: minutes for base training, collection and scoring on one thread.
/// Narrow, because a full-width ResNet-18 costs 0.456 GMAC per 28×28 image (counted layer by layer), 64 times
/// the work of width 8 in every epoch and every scored vector.</item>
/// <item><b>paper</b> — full widths, the reference's V1 base recipe (30 epochs, SGD, MultiStep), all
/// 55,000/5,000/10,000 images; K = 200. Hours to a day of CPU for ResNet-18.</item>
/// <item><b>full-v2</b> — the reference V2 budgets on a task a CPU can afford: all
/// 55,000/5,000/10,000 images; ConvNet-3 with 32, 64 and 128 channels (the common small ConvNet of the
/// weight-generation literature; our paper-profile ConvNet-3 keeps 128 in every block), the MLP at [256, 128];
/// base training by V2's recipe (AdamW 5e-4, wd 5e-4, cosine, batch 128) for 3 epochs; K = 200 by V2's collection.</item>
/// </list>
/// </summary>
public static class ZooProfiles
{
    public static DataOptions Data(Profile p) => p switch
    {
        Profile.Smoke => new DataOptions { MaxTrain = 2000, ValidationSize = 500, MaxTest = 1000 },
        Profile.Quick => new DataOptions { MaxTrain = 20000, ValidationSize = 2000 },
        _ => new DataOptions(),
    };

    public static ModelSpec Model(Profile p, string arch) => (ModelRegistry.Canonical(arch), p) switch
    {
        ("resnet18", Profile.Smoke) => new ModelSpec { Arch = "resnet18", Width = 4 },
        ("resnet18", Profile.Quick) => new ModelSpec { Arch = "resnet18", Width = 8 },
        ("resnet18", _) => new ModelSpec { Arch = "resnet18", Width = 64 },
        ("convnet3", Profile.Smoke) => new ModelSpec { Arch = "convnet3", Width = 8 },
        ("convnet3", Profile.Quick) => new ModelSpec { Arch = "convnet3", Width = 32 },
        ("convnet3", Profile.FullV2) => new ModelSpec { Arch = "convnet3", Channels = new[] { 32, 64, 128 } },
        ("convnet3", _) => new ModelSpec { Arch = "convnet3", Width = 128 },
        ("mlp", Profile.Smoke) => new ModelSpec { Arch = "mlp", Hidden = new[] { 64, 32 } },
        ("mlp", _) => new ModelSpec { Arch = "mlp" },
        ("vit", Profile.Smoke) => new ModelSpec { Arch = "vit", Dim = 32, Heads = 2, MlpDim = 64, Depth = 2 },
        ("vit", Profile.Quick) => new ModelSpec { Arch = "vit", Depth = 2 },
        ("vit", _) => new ModelSpec { Arch = "vit", Depth = 12 },
        _ => throw new InvalidOperationException(),
    };

    /// <summary>
    /// Full-v2: the reference's V2 recipe (§1.2: AdamW 5e-4/5e-4, cosine, batch 128, with its augmentation) for 3 epochs.
    /// Smoke and quick: AdamW 2e-3 (wd 5e-4) with a cosine schedule and no augmentation, which converges
    /// in the few epochs they can afford (on the quick split, ResNet-18 width 8, 2 epochs, it reached a higher
    /// validation accuracy than SGD 0.1, or SGD 0.05 with augmentation); ViTs use
    /// AdamW 1e-3, wd 0.05. Paper: the reference's V1 recipe (§1.1; ViT: AdamW cosine as V2, §1.2).
    /// </summary>
    public static TrainConfig Train(Profile p, string arch)
    {
        var vit = ModelRegistry.Canonical(arch) == "vit";
        var epochs = p switch { Profile.Smoke => 1, Profile.Quick => 2, Profile.FullV2 => 3, _ => vit ? 50 : 30 };
        if (p == Profile.FullV2) return vit ? TrainConfig.V2(epochs) with { Lr = 1e-3, WeightDecay = 0.05 } : TrainConfig.V2(epochs);
        if (p == Profile.Paper) return vit ? TrainConfig.V2(epochs) with { Lr = 1e-3, WeightDecay = 0.05 } : TrainConfig.V1(epochs);
        return TrainConfig.V2(epochs) with
        {
            Lr = vit ? 1e-3 : 2e-3, WeightDecay = vit ? 0.05 : 5e-4, Augment = false, BatchSize = p == Profile.Smoke ? 32 : 128,
        };
    }

    public static int K(Profile p) => p == Profile.Smoke ? 10 : 200;

    /// <summary>
    /// Pipeline seeds each profile runs by default, so that every number comes with its spread over seeds: smoke 2,
    /// enough to exercise the intervals in CI; quick and paper 3.
    /// </summary>
    public static int Seeds(Profile p) => p == Profile.Smoke ? 2 : 3;

    /// <summary>
    /// Pipeline seed s shifts every seed of a task by s·SeedStride: the base model's training seed, the
    /// collection's shuffle seed, and p-diff's four seeds (whose runs inside a seed shift by 1000·run, so the
    /// stride keeps them apart). The data split's seed is not shifted: all seeds score the same test images.
    /// </summary>
    public const long SeedStride = 100_000;

    /// <summary>The base training recipe of pipeline seed <paramref name="seed"/> (seed 0: unchanged).</summary>
    public static TrainConfig Seeded(TrainConfig c, int seed) => seed == 0 ? c : c with { Seed = c.Seed + (ulong)(seed * SeedStride) };

    /// <summary>The collection recipe of pipeline seed <paramref name="seed"/> (seed 0: unchanged).</summary>
    public static CollectionRecipe Seeded(CollectionRecipe c, int seed) => seed == 0 ? c : c with { Seed = c.Seed + (ulong)(seed * SeedStride) };

    /// <summary>The collection recipe <see cref="ZooBuilder"/> uses for a profile, recipe kind, architecture and K.</summary>
    public static CollectionRecipe Collection(Profile p, RecipeKind kind, string arch, int k) =>
        kind == RecipeKind.V2 ? CollectionRecipe.V2(k, ModelRegistry.Canonical(arch)) : CollectionRecipe.V1(k, V1SaveEvery(p));

    /// <summary>V1 saves once per epoch in the reference; here every 100 iterations (quick/paper) or 5 (smoke).</summary>
    public static int V1SaveEvery(Profile p) => p == Profile.Smoke ? 5 : 100;
}
