using System.IO.Compression;
using PDiff.Data;
using Xunit;

namespace PDiff.Tests.Data;

/// <summary>Shared paths and tiny byte builders for the data tests.</summary>
static class DataFixtures
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "fixtures", "data");
    public static string FashionMini => Path.Combine(Dir, "fashion-mini");
    public static string MnistMini => Path.Combine(Dir, "mnist-mini");

    /// <summary>The formulas of fixtures/data/make_fixtures.py.</summary>
    public static byte FashionPixel(int k, int p) => (byte)((k * 31 + p * 7) % 256);
    public static byte MnistPixel(int digit, int k, int p) => (byte)((k * 13 + p * 5 + digit * 17) % 256);
    public static int MnistMiniCount(int digit) => 1 + digit % 3;

    public static byte[] Idx(byte type, int[] dims, byte[] body)
    {
        var ms = new MemoryStream();
        ms.Write(new byte[] { 0, 0, type, (byte)dims.Length });
        foreach (var d in dims) ms.Write(new[] { (byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d });
        ms.Write(body);
        return ms.ToArray();
    }

    public static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    /// <summary>A fresh temporary folder, deleted with the returned handle.</summary>
    public static TempDir Temp() => new();

    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("pdiff-data-").FullName;
        public string File(string name, byte[] bytes)
        {
            var p = System.IO.Path.Combine(Path, name);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
            System.IO.File.WriteAllBytes(p, bytes);
            return p;
        }
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}

public class IdxReaderTests
{
    [Fact]
    public void ReadsTheGzippedFixtureValueByValue()
    {
        var images = IdxReader.Read(Path.Combine(DataFixtures.FashionMini, FashionMnist.TrainImages), new[] { -1, 28, 28 });
        Assert.Equal(new[] { 20, 28, 28 }, images.Dims);
        Assert.Equal(20 * 784, images.Data.Length);
        for (var k = 0; k < 20; k++)
            for (var p = 0; p < 784; p += 97)
                Assert.Equal(DataFixtures.FashionPixel(k, p), images.Data[k * 784 + p]);

        var labels = IdxReader.Read(Path.Combine(DataFixtures.FashionMini, FashionMnist.TrainLabels), new[] { -1 });
        Assert.Equal(Enumerable.Range(0, 20).Select(k => (byte)(k % 10)), labels.Data);
    }

    [Fact]
    public void ReadsPlainIdxAndBigEndianSizes()
    {
        using var tmp = DataFixtures.Temp();
        var body = Enumerable.Range(0, 2 * 3 * 300).Select(i => (byte)(i * 3)).ToArray();
        // 300 = 0x012C: a size above 255 checks the big-endian byte order.
        var path = tmp.File("plain.idx", DataFixtures.Idx(0x08, new[] { 2, 3, 300 }, body));
        var a = IdxReader.Read(path);
        Assert.Equal(new[] { 2, 3, 300 }, a.Dims);
        Assert.Equal(body, a.Data);
    }

    public static IEnumerable<object[]> CorruptFiles()
    {
        var good = Enumerable.Repeat((byte)7, 2 * 28 * 28).ToArray();
        yield return new object[] { "bad-magic", DataFixtures.Idx(0x08, new[] { 2, 28, 28 }, good).Select((b, i) => i == 0 ? (byte)1 : b).ToArray(), "magic" };
        yield return new object[] { "int-type", DataFixtures.Idx(0x0C, new[] { 2, 28, 28 }, good), "element type 0x0c" };
        yield return new object[] { "rank", DataFixtures.Idx(0x08, new[] { 2 * 28 * 28 }, good), "1 dimensions" };
        yield return new object[] { "size", DataFixtures.Idx(0x08, new[] { 2, 28, 27 }, good), "expected" };
        yield return new object[] { "short", DataFixtures.Idx(0x08, new[] { 3, 28, 28 }, good), "ends after 1568 of the 2352 bytes" };
        yield return new object[] { "long", DataFixtures.Idx(0x08, new[] { 1, 28, 28 }, good), "bytes left" };
        yield return new object[] { "header-cut", DataFixtures.Idx(0x08, new[] { 2, 28, 28 }, good)[..6], "size of dimension 0" };
        var gz = DataFixtures.Gzip(DataFixtures.Idx(0x08, new[] { 2, 28, 28 }, good));
        yield return new object[] { "gzip-cut", gz[..(gz.Length / 2)], "" };
        yield return new object[] { "gzip-garbage", new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, "" };
    }

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void CorruptFilesNameTheFileAndTheReinstall(string name, byte[] bytes, string detail)
    {
        using var tmp = DataFixtures.Temp();
        var path = tmp.File(name + ".gz", bytes);
        var e = Assert.Throws<DatasetException>(() => IdxReader.Read(path, new[] { -1, 28, 28 }));
        Assert.Contains(path, e.Message);
        Assert.Contains("corrupt", e.Message);
        Assert.Contains("apt-get install --reinstall dataset-fashion-mnist", e.Message);
        Assert.Contains(detail, e.Message);
        Assert.Equal(path, e.File);
        Assert.Equal(DataPaths.FashionMnistInstall, e.InstallCommand);
    }

