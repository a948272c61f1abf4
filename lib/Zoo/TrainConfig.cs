using PDiff.Nn;

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

    public LrSchedule MakeSchedule() => Schedule.ToLowerInvariant() switch
    {
        "multistep" => new MultiStepLr(Lr, Milestones, Gamma),
        "cosine" => new CosineLr(Lr, Epochs),
        "constant" => new ConstantLr(Lr),
        _ => throw new ArgumentException($"Unknown schedule '{Schedule}': use multistep, cosine or constant."),
    };

    public Optimizer MakeOptimizer(IEnumerable<PDiff.Torch.Tensor> parameters) => Optimizer.ToLowerInvariant() switch
    {
        "sgd" => new SGD(parameters, Lr, Momentum, WeightDecay),
        "adamw" => new AdamW(parameters, Lr, weightDecay: WeightDecay),
        _ => throw new ArgumentException($"Unknown optimizer '{Optimizer}': use sgd or adamw."),
    };

    /// <summary>Fails early, naming the field, on values that cannot train.</summary>
    public TrainConfig Validated()
    {
        if (Epochs < 1) throw new ArgumentException($"TrainConfig.Epochs must be at least 1; got {Epochs}.");
        if (BatchSize < 1) throw new ArgumentException($"TrainConfig.BatchSize must be at least 1; got {BatchSize}.");
        if (!(Lr > 0)) throw new ArgumentException($"TrainConfig.Lr must be positive; got {Lr}.");
        MakeSchedule();
        if (Optimizer.ToLowerInvariant() is not ("sgd" or "adamw")) throw new ArgumentException($"Unknown optimizer '{Optimizer}': use sgd or adamw.");
        return this;
    }
}
