using System.Text.Json;
using PDiff.Evaluation;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Evaluation;

public class ResultsWritingTests
{
    [Fact]
    public void CsvRoundTripsAwkwardCellsAndExactDoubles()
    {
        var t = new TextTable("x", new[] { TableColumn.Text("name"), TableColumn.Number("value"), new TableColumn("n") });
        t.Add("plain", 0.1 + 0.2, 3);
        t.Add("comma, \"quoted\"\nand a line break", double.NaN, -1);
        t.Add(null, 1e-300, long.MaxValue);
        var (header, rows) = Csv.Parse(t.ToCsv());
        Assert.Equal(new[] { "name", "value", "n" }, header);
        Assert.Equal(3, rows.Count);
        Assert.Equal(0.1 + 0.2, Csv.ParseDouble(rows[0][1]));                 // bit-exact
        Assert.Equal("comma, \"quoted\"\nand a line break", rows[1][0]);
        Assert.True(double.IsNaN(Csv.ParseDouble(rows[1][1])));
        Assert.Equal("", rows[2][0]);
        Assert.Equal(1e-300, Csv.ParseDouble(rows[2][1]));
        Assert.Equal(long.MaxValue.ToString(), rows[2][2]);
        Assert.Throws<FormatException>(() => Csv.Parse("a,b\n1\n"));
        Assert.Throws<ArgumentException>(() => t.Add("too few"));
    }

    [Fact]
    public void JsonRoundTripsThePaperTableWithNaN()
    {
        var o = GroupSummary.From("original", new[] { 0.5, 0.6 }, new[] { 0.55, 0.65 });
        var t = PaperTable.From("toy", o, 0.61, o);
        var json = t.ToJson();
        Assert.Contains("\"selected_on\": \"validation\"", json);
        Assert.Contains("NaN", json);
        var back = PaperTable.FromJson(json);
        Assert.Equal(t.Task, back.Task);
        Assert.Equal(t.Rows.Select(r => r.Original), back.Rows.Select(r => r.Original));
        Assert.Equal(t.Rows.Select(r => r.SelectedOn), back.Rows.Select(r => r.SelectedOn));
        Assert.True(double.IsNaN(back.Rows[4].Ensemble));
    }

