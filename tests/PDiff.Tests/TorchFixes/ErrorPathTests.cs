using System.Runtime.InteropServices;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// Bad input must give a .NET exception carrying libtorch's reason, which names the shapes (or indices,
/// or dtypes) involved, and leave the process healthy: never a crash, never silently wrong numbers.
/// TorchSharp raises libtorch's errors as <see cref="ExternalException"/> with libtorch's message.
/// </summary>
/// <remarks>
/// Known exceptions to "never a crash" in TorchSharp 0.107, which no in-process test can show (they end the
/// test host): matmul/mm/bmm of float32 with float64, and torch.set_num_threads below 1. Callers validate.
/// </remarks>
public class ErrorPathTests
{
    static ExternalException Fails(Func<Tensor> op)
    {
        using var scope = torch.NewDisposeScope();
        var ex = Assert.Throws<ExternalException>(() => { op(); });
        // The failure left no stray state behind: the next call works.
        using var ok = torch.ones(2).add(1);
        Assert.Equal(new float[] { 2, 2 }, ok.data<float>().ToArray());
        return ex;
    }

    // ---- shape mismatches ----
    [Fact]
    public void BroadcastMismatchNamesBothSizesAndTheDimension()
    {
        using var a = torch.zeros(3, 4);
        using var b = torch.zeros(5);
        var ex = Fails(() => a + b);
        Assert.Contains("size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 1", ex.Message);
    }

    [Fact]
    public void LayerShapeMismatches()
    {
        using var x = torch.zeros(2, 3, 8, 8);
        using var w = torch.zeros(4, 5, 3, 3);
        var conv = Fails(() => F.conv2d(x, w));
        Assert.Contains("expected input[2, 3, 8, 8] to have 5 channels, but got 3 channels", conv.Message);

        using var h = torch.zeros(3, 4);
        using var lw = torch.zeros(2, 5);
        var lin = Fails(() => F.linear(h, lw));
        Assert.Contains("cannot be multiplied (3x4 and 5x2)", lin.Message);

        using var rm = torch.zeros(5); // h has 4 channels
        using var rv = torch.ones(5);
        var bn = Fails(() => F.batch_norm(h, rm, rv, training: true));
        Assert.Contains("running_mean should contain 4 elements not 5", bn.Message);

        using var p = torch.zeros(2, 3);
        using var q = torch.zeros(2, 4);
        var cat = Fails(() => torch.cat(new[] { p, q }, 0));
        Assert.Contains("Sizes of tensors must match except in dimension 0", cat.Message);

        var reshape = Fails(() => p.reshape(4, 2));
        Assert.Contains("shape '[4, 2]' is invalid for input of size 6", reshape.Message);
        using var pt = p.t();
        var view = Fails(() => pt.view(6));
        Assert.Contains("view size is not compatible", view.Message);
    }

    // ---- dtypes ----
    [Fact]
    public void CrossEntropyWithFloatClassTargetsOfTheWrongShape()
    {
        // Float targets mean class probabilities, which must have the logits' shape.
        using var logits = torch.zeros(3, 4);
        using var target = torch.tensor(new float[] { 0, 1, 2 });
        var ex = Fails(() => F.cross_entropy(logits, target));
        Assert.Contains("Float", ex.Message);
    }

    [Fact]
    public void ReadingElementsAsTheWrongType()
    {
        using var ids = torch.tensor(new long[] { 1, 2, 3 });
        Assert.ThrowsAny<ArgumentException>(() => ids.data<float>());
    }

    [Fact]
    public void MixedFloatAndDoubleLinear()
    {
        // Not matmul: in TorchSharp 0.107 a float32·float64 matmul/mm/bmm aborts the process (libtorch's
        // error escapes the binding), so code that may meet mixed dtypes must check them before matmul.
        using var a = torch.zeros(2, 2);
        using var b = torch.zeros(new long[] { 2, 2 }, ScalarType.Float64);
        var ex = Fails(() => F.linear(a, b));
        Assert.Contains("expected m1 and m2 to have the same dtype, but got: float != double", ex.Message);
    }

