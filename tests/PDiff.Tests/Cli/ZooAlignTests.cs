using PDiff.Tests.Data;
using PDiff.Tests.Zoo;
using PDiff.Zoo;
using Xunit;
using static PDiff.Tests.Cli.CliKit;

namespace PDiff.Tests.Cli;

/// <summary>`pdiff zoo align`: writes the aligned zoo, and refuses a zoo whose subset leaves out tensors the hidden units touch.</summary>
[Collection(CliInProcess.Name)]
public sealed class ZooAlignTests
{
    [MnistFact]
    public void AlignWritesAnAlignedZooAndRefusesAPartialSubset()
    {
        var dir = Directory.CreateTempSubdirectory("pdiff-cli-align-").FullName;
        try
        {
            var options = WholeNetworkTests.TinyMnistZoo(Path.Combine(dir, "zoo"), hidden: 6, models: 2, trainImages: 300, testImages: 100);
            var zoo = SeedZoo.Ensure(options);
            var (code, stdout, stderr, _) = Pdiff("zoo", "align", zoo.Directory, "--out", Path.Combine(dir, "aligned"));
            Assert.True(code == 0, stderr);
            Assert.Contains("aligned zoo written to", stdout);
            var aligned = ZooTask.Open(Path.Combine(dir, "aligned"));
            Assert.Equal(2, aligned.K);
            Assert.Equal(AlignedZoo.SourceText(zoo), aligned.Manifest.Source);

            // Only the first layer's BatchNorm: its units' weights in fc1 and fc2 are not in the vectors, so aligning would change the networks.
            var partial = SeedZoo.Ensure(options with { Subset = "bn1", Out = Path.Combine(dir, "partial") });
            (code, stdout, stderr, _) = Pdiff("zoo", "align", partial.Directory, "--out", Path.Combine(dir, "aligned-partial"));
            Assert.Equal(2, code);
            Assert.Contains("fc1.weight", stderr);
            Assert.Contains("'whole'", stderr);
            Assert.DoesNotContain("   at ", stderr);
            Assert.False(Directory.Exists(Path.Combine(dir, "aligned-partial")) && Directory.EnumerateFileSystemEntries(Path.Combine(dir, "aligned-partial")).Any());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
