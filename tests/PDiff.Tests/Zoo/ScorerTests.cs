using PDiff.Models;
using TorchSharp;
using static TorchSharp.torch;
using PDiff.Zoo;
using Xunit;

namespace PDiff.Tests.Zoo;

public class ScorerTests
{
    /// <summary>Random images, labels from a fixed random teacher (so accuracies are neither 0 nor 1).</summary>
    static (LabeledImages val, LabeledImages test) Data(int n = 64)
    {
        using var g = new Generator(11);
        var xv = torch.randn(new long[] { n, 1, 28, 28 }, generator: g).DetachFromDisposeScope();
        var yv = torch.randint(0, 10, new long[] { n }, generator: g).DetachFromDisposeScope();
        var xt = torch.randn(new long[] { n + 37, 1, 28, 28 }, generator: g).DetachFromDisposeScope();
        var yt = torch.randint(0, 10, new long[] { n + 37 }, generator: g).DetachFromDisposeScope();
        return (new LabeledImages(xv, yv), new LabeledImages(xt, yt));
    }

    /// <summary>M vectors near the model's own: the base vector plus noise of growing size.</summary>
    static Tensor Vectors(ImageClassifier m, SubsetLayout l, int count)
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(3);
        var v = Subsets.Flatten(m, l);
        var rows = Enumerable.Range(0, count).Select(i => v.add(torch.randn(new[] { l.Length }, generator: g).mul(0.3 * i))).ToList();
        var all = torch.stack(rows);
        var offsets = l.Offsets();
        for (var i = 0; i < l.Tensors.Count; i++)
            if (l.Tensors[i].IsRunningVar) // variances stay positive
            {
                var part = all.narrow(1, offsets[i], l.Tensors[i].Numel);
                part.copy_(part.abs().add(0.05));
            }
        return all.MoveToOuterDisposeScope();
    }

    static ImageClassifier Model(string arch)
    {
        var spec = arch switch
        {
            "resnet18" => new ModelSpec { Arch = arch, Width = 4 },
            "vit" => new ModelSpec { Arch = arch, Dim = 16, Heads = 2, MlpDim = 32, Depth = 2 },
            "convnet3" => new ModelSpec { Arch = arch, Width = 8 },
            _ => new ModelSpec { Arch = arch, Hidden = new[] { 32, 16 } },
        };
        var m = ModelRegistry.Create(spec, 2);
        // Non-trivial running statistics, so eval-mode normalisation is exercised.
        using (torch.no_grad())
        using (var g = new Generator(9))
            foreach (var (name, b) in m.named_buffers())
                if (name.EndsWith("running_var")) b.uniform_(0.5, 1.5, g);
                else if (name.EndsWith("running_mean")) b.uniform_(-0.1, 0.1, g);
        return m;
    }

    [Theory]
    [InlineData("resnet18", "last-two-norms", "layer4.1.bn1")]
    [InlineData("resnet18", "bn10-14", "layer3.0.bn1")]
    [InlineData("resnet18", "classifier", "fc")]
    [InlineData("resnet18", "first-conv", "conv1")]
    [InlineData("resnet18", "layer2.0.shortcut", "layer2.0.shortcut")]
    [InlineData("resnet18", "layer4.1.bn1.running_var,layer4.1.bn2", "layer4.1.bn1")]
    [InlineData("vit", "last-two-norms", "blocks.1.norm2")]
    [InlineData("vit", "blocks.0.attn", "blocks.0.attn")]
    [InlineData("convnet3", "last-two-norms", "features.5")]
    [InlineData("mlp", "last-two-norms", "bn1")]
    public void CachedScoringEqualsTheFullForwardPass(string arch, string subset, string cutStage)
    {
        using var m = Model(arch);
        var layout = Subsets.Resolve(m, subset);
        var (val, test) = Data();
        using var vectors = Vectors(m, layout, 5);
        using var before = Subsets.Flatten(m, layout);
        var full = new FullScorer(m, layout, val, test, batchSize: 40);
        using var cached = new CachedScorer(m, layout, val, test, batchSize: 40, rowsPerForward: 150, maxStack: 3);
        Assert.Equal(cutStage, cached.CutStageName);
        foreach (var split in new[] { EvalSplit.Validation, EvalSplit.Test })
        {
            using var lf = full.Logits(vectors, split);
            using var lc = cached.Logits(vectors, split);
            Assert.Equal(lf.shape, lc.shape);
            Assert.True(lf.allclose(lc, 1e-5, 1e-5), $"{arch}/{subset}: cached logits differ from the full pass");
            var sf = SubsetScorerBase.ScoresFromLogits(lf, split == EvalSplit.Validation ? val.Y : test.Y);
            var sc = cached.Score(vectors, split);
            for (var i = 0; i < sf.Count; i++)
            {
                Assert.Equal(sf[i].Accuracy, sc[i].Accuracy);
                Assert.Equal(sf[i].Wrong.Words, sc[i].Wrong.Words);
            }
            // The vectors really change the outputs (the test would be vacuous otherwise).
            using var first = lf.select(0, 0);
            using var last = lf.select(0, 4);
            Assert.False(first.allclose(last, 1e-3, 1e-3));
            Assert.All(sf, x => Assert.InRange(x.Accuracy, 0.0, 1.0));
        }
        using var after = Subsets.Flatten(m, layout);
        Assert.Equal(before.data<float>().ToArray(), after.data<float>().ToArray()); // the base model is left as it was
        Assert.True(cached.CacheBytes > 0);
    }

    [Fact]
    public void ScoreMatchesAHandCountOfTheBaseModel()
    {
        using var m = Model("resnet18");
        var layout = Subsets.Resolve(m, "last-two-norms");
        var (val, test) = Data(100);
        using var v = Subsets.Flatten(m, layout);
        using var cached = new CachedScorer(m, layout, val, test);
        var s = cached.Score(v, EvalSplit.Validation).Single();
        m.eval();
        using var logits = m.forward(val.X);
        var pred = logits.argmax(1).data<long>().ToArray();
        var y = val.Y.data<long>().ToArray();
        var wrong = pred.Zip(y, (p, t) => p != t).ToArray();
        Assert.Equal(wrong.Count(w => w), s.Wrong.Count);
        Assert.Equal(1 - wrong.Count(w => w) / 100.0, s.Accuracy, 12);
        for (var i = 0; i < 100; i++) Assert.Equal(wrong[i], s.Wrong[i]);
    }

    [Fact]
    public void BadVectorShapesAreRejected()
    {
        using var m = Model("mlp");
        var layout = Subsets.Resolve(m, "last-two-norms");
        var (val, test) = Data(20);
        using var cached = new CachedScorer(m, layout, val, test);
        using var bad = torch.zeros(new long[] { 2, layout.Length + 1 });
        var e = Assert.Throws<ArgumentException>(() => cached.Score(bad, EvalSplit.Test));
        Assert.Contains($"[M, {layout.Length}]", e.Message);
    }
}

