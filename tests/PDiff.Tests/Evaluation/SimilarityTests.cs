using PDiff.Evaluation;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Evaluation;

public class SimilarityTests
{
    static WrongSet Set(int length, params int[] wrong)
    {
        var b = new bool[length];
        foreach (var i in wrong) b[i] = true;
        return WrongSet.FromBools(b);
    }

    // Three originals and two generated models over 6 examples; every IoU below is counted by hand.
    //   O0 = {0,1,2}  O1 = {0,1,3}  O2 = {4}  G0 = {0,1,2} (a replica of O0)  G1 = {3,4}
    static (IouMatrix M, GroupRange[] Groups) Hand()
    {
        var sets = new[] { Set(6, 0, 1, 2), Set(6, 0, 1, 3), Set(6, 4), Set(6, 0, 1, 2), Set(6, 3, 4) };
        return (IouMatrix.Compute(sets), new[] { new GroupRange("original", 0, 3), new GroupRange("generated", 3, 2) });
    }

    [Fact]
    public void MatrixHoldsHandCountedIoUs()
    {
        var (m, _) = Hand();
        Assert.Equal(0.5, m[0, 1], 12);    // |{0,1}| / |{0,1,2,3}|
        Assert.Equal(0.0, m[0, 2], 12);
        Assert.Equal(1.0, m[3, 0], 12);    // replica
        Assert.Equal(0.25, m[4, 1], 12);   // |{3}| / |{0,1,3,4}|
        Assert.Equal(0.5, m[4, 2], 12);    // |{4}| / |{3,4}|
        Assert.Equal(0.0, m[3, 4], 12);
        for (var i = 0; i < m.Count; i++)
        {
            Assert.Equal(1.0, m[i, i]);
            for (var j = 0; j < m.Count; j++) Assert.Equal(m[i, j], m[j, i]);
        }
    }

    [Fact]
    public void GroupStatisticsMatchHandComputation()
    {
        var (m, groups) = Hand();
        var s = Similarity.Summarise(m, groups, "test");
        Assert.Equal(2 * 0.5 / 6, s.OriginOrigin, 12);                   // ordered pairs i ≠ j: 0.5 twice, four zeros
        Assert.Equal(0.0, s.GeneratedGenerated, 12);
        Assert.Equal((1 + 0.5 + 0 + 0 + 0.25 + 0.5) / 6, s.OriginGenerated, 12);
        Assert.Equal((1 + 0.5) / 2, s.OriginGeneratedMax, 12);            // G0 → 1, G1 → 0.5
        var o = s.Groups.Single(g => g.Group == "original");
        Assert.Equal(s.OriginOrigin, o.ToOriginalsMean, 12);
        Assert.Equal((0.5 + 0.5 + 0) / 3, o.ToOriginalsMaxMean, 12);      // leave-one-out maxima
    }

    [Fact]
    public void MaxSimilarityLeavesOriginalsOut()
    {
        var (m, groups) = Hand();
        var max = Similarity.MaxToOriginals(m, groups[0]);
        Assert.Equal(new[] { 0.5, 0.5, 0.0, 1.0, 0.5 }, max.Value);
        // O2 ties at 0 with O0 and O1: the lowest index wins. G1 is closest to O2.
        Assert.Equal(new[] { 1, 0, 0, 0, 2 }, max.NearestOriginal);
    }

    [Fact]
    public void SingletonGroupHasNoWithinSimilarity()
    {
        var sets = new[] { Set(4, 0), Set(4, 0, 1), Set(4, 1) };
        var m = IouMatrix.Compute(sets);
        var s = Similarity.Summarise(m, new[] { new GroupRange("original", 0, 2), new GroupRange("ensemble", 2, 1) }, "test");
        var e = s.Groups.Single(g => g.Group == "ensemble");
        Assert.True(double.IsNaN(e.Within));
        Assert.Equal((0.5 + 0) / 2, e.ToOriginalsMean, 12);
        Assert.Equal(0.5, e.ToOriginalsMaxMean, 12);
        Assert.True(double.IsNaN(s.GeneratedGenerated));   // no generated group given
    }

    [Fact]
    public void ParallelRowsEqualPairwiseIoU()
    {
        var rng = new Random(5);
        var sets = Enumerable.Range(0, 40).Select(_ => WrongSet.FromBools(Enumerable.Range(0, 300).Select(_ => rng.NextDouble() < 0.2).ToArray())).ToList();
        var m = IouMatrix.Compute(sets);
        for (var i = 0; i < sets.Count; i++)
            for (var j = 0; j < sets.Count; j++)
                Assert.Equal(i == j ? 1.0 : sets[i].IoU(sets[j]), m[i, j]);
    }

    [Fact]
    public void BadInputsAreNamed()
    {
        Assert.Throws<ArgumentException>(() => IouMatrix.Compute(new[] { Set(4, 0), Set(5, 0) }));
        var m = IouMatrix.Compute(new[] { Set(4, 0), Set(4, 1) });
        var ex = Assert.Throws<ArgumentException>(() => Similarity.Summarise(m, new[] { new GroupRange("generated", 0, 2) }, "test"));
        Assert.Contains("original", ex.Message);
        Assert.Throws<ArgumentException>(() => Similarity.Summarise(m, new[] { new GroupRange("original", 0, 1) }, "test"));
    }
}
