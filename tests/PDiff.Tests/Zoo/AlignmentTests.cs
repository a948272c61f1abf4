using PDiff.Models;
using PDiff.Tests.Data;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.Zoo;

/// <summary>Permutation alignment of whole networks: the assignment solver against brute force, the permutation groups
/// against the network's function, and weight matching against permutations it must undo.</summary>
public class AlignmentTests
{
    static readonly ModelSpec MlpSpec = new() { Arch = "mlp", Hidden = new[] { 16, 8 } };
    static readonly ModelSpec ConvSpec = new() { Arch = "convnet3", Channels = new[] { 4, 6, 5 } };

    /// <summary>A network with random running statistics (so that permuting them matters), its layout and its whole vector.</summary>
    static (ImageClassifier Model, SubsetLayout Layout, Tensor Vector) Network(ModelSpec spec, ulong seed)
    {
        var m = ModelRegistry.Create(ModelRegistry.Complete(spec), seed);
        using (torch.no_grad())
        {
            var g = new Generator(seed + 100);
            foreach (var (name, t) in ModuleTree.StateDict(m).Where(kv => kv.Key.Contains("running") && torch.is_floating_point(kv.Value)))
                t.copy_(name.EndsWith("var", StringComparison.Ordinal) ? torch.rand(t.shape, generator: g).add(0.5) : torch.randn(t.shape, generator: g));
        }
        var layout = Subsets.Resolve(m, "whole");
        return (m, layout, Subsets.Flatten(m, layout));
    }

    /// <summary>1 on the learned parameters of the layout, 0 on BatchNorm's running statistics.</summary>
    static Tensor LearnedMask(SubsetLayout layout) => torch.cat(layout.Tensors.Select(t =>
        t.Name.Contains("running_", StringComparison.Ordinal) ? torch.zeros(t.Numel) : torch.ones(t.Numel)).ToArray());

    static int[] RandomPermutation(int n, Random rng)
    {
        var p = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(p);
        return p;
    }

    static Tensor Logits(ImageClassifier m, SubsetLayout layout, Tensor vector, Tensor x)
    {
        Subsets.WriteBack(m, layout, vector);
        m.eval();
        using (torch.no_grad()) return m.forward(x);
    }

    static IEnumerable<int[]> AllPermutations(int n)
    {
        if (n == 0) { yield return Array.Empty<int>(); yield break; }
        foreach (var rest in AllPermutations(n - 1))
            for (var at = 0; at <= rest.Length; at++)
                yield return rest.Take(at).Append(n - 1).Concat(rest.Skip(at)).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(6)]
    public void AssignmentIsTheBestOverAllPermutations(int n)
    {
        var rng = new Random(n);
        for (var trial = 0; trial < 20; trial++)
        {
            var score = new double[n, n];
            for (var i = 0; i < n; i++)
                for (var j = 0; j < n; j++)
                    score[i, j] = trial % 4 == 0 ? rng.Next(3) : rng.NextDouble() * 10 - 5;   // ties every fourth trial
            var p = LinearAssignment.Maximize(score);
            Assert.Equal(Enumerable.Range(0, n), p.Order());
            var best = AllPermutations(n).Max(q => LinearAssignment.Total(score, q));
            Assert.Equal(best, LinearAssignment.Total(score, p), 9);
        }
    }

    [Fact]
    public void AssignmentFindsAHiddenPermutationOnALargeMatrix()
    {
        // score[i, j] = 1 where j = π(i), small noise elsewhere: the solver must return π.
        var rng = new Random(7);
        var pi = RandomPermutation(200, rng);
        var score = new double[200, 200];
        for (var i = 0; i < 200; i++)
        {
            for (var j = 0; j < 200; j++) score[i, j] = 0.01 * rng.NextDouble();
            score[i, pi[i]] = 1;
        }
        Assert.Equal(pi, LinearAssignment.Maximize(score));
    }

    [Fact]
    public void AssignmentRefusesARectangularOrNonFiniteMatrix()
    {
        var e = Assert.Throws<ArgumentException>(() => LinearAssignment.Maximize(new double[2, 3]));
        Assert.Contains("2 × 3", e.Message);
        var nan = new double[2, 2];
        nan[1, 0] = double.NaN;
        e = Assert.Throws<ArgumentException>(() => LinearAssignment.Maximize(nan));
        Assert.Contains("score[1, 0]", e.Message);
    }