/// <summary>Rows scored before are not run again (the evaluation scores the K originals once per sampler or setting).</summary>
public class ScoreMemoTests
{
    sealed class CountingScorer(torch.nn.Module<Tensor, Tensor> model, SubsetLayout layout, LabeledImages val, LabeledImages test)
        : SubsetScorerBase(model, layout, val, test)
    {
        public int RowsRun { get; private set; }
        protected override Tensor ComputeLogits(Tensor vectors, LabeledImages data)
        {
            RowsRun += (int)vectors.size(0);
            return torch.stack(Enumerable.Range(0, (int)vectors.size(0)).Select(i =>
            {
                Subsets.WriteBack(Model, Layout, vectors[i]);
                return Model.forward(data.X);
            }).ToList());
        }
    }

    [Fact]
    public void ARowSeenBeforeIsAnsweredFromTheMemoWithTheSameScore()
    {
        using var g = new Generator(5);
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "mlp", Hidden = new[] { 16 } }, 1);
        var layout = Subsets.Resolve(m, "classifier");
        var x = torch.randn(new long[] { 40, 1, 28, 28 }, generator: g);
        var y = torch.randint(0, 10, new long[] { 40 }, generator: g);
        var data = new LabeledImages(x, y);
        var s = new CountingScorer(m, layout, data, data);
        var base0 = Subsets.Flatten(m, layout);
        var a = torch.stack(new[] { base0, base0.add(torch.randn(new[] { layout.Length }, generator: g)) });
        var first = s.Score(a, EvalSplit.Validation);
        Assert.Equal(2, s.RowsRun);
        // Same rows again, plus one new: only the new row runs, and the old rows keep their scores.
        var b = torch.stack(new[] { a[1], base0.mul(0.5), a[0] });
        var second = s.Score(b, EvalSplit.Validation);
        Assert.Equal(3, s.RowsRun);
        Assert.Equal(first[1].Accuracy, second[0].Accuracy);
        Assert.Equal(first[0].Accuracy, second[2].Accuracy);
        // The other split is its own memo; a row that differs in one number is a new row.
        s.Score(a, EvalSplit.Test);
        Assert.Equal(5, s.RowsRun);
        var nudged = a.clone();
        nudged[0, 0] = nudged[0, 0].add(1e-3f);
        s.Score(nudged, EvalSplit.Validation);
        Assert.Equal(6, s.RowsRun);
        // And the answers equal a fresh scorer's.
        var fresh = new CountingScorer(m, layout, data, data).Score(b, EvalSplit.Validation);
        Assert.Equal(fresh.Select(f => f.Accuracy), second.Select(f => f.Accuracy));
    }

    [Fact]
    public void RememberedScoresAreReturnedWithoutRunningAndBadOnesAreRefused()
    {
        using var g = new Generator(6);
        using var m = ModelRegistry.Create(new ModelSpec { Arch = "mlp", Hidden = new[] { 16 } }, 1);
        var layout = Subsets.Resolve(m, "classifier");
        var x = torch.randn(new long[] { 30, 1, 28, 28 }, generator: g);
        var y = torch.randint(0, 10, new long[] { 30 }, generator: g);
        var s = new CountingScorer(m, layout, new LabeledImages(x, y), new LabeledImages(x.narrow(0, 0, 20), y.narrow(0, 0, 20)));
        var v = torch.stack(new[] { Subsets.Flatten(m, layout), torch.randn(new[] { layout.Length }, generator: g) });
        // Made-up scores (every example wrong, none wrong), so an answer from the memo cannot be mistaken for a run.
        var allWrong = new ModelScore(0, WrongSet.FromBools(Enumerable.Repeat(true, 30).ToArray()));
        var noneWrong = new ModelScore(1, WrongSet.FromBools(new bool[30]));
        s.Remember(v, EvalSplit.Validation, new[] { allWrong, noneWrong });
        var got = s.Score(v, EvalSplit.Validation);
        Assert.Equal(0, s.RowsRun);
        Assert.Equal(0, s.ImagesScored);
        Assert.Same(allWrong, got[0]);
        Assert.Same(noneWrong, got[1]);
        s.Score(v, EvalSplit.Test);                                   // the other split was not given: it runs
        Assert.Equal(2, s.RowsRun);
        Assert.Equal(2 * 20, s.ImagesScored);
        var count = Assert.Throws<ArgumentException>(() => s.Remember(v, EvalSplit.Validation, new[] { allWrong }));
        Assert.Contains("2 vectors but 1 scores", count.Message);
        var split = Assert.Throws<ArgumentException>(() => s.Remember(v, EvalSplit.Test, new[] { allWrong, noneWrong }));
        Assert.Contains("covers 30 examples; the test split has 20", split.Message);
    }
}