    // ---- indices out of range ----
    [Fact]
    public void IndexOutOfRange()
    {
        using var a = torch.zeros(3, 4);
        using var idx = torch.tensor(new long[] { 0, 5 });
        var sel = Fails(() => a.index_select(0, idx));
        Assert.Contains("out of range", sel.Message);

        var one = Fails(() => a.select(1, 9));
        Assert.Contains("index 9 out of range for tensor of size [3, 4] at dimension 1", one.Message);
        Fails(() => a.select(2, 0)); // no dimension 2

        using var gi = torch.tensor(new long[] { 0, 7, 1, 1, 0, 0 }, new long[] { 3, 2 });
        var gather = Fails(() => a.gather(1, gi));
        Assert.Contains("index 7 is out of bounds for dimension 1 with size 4", gather.Message);

        using var emb5 = torch.nn.Embedding(5, 2); // the library's lookup tables (Layers.Embedding)
        using var ids = torch.tensor(new long[] { 1, 5 });
        var emb = Fails(() => emb5.forward(ids));
        Assert.Contains("out of range", emb.Message);

        using var target = torch.tensor(new long[] { 0, 1, 9 });
        var ce = Fails(() => F.cross_entropy(a, target));
        Assert.Contains("Target 9 is out of bounds", ce.Message);
    }

    // ---- autograd misuse ----
    [Fact]
    public void BackwardMisuse()
    {
        using var x = torch.ones(3);
        using var y = x.mul(2);
        var noGrad = Assert.Throws<ExternalException>(() => y.sum().backward());
        Assert.Contains("does not require grad", noGrad.Message);

        using var w = torch.ones(3).requires_grad_();
        using var v = w.mul(2);
        var nonScalar = Assert.Throws<ExternalException>(() => v.backward());
        Assert.Contains("grad can be implicitly created only for scalar outputs", nonScalar.Message);

        var item = Assert.Throws<ArgumentException>(() => v.item<float>());
        Assert.Contains("Number of elements in the tensor must be 1", item.Message);
    }

    // ---- lifetime ----
    [Fact]
    public void UseAfterDisposeIsAnExceptionNotACrash()
    {
        var t = torch.ones(2, 2);
        using var other = torch.ones(2, 2);
        t.Dispose();
        t.Dispose(); // twice is harmless
        Assert.ThrowsAny<Exception>(() => t.add(other));
        Assert.ThrowsAny<Exception>(() => other.add(t)); // as the second operand too
        Assert.ThrowsAny<Exception>(() => t.data<float>().ToArray());

        // A tensor its dispose scope freed is just as dead.
        Tensor inner;
        using (torch.NewDisposeScope()) inner = torch.zeros(3);
        Assert.ThrowsAny<Exception>(() => inner.sum());
    }

    [Fact]
    public void TensorFromTooFewValues()
    {
        Assert.ThrowsAny<ArgumentException>(() => torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 4, 2 }));
    }

    [Fact]
    public void ErrorsAreKeptPerThread()
    {
        // libtorch's message is stored per thread: failures racing on two threads keep their own reasons
        // (few rounds: each libtorch error captures a C++ backtrace).
        var messages = new string[2];
        var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
        {
            using var a = torch.zeros(2, 3);
            using var b = torch.zeros(i == 0 ? 7 : 9);
            for (var k = 0; k < 40; k++)
            {
                try { using var _ = a.add(b); }
                catch (ExternalException e) { messages[i] = e.Message; if (!e.Message.Contains($"({(i == 0 ? 7 : 9)})")) return; }
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.Contains("size of tensor b (7)", messages[0]);
        Assert.Contains("size of tensor b (9)", messages[1]);
    }
}