    public static TheoryData<string> Architectures => new() { "mlp", "convnet3" };
    static ModelSpec SpecOf(string arch) => arch == "mlp" ? MlpSpec : ConvSpec;

    [Theory]
    [MemberData(nameof(Architectures))]
    public void PermutingEveryGroupKeepsTheNetworksFunction(string arch)
    {
        var (m, layout, v) = Network(SpecOf(arch), 1);
        using var _ = m;
        using var __ = v;
        var groups = PermutationGroups.For(m.Spec, layout);
        var rng = new Random(3);
        var perms = groups.Select(g => RandomPermutation(g.Size, rng)).ToList();
        using var permuted = WeightMatching.Apply(v, layout, groups, perms);
        Assert.True(permuted.sub(v).abs().max().item<float>() > 0.01f, "the permutation moved nothing: the test would prove nothing");
        using var x = torch.randn(6, 1, 28, 28, generator: new Generator(5));
        using var before = Logits(m, layout, v, x);
        using var after = Logits(m, layout, permuted, x);
        Assert.True(before.allclose(after, 1e-4, 1e-5), $"{arch}: the permuted network computes another function (max |Δ| {before.sub(after).abs().max().item<float>()})");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void WeightMatchingUndoesAPermutationExactly(string arch)
    {
        var (m, layout, v) = Network(SpecOf(arch), 2);
        using var _ = m;
        using var __ = v;
        var groups = PermutationGroups.For(m.Spec, layout);
        var rng = new Random(11);
        using var permuted = WeightMatching.Apply(v, layout, groups, groups.Select(g => RandomPermutation(g.Size, rng)).ToList());
        using var aligned = WeightMatching.Align(v, permuted, layout, groups);
        Assert.True(aligned.DistanceBefore > 1);
        Assert.Equal(0, aligned.DistanceAfter);
        Assert.True(aligned.Vector.eq(v).all().item<bool>());
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void AligningAnotherNetworkBringsItCloserAndKeepsItsFunction(string arch)
    {
        var (ma, layout, a) = Network(SpecOf(arch), 3);
        var (mb, _, b) = Network(SpecOf(arch), 4);
        using var d1 = ma; using var d2 = mb; using var d3 = a; using var d4 = b;
        var groups = PermutationGroups.For(ma.Spec, layout);
        using var aligned = WeightMatching.Align(a, b, layout, groups);
        Assert.Equal(a.sub(b).norm().item<float>(), aligned.DistanceBefore, 3);
        // Matching maximises the inner product over the learned tensors, so there (not over the running statistics, which
        // follow but do not vote) the aligned network is closer.
        float Learned(Tensor x, Tensor y) => LearnedMask(layout).mul(x.sub(y)).norm().item<float>();
        Assert.True(Learned(a, aligned.Vector) < Learned(a, b), $"{Learned(a, aligned.Vector)} ≥ {Learned(a, b)}");
        Assert.Equal(a.sub(aligned.Vector).norm().item<float>(), aligned.DistanceAfter, 3);
        Assert.True(aligned.Sweeps is >= 1 and < WeightMatching.MaxSweeps);
        using var x = torch.randn(4, 1, 28, 28, generator: new Generator(6));
        using var yb = Logits(mb, layout, b, x);
        using var ya = Logits(mb, layout, aligned.Vector, x);
        Assert.True(yb.allclose(ya, 1e-4, 1e-5));
        // The returned permutations are what was applied.
        using var again = WeightMatching.Apply(b, layout, groups, aligned.Permutations);
        Assert.True(again.eq(aligned.Vector).all().item<bool>());
    }

    [Fact]
    public void AlignAllKeepsTheReferenceRowAndAlignsTheOthers()
    {
        var (m, layout, v) = Network(MlpSpec, 5);
        using var _ = m; using var __ = v;
        var groups = PermutationGroups.For(m.Spec, layout);
        var rng = new Random(2);
        using var p1 = WeightMatching.Apply(v, layout, groups, groups.Select(g => RandomPermutation(g.Size, rng)).ToList());
        using var p2 = WeightMatching.Apply(v, layout, groups, groups.Select(g => RandomPermutation(g.Size, rng)).ToList());
        using var matrix = torch.stack(new[] { p1, v, p2 });
        var (aligned, rows) = WeightMatching.AlignAll(matrix, layout, groups, referenceRow: 1);
        using var __a = aligned;
        Assert.True(aligned[1].eq(v).all().item<bool>());
        Assert.True(aligned[0].eq(v).all().item<bool>());
        Assert.True(aligned[2].eq(v).all().item<bool>());
        Assert.Equal(0, rows[1].Before);
        Assert.True(rows[0].Before > 0 && rows[0].After == 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightMatching.AlignAll(matrix, layout, groups, referenceRow: 3));
    }

    [Fact]
    public void AlignmentRefusesAnUnknownArchitectureAPartialSubsetAndABadPermutation()
    {
        var e = Assert.Throws<ArgumentException>(() => PermutationGroups.For(new ModelSpec { Arch = "resnet18" }, new SubsetLayout(Array.Empty<TensorSpec>())));
        Assert.Contains("mlp and convnet3", e.Message);
        Assert.Contains("PermutationGroup", e.Message);
        var (m, layout, v) = Network(MlpSpec, 6);
        using var _ = m; using var __ = v;
        var partial = new SubsetLayout(layout.Tensors.Where(t => !t.Name.StartsWith("bn1", StringComparison.Ordinal)).ToList());
        e = Assert.Throws<ArgumentException>(() => PermutationGroups.For(m.Spec, partial));
        Assert.Contains("bn1.weight", e.Message);
        Assert.Contains("'whole'", e.Message);
        var groups = PermutationGroups.For(m.Spec, layout);
        e = Assert.Throws<ArgumentException>(() => WeightMatching.Apply(v, layout, groups, groups.Select(g => new int[g.Size]).ToList()));
        Assert.Contains("not a permutation", e.Message);
        e = Assert.Throws<ArgumentException>(() => WeightMatching.Align(v, v.narrow(0, 0, 10), layout, groups));
        Assert.Contains("[10]", e.Message);
    }

    [MnistFact]
    public void AlignedZooHoldsTheSameNetworksInNetworkZerosOrder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pdiff-alignedzoo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var options = WholeNetworkTests.TinyMnistZoo(Path.Combine(dir, "zoo"), hidden: 12, models: 3);
            var zoo = SeedZoo.Ensure(options);
            var log = new StringWriter();
            var aligned = AlignedZoo.Ensure(zoo, Path.Combine(dir, "aligned"), log);
            Assert.Equal(3, aligned.K);
            Assert.Contains("weight-matching", aligned.Manifest.Source);
            Assert.Contains("L2 to it", log.ToString());
            using var before = zoo.LoadMatrix();
            using var after = aligned.LoadMatrix();
            Assert.True(after[0].eq(before[0]).all().item<bool>());
            var mask = LearnedMask(zoo.Layout);
            for (var k = 1; k < 3; k++)
            {
                // The same numbers in another order, closer to network 0 over the learned tensors.
                Assert.True(after[k].sort().Values.eq(before[k].sort().Values).all().item<bool>());
                Assert.True(mask.mul(after[k].sub(after[0])).norm().item<float>() <= mask.mul(before[k].sub(before[0])).norm().item<float>());
            }
            // Each network computes what it computed: its accuracies are the source zoo's (to one image of 200, for summation order).
            for (var k = 0; k < 3; k++)
            {
                Assert.Equal(zoo.Manifest.Checkpoints[k].TestAccuracy, aligned.Manifest.Checkpoints[k].TestAccuracy, 0.0051);
                Assert.Equal(zoo.Manifest.Checkpoints[k].ValAccuracy, aligned.Manifest.Checkpoints[k].ValAccuracy, 0.0101);
            }
            Assert.NotNull(aligned.LoadScores());
            Assert.True(aligned.Manifest.Seconds["total"] >= zoo.Manifest.Seconds["total"]);
            // Reused while the source is the same; rebuilt when the source zoo changes.
            var created = aligned.Manifest.Created;
            Assert.Equal(created, AlignedZoo.Ensure(zoo, Path.Combine(dir, "aligned")).Manifest.Created);
            var smaller = SeedZoo.Ensure(options with { Models = 2 });
            Assert.Equal(2, AlignedZoo.Ensure(smaller, Path.Combine(dir, "aligned")).K);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
