using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Data;

/// <summary>
/// How to split and scale a dataset. Defaults: Fashion-MNIST keeps its 10k test file and carves 5k of
/// its 60k train as validation (55k/5k/10k); MNIST splits its 10k digits 8k/2k train/test with the fixed
/// <see cref="TestSplitSeed"/> and carves 1k of the 8k as validation (7k/1k/2k). All stratified.
/// </summary>
public sealed record DataOptions
{
    /// <summary>Validation images carved from train; null = 5,000 (Fashion-MNIST) or 1,000 (MNIST).</summary>
    public int? ValidationSize { get; init; }
    /// <summary>MNIST only: how many of the 10k digits are held out as test.</summary>
    public int MnistTestSize { get; init; } = 2000;
    /// <summary>
    /// Seed of the test side: MNIST's train/test split and any <see cref="MaxTest"/> subset. Fixed by
    /// default and independent of the run seed, so every run reports on the same test images.
    /// </summary>
    public ulong TestSplitSeed { get; init; } = 0;
    /// <summary>A stratified subset of train of at most this size (smoke and quick profiles); null = all.</summary>
    public int? MaxTrain { get; init; }
    /// <summary>A stratified subset of test of at most this size, drawn with <see cref="TestSplitSeed"/>; null = all.</summary>
    public int? MaxTest { get; init; }
    /// <summary>Where the files are; null = <see cref="DataPaths"/> (environment override, then the default).</summary>
    public string? Directory { get; init; }
    /// <summary>Use these statistics instead of measuring them on the train split.</summary>
    public Normalization? Normalization { get; init; }
}

/// <summary>Train, validation and test of one dataset, with what rebuilds them. Dispose to free the tensors.</summary>
public sealed class DataSplits : IDisposable
{
    internal DataSplits(ImageDataset train, ImageDataset validation, ImageDataset test, SplitIndices indices, SplitInfo info)
    {
        Train = train;
        Validation = validation;
        Test = test;
        Indices = indices;
        Info = info;
    }

    public ImageDataset Train { get; }
    public ImageDataset Validation { get; }
    public ImageDataset Test { get; }
    public SplitIndices Indices { get; }
    public SplitInfo Info { get; }

    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
        Test.Dispose();
    }
}

/// <summary>The entry point: <c>Datasets.Load("fashion-mnist", seed)</c> or <c>Datasets.Load("mnist", seed)</c>.</summary>
public static class Datasets
{
    public const string FashionMnistName = "fashion-mnist";
    public const string MnistName = "mnist";
    public static readonly IReadOnlyList<string> Names = new[] { FashionMnistName, MnistName };

    /// <summary>
    /// Reads, splits (seeded, stratified) and normalises <paramref name="name"/>. The run
    /// <paramref name="seed"/> chooses validation (and any train subset); the test side uses
    /// <see cref="DataOptions.TestSplitSeed"/>. Same arguments, same bits.
    /// </summary>
    public static DataSplits Load(string name, ulong seed, DataOptions? options = null)
    {
        options ??= new DataOptions();
        var (trainSource, testSource) = LoadRaw(name, options.Directory);
        var indices = MakeSplit(name, trainSource, testSource, seed, options);
        return Build(name, trainSource, testSource, indices, seed, options);
    }

    /// <summary>The raw sources: Fashion-MNIST's train and test files; for MNIST the 10k digits twice.</summary>
    public static (RawImages TrainSource, RawImages TestSource) LoadRaw(string name, string? directory = null)
    {
        switch (Canonical(name))
        {
            case FashionMnistName:
                return FashionMnist.LoadRaw(directory);
            default:
                var all = MnistDigits.LoadRaw(directory);
                return (all, all);
        }
    }