    [Fact]
    public void MissingFashionMnistNamesTheFileAndTheAptCommand()
    {
        using var tmp = DataFixtures.Temp();
        var e = Assert.Throws<DatasetException>(() => FashionMnist.LoadRaw(tmp.Path));
        Assert.Contains(Path.Combine(tmp.Path, FashionMnist.TrainImages), e.Message);
        Assert.Contains("sudo apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains(DataPaths.FashionMnistEnv, e.Message);
        Assert.False(FashionMnist.IsInstalled(tmp.Path));
    }

    [Fact]
    public void FashionLoaderChecksThatLabelsMatchImages()
    {
        using var tmp = DataFixtures.Temp();
        foreach (var f in Directory.GetFiles(DataFixtures.FashionMini)) File.Copy(f, Path.Combine(tmp.Path, Path.GetFileName(f)));
        tmp.File(FashionMnist.TrainLabels, DataFixtures.Gzip(DataFixtures.Idx(0x08, new[] { 19 }, new byte[19])));
        var e = Assert.Throws<DatasetException>(() => FashionMnist.LoadRaw(tmp.Path));
        Assert.Contains("19 labels for the 20 images", e.Message);

        tmp.File(FashionMnist.TrainLabels, DataFixtures.Gzip(DataFixtures.Idx(0x08, new[] { 20 }, Enumerable.Repeat((byte)10, 20).ToArray())));
        e = Assert.Throws<DatasetException>(() => FashionMnist.LoadRaw(tmp.Path));
        Assert.Contains("label 10 at index 0", e.Message);
    }

    [Fact]
    public void FashionLoaderReadsTheMiniFixture()
    {
        var (train, test) = FashionMnist.LoadRaw(DataFixtures.FashionMini);
        Assert.Equal(20, train.Count);
        Assert.Equal(10, test.Count);
        Assert.Equal(DataFixtures.FashionPixel(100 + 3, 500), test.Image(3)[500]);
        Assert.Equal(new[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, test.ClassCounts(10));
    }
}

public class MnistJsonReaderTests
{
    [Fact]
    public void RecoversTheOriginalBytesFromThreeDecimalPixels()
    {
        for (var d = 0; d < 10; d++)
        {
            var bytes = MnistJsonReader.ReadDigitFile(MnistDigits.DigitFile(DataFixtures.MnistMini, d));
            Assert.Equal(DataFixtures.MnistMiniCount(d) * 784, bytes.Length);
            for (var k = 0; k < DataFixtures.MnistMiniCount(d); k++)
                for (var p = 0; p < 784; p++)
                    if (bytes[k * 784 + p] != DataFixtures.MnistPixel(d, k, p))
                        Assert.Fail($"digit {d} image {k} pixel {p}: {bytes[k * 784 + p]} != {DataFixtures.MnistPixel(d, k, p)}");
        }
    }

    [Fact]
    public void LoaderConcatenatesDigitsInClassOrder()
    {
        var raw = MnistDigits.LoadRaw(DataFixtures.MnistMini);
        Assert.Equal(19, raw.Count);
        Assert.Equal(Enumerable.Range(0, 10).Select(DataFixtures.MnistMiniCount), raw.ClassCounts(10));
        // Image 3 is digit 2's first image (digits 0 and 1 hold 1 and 2 images).
        Assert.Equal(2, raw.Labels[3]);
        Assert.Equal(DataFixtures.MnistPixel(2, 0, 400), raw.Image(3)[400]);
    }

    public static IEnumerable<object[]> CorruptJson()
    {
        string Pixels(int n, string v = "0.5") => string.Join(",", Enumerable.Repeat(v, n));
        yield return new object[] { "{ \"data\": [" + Pixels(783) + "]}", "783 pixels" };
        yield return new object[] { "{ \"data\": []}", "0 pixels" };
        yield return new object[] { "{ \"data\": [" + Pixels(783) + ",1.5]}", "outside [0, 1]" };
        yield return new object[] { "{ \"data\": [" + Pixels(783) + ",\"x\"]}", "not a number" };
        yield return new object[] { "{ \"data\": [" + Pixels(400), "invalid JSON" };
        yield return new object[] { "{ \"pixels\": [" + Pixels(784) + "]}", "no \"data\"" };
        yield return new object[] { "[" + Pixels(784) + "]", "expected a JSON object" };
        yield return new object[] { "{ \"data\": 3 }", "not an array" };
        yield return new object[] { "{ \"data\": [" + Pixels(784) + "]} x", "invalid JSON" };
    }

    [Theory]
    [MemberData(nameof(CorruptJson))]
    public void CorruptJsonNamesTheFileAndSetupScript(string text, string detail)
    {
        using var tmp = DataFixtures.Temp();
        var path = tmp.File("3.json", System.Text.Encoding.UTF8.GetBytes(text));
        var e = Assert.Throws<DatasetException>(() => MnistJsonReader.ReadDigitFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("./scripts/setup.sh", e.Message);
        Assert.Contains(detail, e.Message);
    }

    [Fact]
    public void OtherPropertiesAreSkipped()
    {
        using var tmp = DataFixtures.Temp();
        var text = "{ \"meta\": {\"a\": [1, 2]}, \"data\": [" + string.Join(",", Enumerable.Repeat("1", 784)) + "], \"z\": null }";
        var bytes = MnistJsonReader.ReadDigitFile(tmp.File("x.json", System.Text.Encoding.UTF8.GetBytes(text)));
        Assert.All(bytes, b => Assert.Equal(255, b));
    }

    [Fact]
    public void MissingMnistNamesTheFileAndSetupScript()
    {
        using var tmp = DataFixtures.Temp();
        var e = Assert.Throws<DatasetException>(() => MnistDigits.LoadRaw(tmp.Path));
        Assert.Contains(MnistDigits.DigitFile(tmp.Path, 0), e.Message);
        Assert.Contains("./scripts/setup.sh", e.Message);
        Assert.Contains(DataPaths.MnistEnv, e.Message);
        Assert.False(MnistDigits.IsInstalled(tmp.Path));
    }

    [Fact]
    public void RepoRootIsFoundAboveTheTestAssembly()
    {
        var root = DataPaths.FindRepoRoot();
        Assert.Equal("/x/y", DataPaths.MnistDir("/x/y"));
        static bool InCheckout(string start)
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "PDiff.Lib.csproj"))) return true;
            return false;
        }
        // Built outside the checkout (dotnet test --artifacts-path /tmp/...) and run from there: nothing to find.
        Assert.Equal(root != null, InCheckout(AppContext.BaseDirectory) || InCheckout(Directory.GetCurrentDirectory()));
        if (root == null) return;
        Assert.True(File.Exists(Path.Combine(root!, "PDiff.Lib.csproj")));
        if (Environment.GetEnvironmentVariable(DataPaths.MnistEnv) is not { Length: > 0 })
            Assert.Equal(Path.Combine(root!, "data", "cache", "mnist"), DataPaths.MnistDir());
    }
}