    [Fact]
    public void WriterKeepsFilesInItsFolderAndListsThemInRunJson()
    {
        var dir = Directory.CreateTempSubdirectory("pdiff-results").FullName;
        try
        {
            var w = new ResultsWriter(dir);
            w.WriteText("a.txt", "hello");
            w.WriteJson("b.json", new { x = 1.5 });
            Assert.Throws<ArgumentException>(() => w.WriteText("../escape.txt", "no"));
            Assert.Throws<ArgumentException>(() => w.WriteText("sub/file.txt", "no"));
            var run = w.WriteRun("test", new EvaluationOptions(), new Dictionary<string, ulong> { ["s"] = 42 });
            using var doc = JsonDocument.Parse(File.ReadAllText(run));
            Assert.Equal(new[] { "a.txt", "b.json" }, doc.RootElement.GetProperty("files").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(42UL, doc.RootElement.GetProperty("seeds").GetProperty("s").GetUInt64());
            Assert.Equal(15, doc.RootElement.GetProperty("configuration").GetProperty("histogram_bins").GetInt32());
            Assert.Throws<FileNotFoundException>(() => ResultsWriter.ReadJson<EvaluationOptions>(Path.Combine(dir, "missing.json")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void OptionsRoundTripThroughJson()
    {
        var o = new EvaluationOptions
        {
            Baselines = new BaselineOptions { Seed = 9, RelativeNoiseSigmas = new[] { 0.5 }, AbsoluteNoiseRunningVar = RunningVarPolicy.Reject },
            TsneOptions = new TsneOptions { Perplexity = 12, LearningRate = 100 },
            SimilaritySplit = EvalSplit.Validation,
        };
        var back = JsonSerializer.Deserialize<EvaluationOptions>(JsonSerializer.Serialize(o, ResultsJson.Options), ResultsJson.Options)!;
        Assert.Equal(9UL, back.Baselines.Seed);
        Assert.Equal(new[] { 0.5 }, back.Baselines.RelativeNoiseSigmas);
        Assert.Equal(RunningVarPolicy.Reject, back.Baselines.AbsoluteNoiseRunningVar);
        Assert.Equal(12, back.TsneOptions.Perplexity);
        Assert.Equal(100, back.TsneOptions.LearningRate);
        Assert.Equal(EvalSplit.Validation, back.SimilaritySplit);
    }
}

public class EvaluatorTests
{
    static EvaluationOptions SmallOptions() => new()
    {
        Baselines = new BaselineOptions
        {
            Seed = 3,
            RelativeNoiseSigmas = new[] { 0.0, 0.3 }, RelativeNoiseCount = 10,
            AbsoluteNoiseSigmas = new[] { 0.06 }, AbsoluteNoiseCount = 8,
            AverageCount = 5, AverageOf = 4, GaussianCount = 5,
            FineTunedCount = 3, FineTuneSteps = 4,
        },
        ScoreBatchSize = 7,
        TsneOptions = new TsneOptions { Perplexity = 8, Iterations = 150 },
        EmbeddingMaxPerGroup = 10,
    };

    [Fact]
    public void EvaluatesEveryGroupAndWritesTheResultsFolder()
    {
        using var p = new LinearProblem();
        using var originals = p.Originals(20);
        // "Generated": interpolations of pairs of originals plus a little noise.
        using var g = new Generator(4);
        using var a = originals.narrow(0, 0, 6);
        using var b = originals.narrow(0, 6, 6);
        using var noise = torch.randn(new long[] { 6, p.Layout.Length }, generator: g).mul(0.02);
        using var generated = a.add(b).mul(0.5).add(noise);

        var evaluator = new Evaluator(p, SmallOptions(), p.FineTune);
        using var report = evaluator.Evaluate(originals, generated, task: "linear toy");

        Assert.Equal(new[] { "original", "generated", "ensemble", "relnoise_0", "relnoise_0.3", "absnoise_0.06", "finetuned", "average4", "gaussian" },
            report.Groups.Select(r => r.Name));
        Assert.Equal(20 + 6 + 1 + 10 + 10 + 8 + 3 + 5 + 5, report.Models.Count);
        Assert.Equal(report.Models.Count, report.Iou.Count);

        // Accuracies are the scorer's own.
        var direct = p.Score(originals, EvalSplit.Test);
        Assert.Equal(direct.Select(s => s.Accuracy), report.ModelsOf("original").Select(m => m.TestAcc));
        using var mean = Baselines.WeightAverage(originals);
        Assert.Equal(p.Score(mean, EvalSplit.Validation)[0].Accuracy, report.ModelsOf("ensemble").Single().ValAcc);
        Assert.Equal(direct.Max(s => s.Accuracy), report.Table.Rows[0].Original);

        // σ = 0 relative noise reproduces its source original: same accuracy, IoU 1, distance ≈ 0.
        foreach (var m in report.ModelsOf("relnoise_0"))
        {
            var src = m.Sources.Single();
            Assert.Equal(direct[src].Accuracy, m.TestAcc);
            Assert.Equal(1.0, m.MaxIouToOriginals);
            Assert.True(m.MinL2ToOriginals < 1e-5);
            Assert.Equal(src, m.NearestOriginal);
        }
        // Originals are compared leave-one-out: none is at distance 0 or necessarily at IoU 1 with itself.
        Assert.All(report.ModelsOf("original"), m => Assert.True(m.MinL2ToOriginals > 0 && m.NearestOriginal != m.Index));
        Assert.Equal(report.Similarity.OriginGeneratedMax, report.ModelsOf("generated").Average(m => m.MaxIouToOriginals), 12);
        Assert.Equal(6, report.NearestOriginalsOfGenerated.Indices.Length);
        Assert.Equal(new[] { "pca", "tsne" }, report.Embeddings.Select(e => e.Embedding.Method));
        Assert.Equal("parameters", report.Embeddings[0].Space);
        Assert.Contains("baseline:finetuned", report.Seeds.Keys);
        Assert.Contains("paper", report.ToText());

        var dir = Directory.CreateTempSubdirectory("pdiff-eval").FullName;
        try
        {
            report.Write(dir);
            foreach (var f in new[] { "table.csv", "table.json", "table.md", "groups.csv", "scores.csv", "iou_stats.json", "iou_matrix.csv",
                         "novelty.csv", "novelty_histogram.csv", "embedding_pca.csv", "embedding_tsne.csv", "baselines.json", "run.json" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            var (header, rows) = Csv.Read(Path.Combine(dir, "scores.csv"));
            Assert.Equal(new[] { "group", "index", "val_acc", "test_acc", "max_iou_to_originals", "most_similar_original", "min_l2_to_originals", "nearest_original", "sources" }, header);
            Assert.Equal(report.Models.Count, rows.Count);
            for (var i = 0; i < rows.Count; i++)
            {
                Assert.Equal(report.Models[i].Group, rows[i][0]);
                Assert.Equal(report.Models[i].TestAcc, Csv.ParseDouble(rows[i][3]));
                Assert.Equal(report.Models[i].MinL2ToOriginals, Csv.ParseDouble(rows[i][6]));
            }
            var iou = Csv.Read(Path.Combine(dir, "iou_matrix.csv"));
            Assert.Equal(report.Models.Count + 1, iou.Header.Length);
            Assert.Equal("original:0", iou.Rows[0][0]);
            Assert.Equal(6 * 3, Csv.Read(Path.Combine(dir, "novelty.csv")).Rows.Count);
            var stats = ResultsWriter.ReadJson<SimilarityStats>(Path.Combine(dir, "iou_stats.json"));
            Assert.Equal(report.Similarity.OriginOrigin, stats.OriginOrigin);
            using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run.json")));
            var seeds = run.RootElement.GetProperty("seeds");
            Assert.Equal(SmallOptions().Baselines.SeedFor(1, 1), seeds.GetProperty("baseline:relnoise_0.3").GetUInt64());
            Assert.Equal(20, run.RootElement.GetProperty("inputs").GetProperty("originals").GetInt32());
            Assert.Contains("scores.csv", run.RootElement.GetProperty("files").EnumerateArray().Select(e => e.GetString()));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void LatentsFromAnEncoderAreEmbeddedAndMissingRecipeIsNoted()
    {
        using var p = new LinearProblem();
        using var originals = p.Originals(8);
        using var generated = originals.narrow(0, 0, 3).add(0.01);
        var o = SmallOptions() with
        {
            Baselines = BaselineOptions.None with { GaussianCount = 4, FineTunedCount = 2 },
            Tsne = false,
        };
        // A fixed linear map to 4 latent dimensions stands in for the autoencoder's encoder.
        using var gen = new Generator(2);
        using var proj = torch.randn(new long[] { p.Layout.Length, 4 }, generator: gen);
        using var report = new Evaluator(p, o).Evaluate(originals, generated, new LatentInputs { Encoder = v => v.mm(proj) });
        Assert.Contains(report.Notes, n => n.Contains("fine-tuned baseline skipped"));
        var pca = report.Embeddings.Single();
        Assert.Equal("latent", pca.Space);
        Assert.Equal(8 + 3 + 1 + 4, pca.Group.Length);
    }

    [Fact]
    public void NonFiniteLatentsAreLeftOutOfTheEmbeddingAndNamed()
    {
        using var p = new LinearProblem();
        using var originals = p.Originals(8);
        using var generated = originals.narrow(0, 0, 3).add(0.01);
        var o = SmallOptions() with { Baselines = BaselineOptions.None with { GaussianCount = 4 }, Tsne = false };
        using var gen = new Generator(2);
        using var proj = torch.randn(new long[] { p.Layout.Length, 4 }, generator: gen);
        // An encoder that gives NaN for the Gaussian baseline's vectors (4 rows), as the normaliser's log does for a negative running variance.
        Tensor Encode(Tensor v)
        {
            var z = v.mm(proj);
            return v.size(0) == 4 ? z.fill_(double.NaN) : z;
        }
        using var report = new Evaluator(p, o).Evaluate(originals, generated, new LatentInputs { Encoder = Encode });
        var pca = report.Embeddings.Single();
        Assert.Equal(8 + 3 + 1, pca.Group.Length);
        Assert.DoesNotContain("gaussian", pca.Group);
        Assert.Contains(report.Notes, n => n.Contains("4 points with non-finite latent coordinates") && n.Contains("4 of gaussian"));
        using var bad = torch.tensor(new[] { 1.0, double.NaN, 2, 3 }).reshape(2, 2);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => Pca.Fit(bad)).Message);
    }

    [Fact]
    public void InconsistentInputsFailBeforeAnyScoring()
    {
        using var p = new LinearProblem();
        using var originals = p.Originals(5);
        using var wrong = torch.zeros(2, 7);
        Assert.Throws<ArgumentException>(() => new Evaluator(p, SmallOptions()).Evaluate(originals, wrong));
        var ex = Assert.Throws<ArgumentException>(() => new Evaluator(p, SmallOptions() with { Baselines = new BaselineOptions { AverageOf = 16 } }).Evaluate(originals, originals));
        Assert.Contains("AverageOf", ex.Message);
        Assert.Equal(0, p.Calls);
    }
}