    /// <summary>The split as index lists only (cheap: labels and randperm, no tensors of images).</summary>
    public static SplitIndices MakeSplit(string name, RawImages trainSource, RawImages testSource, ulong seed, DataOptions? options = null)
    {
        options ??= new DataOptions();
        var canonical = Canonical(name);
        const int classes = 10;
        using var testGen = new Generator(options.TestSplitSeed);
        using var gen = new Generator(seed);

        int[] test, trainPool;
        if (canonical == FashionMnistName)
        {
            test = Enumerable.Range(0, testSource.Count).ToArray();
            trainPool = Enumerable.Range(0, trainSource.Count).ToArray();
        }
        else
        {
            if (!ReferenceEquals(trainSource, testSource))
                throw new ArgumentException("MNIST splits one set of 10k digits: pass the same RawImages as train and test source.", nameof(testSource));
            CheckSize(nameof(DataOptions.MnistTestSize), options.MnistTestSize, trainSource.Count - 1);
            (test, trainPool) = Split.Stratified(trainSource.Labels, Enumerable.Range(0, trainSource.Count).ToArray(), options.MnistTestSize, classes, testGen);
        }
        if (options.MaxTest is { } maxTest && maxTest < test.Length)
        {
            CheckSize(nameof(DataOptions.MaxTest), maxTest, test.Length);
            test = Split.Stratified(testSource.Labels, test, maxTest, classes, testGen).Taken;
        }

        var valSize = options.ValidationSize ?? (canonical == FashionMnistName ? 5000 : 1000);
        CheckSize(nameof(DataOptions.ValidationSize), valSize, trainPool.Length - 1);
        var (validation, train) = Split.Stratified(trainSource.Labels, trainPool, valSize, classes, gen);
        if (options.MaxTrain is { } maxTrain && maxTrain < train.Length)
        {
            CheckSize(nameof(DataOptions.MaxTrain), maxTrain, train.Length);
            if (maxTrain == 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxTrain must be at least 1.");
            train = Split.Stratified(trainSource.Labels, train, maxTrain, classes, gen).Taken;
        }
        return new SplitIndices(train, validation, test);
    }

    /// <summary>Tensors for a given split; the normalisation is measured on its train part unless given.</summary>
    public static DataSplits Build(string name, RawImages trainSource, RawImages testSource, SplitIndices indices, ulong seed, DataOptions? options = null)
    {
        options ??= new DataOptions();
        var canonical = Canonical(name);
        var classNames = canonical == FashionMnistName ? FashionMnist.ClassNames : MnistDigits.ClassNames;
        var norm = options.Normalization ?? Normalization.Measure(trainSource, indices.Train);
        ImageDataset? train = null, validation = null, test = null;
        try
        {
            train = ImageDataset.FromRaw($"{canonical}/train", trainSource, indices.Train, norm, classNames);
            validation = ImageDataset.FromRaw($"{canonical}/validation", trainSource, indices.Validation, norm, classNames);
            test = ImageDataset.FromRaw($"{canonical}/test", testSource, indices.Test, norm, classNames);
        }
        catch
        {
            train?.Dispose();
            validation?.Dispose();
            test?.Dispose();
            throw;
        }
        var info = new SplitInfo(canonical, seed, options.TestSplitSeed,
            indices.Train.Length, indices.Validation.Length, indices.Test.Length,
            Split.ClassCounts(trainSource.Labels, indices.Train, 10),
            Split.ClassCounts(trainSource.Labels, indices.Validation, 10),
            Split.ClassCounts(testSource.Labels, indices.Test, 10),
            norm, indices.Fingerprint,
            canonical == FashionMnistName ? Path.GetDirectoryName(trainSource.Source) ?? trainSource.Source : trainSource.Source);
        return new DataSplits(train, validation, test, indices, info);
    }

    /// <summary>"fashion-mnist" or "mnist" (case and '_' forgiven); anything else is an error listing both.</summary>
    public static string Canonical(string name)
    {
        var n = name.Trim().ToLowerInvariant().Replace('_', '-');
        return n switch
        {
            FashionMnistName or "fashionmnist" => FashionMnistName,
            MnistName => MnistName,
            _ => throw new ArgumentException($"Unknown dataset '{name}'. Known: {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    static void CheckSize(string what, int value, int max)
    {
        if (value < 0 || value > max)
            throw new ArgumentOutOfRangeException(what, value, $"{what} must be between 0 and {max}.");
    }
}
