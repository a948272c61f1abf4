using PDiff.Storage;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// How a base model is trained: optimizer, schedule (stepped once per epoch, as the reference does),
/// epochs, batch, augmentation, seed. <see cref="V1"/> and <see cref="V2"/> are the reference recipes
/// (§1.1: SGD 0.1, momentum 0.9, wd 5e-4, MultiStepLR ×0.1 at 1/3, 2/3 and the end; §1.2: AdamW
/// 5e-4/5e-4, cosine over the epochs), with the epoch count scaled to the profile.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>"sgd" or "adamw".</summary>
    public string Optimizer { get; init; } = "sgd";
    public double Lr { get; init; } = 0.1;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>"multistep", "cosine" or "constant".</summary>
    public string Schedule { get; init; } = "multistep";
    /// <summary>MultiStep milestones in epochs.</summary>
    public long[] Milestones { get; init; } = { 10, 20, 30 };
    public double Gamma { get; init; } = 0.1;
    public int Epochs { get; init; } = 30;
    public int BatchSize { get; init; } = 64;
    /// <summary>Random crop (pad 2) and, for Fashion-MNIST, horizontal flip.</summary>
    public bool Augment { get; init; } = true;
    /// <summary>Seed of the initial weights; the shuffle and augmentation seeds are drawn from it.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Memory one epoch's history takes (see <see cref="Validated"/>).</summary>
    public const double HistoryBytesPerEpoch = 200;

    public static TrainConfig V1(int epochs) => new()
    {
        Optimizer = "sgd", Lr = 0.1, Momentum = 0.9, WeightDecay = 5e-4, Schedule = "multistep",
        Milestones = new long[] { Math.Max(1, epochs / 3), Math.Max(1, 2 * epochs / 3), epochs }, Gamma = 0.1,
        Epochs = epochs, BatchSize = 64,
    };

    public static TrainConfig V2(int epochs) => new()
    {
        Optimizer = "adamw", Lr = 5e-4, WeightDecay = 5e-4, Schedule = "cosine", Epochs = epochs, BatchSize = 128,
    };

    /// <summary>
    /// The learning rate of epoch <paramref name="epoch"/> (0-based), PyTorch's closed forms: MultiStepLR
    /// multiplies by γ once per milestone passed (a repeated milestone counts each time, as PyTorch's
    /// Counter does), CosineAnnealingLR is (1 + cos(π·t/T))/2 of the base lr, held at 0 after T.
    /// </summary>
    public double LearningRateAt(int epoch) => Schedule.ToLowerInvariant() switch
    {
        "multistep" => Lr * Math.Pow(Gamma, Milestones.Count(m => epoch >= m)),
        "cosine" => Epochs <= 0 ? Lr : Lr * (1 + Math.Cos(Math.PI * Math.Min(epoch, Epochs) / Epochs)) / 2,
        "constant" => Lr,
        _ => throw new ArgumentException($"Unknown schedule '{Schedule}': use multistep, cosine or constant."),
    };

    /// <summary>
    /// TorchSharp's scheduler driving <paramref name="optimizer"/> per epoch (call <c>step()</c> after each).
    /// A LambdaLR over <see cref="LearningRateAt"/>: one closed form for every schedule, so a resumed run
    /// can start at any epoch and repeated milestones keep PyTorch's meaning.
    /// </summary>
    public optim.lr_scheduler.LRScheduler MakeScheduler(optim.Optimizer optimizer)
    {
        LearningRateAt(0); // unknown names fail here, before training
        return optim.lr_scheduler.LambdaLR(optimizer, epoch => LearningRateAt(epoch) / Lr);
    }

    public optim.Optimizer MakeOptimizer(IEnumerable<Parameter> parameters) => Optimizer.ToLowerInvariant() switch
    {
        "sgd" => optim.SGD(parameters, Lr, momentum: Momentum, weight_decay: WeightDecay),
        "adamw" => optim.AdamW(parameters, Lr, weight_decay: WeightDecay),
        _ => throw new ArgumentException($"Unknown optimizer '{Optimizer}': use sgd or adamw."),
    };

    /// <summary>
    /// Fails early, naming the field, on values that cannot train, and on more epochs than the per-epoch history can
    /// hold in <paramref name="budget"/> (this machine when null): an <see cref="EpochRecord"/> (80 bytes) and its line
    /// of the base manifest's JSON (120 more), 200 bytes an epoch. <paramref name="name"/> spells a property as the
    /// caller knows it (default "TrainConfig.Epochs"; the CLI gives "--epochs").
    /// </summary>
    public TrainConfig Validated(Func<string, string>? name = null, MachineBudget? budget = null)
    {
        if (Epochs < 1) throw new ArgumentException($"TrainConfig.Epochs must be at least 1; got {Epochs}.");
        if (BatchSize < 1) throw new ArgumentException($"TrainConfig.BatchSize must be at least 1; got {BatchSize}.");
        if (!(Lr > 0)) throw new ArgumentException($"TrainConfig.Lr must be positive; got {Lr}.");
        LearningRateAt(0);
        if (Optimizer.ToLowerInvariant() is not ("sgd" or "adamw")) throw new ArgumentException($"Unknown optimizer '{Optimizer}': use sgd or adamw.");
        (budget ?? MachineBudget.Current()).CheckMemory(HistoryBytesPerEpoch * Epochs,
            $"{Epochs} epochs keep {MachineBudget.FormatBytes(HistoryBytesPerEpoch * Epochs)} of per-epoch history ({HistoryBytesPerEpoch:F0} bytes an epoch)",
            new[] { new SizeKnob(nameof(Epochs), Epochs, 1, v => HistoryBytesPerEpoch * v) }, name ?? MachineBudget.Prefixed(nameof(TrainConfig)));
        return this;
    }
}
