using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Tests.Evaluation;

/// <summary>
/// A small real classification task for evaluation tests: Gaussian classes in F dimensions, a linear
/// classifier whose weights [C, F] and bias [C] are the subset vector (N = C·F + C). Scoring really
/// classifies the validation / test points; fine-tuning really runs SGD on the training points; the
/// "originals" are consecutive checkpoints of one SGD run, like a p-diff zoo.
/// </summary>
public sealed class LinearProblem : ISubsetScorer, IDisposable
{
    public const int Classes = 3, Features = 6;
    readonly Tensor trainX, trainY, valX, valY, testX, testY;

    public LinearProblem(ulong seed = 1, int perClassTrain = 60, int perClassEval = 40, double spread = 1.6)
    {
        using var g = new Generator(seed);
        using var centers = torch.randn(new long[] { Classes, Features }, generator: g).mul(1.5);
        (trainX, trainY) = Sample(centers, perClassTrain, spread, g);
        (valX, valY) = Sample(centers, perClassEval, spread, g);
        (testX, testY) = Sample(centers, perClassEval, spread, g);
        Layout = new SubsetLayout(new[] { new TensorSpec("fc.weight", new long[] { Classes, Features }), new TensorSpec("fc.bias", new long[] { Classes }) });
    }

    public SubsetLayout Layout { get; }
    public int Calls { get; private set; }
    public int TestSize => (int)testY.size(0);

    static (Tensor X, Tensor Y) Sample(Tensor centers, int perClass, double spread, Generator g)
    {
        var xs = new List<Tensor>();
        var ys = new List<long>();
        for (var c = 0; c < Classes; c++)
        {
            using var noise = torch.randn(new long[] { perClass, Features }, generator: g).mul(spread);
            using var center = centers[c];
            xs.Add(noise.add(center));
            ys.AddRange(Enumerable.Repeat((long)c, perClass));
        }
        var x = torch.cat(xs);
        foreach (var t in xs) t.Dispose();
        return (x, torch.tensor(ys.ToArray()));
    }

    static (Tensor W, Tensor B) Split(Tensor v)
    {
        var m = v.size(0);
        var w = v.narrow(1, 0, Classes * Features).reshape(m, Classes, Features);
        var b = v.narrow(1, Classes * Features, Classes).unsqueeze(1);
        return (w, b);
    }

    public IReadOnlyList<ModelScore> Score(Tensor vectors, EvalSplit split)
    {
        Calls++;
        var (x, y) = split == EvalSplit.Validation ? (valX, valY) : (testX, testY);
        using var scope = torch.NewDisposeScope();
        var (w, b) = Split(vectors);
        var logits = x.matmul(w.transpose(1, 2)).add(b);          // [M, n, C]
        var wrong = logits.argmax(2).ne(y.unsqueeze(0));            // [M, n]
        var flags = wrong.data<bool>().ToArray();
        var n = (int)y.size(0);
        return Enumerable.Range(0, (int)vectors.size(0)).Select(i =>
        {
            var ws = WrongSet.FromBools(flags.AsSpan(i * n, n));
            return new ModelScore(1.0 - (double)ws.Count / n, ws);
        }).ToList();
    }

    /// <summary>SGD on mini-batches of 16 training points drawn from <paramref name="g"/>.</summary>
    public Tensor FineTune(Tensor start, int steps, Generator g) => Train(start.reshape(1, -1), steps, 0.1, g).reshape(-1);

    Tensor Train(Tensor v0, int steps, double lr, Generator g)
    {
        var v = v0.detach().clone().requires_grad_();
        for (var s = 0; s < steps; s++)
        {
            using var scope = torch.NewDisposeScope();
            var idx = torch.randint(0, trainY.size(0), new long[] { 16 }, generator: g);
            var (w, b) = Split(v);
            var logits = trainX.index_select(0, idx).matmul(w[0].t()).add(b[0]);
            var loss = torch.nn.functional.cross_entropy(logits, trainY.index_select(0, idx));
            loss.backward();
            using (torch.no_grad()) v.sub_(v.grad!.mul(lr));
            v.grad!.zero_();
        }
        using (torch.no_grad()) { var r = v.detach().clone(); v.Dispose(); return r; }
    }

    /// <summary>K consecutive checkpoints of one SGD run after a warm-up, as a [K, N] matrix.</summary>
    public Tensor Originals(int k, ulong seed = 2, int warmup = 60, int every = 3)
    {
        using var g = new Generator(seed);
        using var init = torch.zeros(1, Layout.Length);
        var v = Train(init, warmup, 0.1, g);
        var rows = new List<Tensor>();
        for (var i = 0; i < k; i++)
        {
            var next = Train(v, every, 0.05, g);
            v.Dispose();
            v = next;
            rows.Add(v.clone());
        }
        v.Dispose();
        var result = torch.cat(rows);
        foreach (var r in rows) r.Dispose();
        return result;
    }

    public void Dispose()
    {
        foreach (var t in new[] { trainX, trainY, valX, valY, testX, testY }) t.Dispose();
    }
}
