using PDiff.Torch;
using Xunit;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Tests.Engine;

/// <summary>
/// Bad input must give a .NET exception that names the op, the shapes and dtypes it got, and libtorch's
/// reason, and leave the process healthy: never a crash, never silently wrong numbers.
/// </summary>
public class ErrorPathTests
{
    static TorchException Fails(Func<Tensor> op)
    {
        using var scope = torch.NewDisposeScope();
        var ex = Assert.Throws<TorchException>(() => { op(); });
        // The failure left no stray state behind: the next call works.
        using var ok = torch.ones(2).add(1);
        Assert.Equal(new float[] { 2, 2 }, ok.data<float>());
        return ex;
    }

    // ---- shape mismatches ----
    [Fact]
    public void BroadcastMismatchNamesOpBothShapesAndReason()
    {
        using var a = torch.zeros(3, 4);
        using var b = torch.zeros(5);
        var ex = Fails(() => a + b);
        Assert.Equal("add", ex.Op);
        Assert.StartsWith("add(float32[3, 4], float32[5]) failed: ", ex.Message);
        Assert.Contains("size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 1", ex.NativeMessage);
        Assert.DoesNotContain("Exception raised from", ex.Message); // libtorch's C++ backtrace is stripped
    }

    [Fact]
    public void LayerShapeMismatches()
    {
        using var x = torch.zeros(2, 3, 8, 8);
        using var w = torch.zeros(4, 5, 3, 3);
        var conv = Fails(() => F.conv2d(x, w));
        Assert.Equal("conv2d", conv.Op);
        Assert.Contains("float32[2, 3, 8, 8], float32[4, 5, 3, 3]", conv.Message);
        Assert.Contains("expected input[2, 3, 8, 8] to have 5 channels, but got 3 channels", conv.NativeMessage);

        using var h = torch.zeros(3, 4);
        using var lw = torch.zeros(2, 5);
        var lin = Fails(() => F.linear(h, lw));
        Assert.Contains("linear(float32[3, 4], float32[2, 5], None)", lin.Message);
        Assert.Contains("cannot be multiplied (3x4 and 5x2)", lin.NativeMessage);

        using var rm = torch.zeros(5); // h has 4 channels
        using var rv = torch.ones(5);
        var bn = Fails(() => F.batch_norm(h, rm, rv, training: true));
        Assert.Equal("batch_norm", bn.Op);
        Assert.Contains("running_mean should contain 4 elements not 5", bn.NativeMessage);

        using var p = torch.zeros(2, 3);
        using var q = torch.zeros(2, 4);
        var cat = Fails(() => torch.cat(new[] { p, q }, 0));
        Assert.Contains("cat(float32[2, 3], float32[2, 4])", cat.Message);
        Assert.Contains("Sizes of tensors must match except in dimension 0", cat.NativeMessage);

        var reshape = Fails(() => p.reshape(4, 2));
        Assert.Contains("shape '[4, 2]' is invalid for input of size 6", reshape.NativeMessage);
        using var pt = p.t();
        var view = Fails(() => pt.view(6));
        Assert.Contains("view size is not compatible", view.NativeMessage);
    }

    // ---- dtypes ----
    [Fact]
    public void CrossEntropyWithFloatClassTargets()
    {
        using var logits = torch.zeros(3, 4);
        using var target = torch.tensor(new float[] { 0, 1, 2 });
        var ex = Fails(() => F.cross_entropy(logits, target));
        Assert.StartsWith("cross_entropy(float32[3, 4], float32[3]) failed", ex.Message);
        Assert.Contains("expected scalar type Long but found Float", ex.NativeMessage);
    }

    [Fact]
    public void ReadingElementsAsTheWrongType()
    {
        using var ids = torch.tensor(new long[] { 1, 2, 3 });
        var ex = Assert.Throws<InvalidOperationException>(() => ids.data<float>());
        Assert.Contains("holds int64, not float32", ex.Message);
        Assert.Contains(".to(ScalarType.Float32)", ex.Message);
        var span = Assert.Throws<ArgumentException>(() => ids.CopyTo<long>(new long[2]));
        Assert.Contains("Destination has 2 elements; the tensor [3] has 3", span.Message);
    }

    [Fact]
    public void MixedFloatAndDoubleMatmul()
    {
        using var a = torch.zeros(2, 2);
        using var b = torch.zeros(new long[] { 2, 2 }, ScalarType.Float64);
        var ex = Fails(() => a.matmul(b));
        Assert.Contains("matmul(float32[2, 2], float64[2, 2])", ex.Message);
        Assert.Contains("expected", ex.NativeMessage);
    }

    // ---- indices out of range ----
    [Fact]
    public void IndexOutOfRange()
    {
        using var a = torch.zeros(3, 4);
        using var idx = torch.tensor(new long[] { 0, 5 });
        var sel = Fails(() => a.index_select(0, idx));
        Assert.StartsWith("index_select(float32[3, 4], int64[2]) failed", sel.Message);
        Assert.Contains("index out of range", sel.NativeMessage);

        var one = Fails(() => a.select(1, 9));
        Assert.Contains("index 9 out of range for tensor of size [3, 4] at dimension 1", one.NativeMessage);
        Fails(() => a.select(2, 0)); // no dimension 2

        using var gi = torch.tensor(new long[] { 0, 7, 1, 1, 0, 0 }, 3, 2);
        var gather = Fails(() => a.gather(1, gi));
        Assert.Contains("index 7 is out of bounds for dimension 1 with size 4", gather.NativeMessage);

        using var table = torch.zeros(5, 2);
        using var ids = torch.tensor(new long[] { 1, 5 });
        var emb = Fails(() => F.embedding(ids, table));
        Assert.Equal("embedding", emb.Op);
        Assert.Contains("index out of range", emb.NativeMessage);

        using var target = torch.tensor(new long[] { 0, 1, 9 });
        var ce = Fails(() => F.cross_entropy(a, target));
        Assert.Contains("Target 9 is out of bounds", ce.NativeMessage);

        var size = Assert.Throws<ArgumentOutOfRangeException>(() => a.size(2));
        Assert.Contains("[3, 4]", size.Message);
    }

    // ---- autograd misuse ----
    [Fact]
    public void BackwardMisuse()
    {
        using var x = torch.ones(3);
        using var y = x.mul(2);
        var noGrad = Assert.Throws<TorchException>(() => y.backward());
        Assert.Contains("does not require grad", noGrad.NativeMessage);

        using var w = torch.ones(3).requires_grad_();
        using var v = w.mul(2);
        var nonScalar = Assert.Throws<TorchException>(() => v.backward());
        Assert.Contains("grad can be implicitly created only for scalar outputs", nonScalar.NativeMessage);

        var item = Assert.Throws<TorchException>(() => v.item<float>());
        Assert.Contains("3 elements cannot be converted to Scalar", item.NativeMessage);
    }

    // ---- lifetime ----
    [Fact]
    public void UseAfterDisposeThrowsObjectDisposed()
    {
        var t = torch.ones(2, 2);
        using var other = torch.ones(2, 2);
        t.Dispose();
        t.Dispose(); // twice is harmless
        Assert.True(t.IsDisposed);
        var ex = Assert.Throws<ObjectDisposedException>(() => t.shape);
        Assert.Contains("MoveToOuterDisposeScope", ex.Message);
        Assert.Throws<ObjectDisposedException>(() => t.add(other));
        Assert.Throws<ObjectDisposedException>(() => other.add(t)); // as the second operand too
        Assert.Throws<ObjectDisposedException>(() => t.data<float>());
        Assert.Throws<ObjectDisposedException>(() => torch.cat(new[] { other, t }));
        Assert.Equal("Tensor(<disposed>)", t.ToString());

        Tensor inner;
        using (torch.NewDisposeScope()) inner = torch.zeros(3);
        Assert.Throws<ObjectDisposedException>(() => inner.sum());

        var g = new Generator(1);
        g.Dispose();
        Assert.Throws<ObjectDisposedException>(() => torch.rand(new long[] { 2 }, g));
    }

    [Fact]
    public void FromSpanWithWrongElementCount()
    {
        var ex = Assert.Throws<ArgumentException>(() => torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, 4, 2));
        Assert.Contains("6 values cannot fill shape [4, 2] (8 elements)", ex.Message);
        Assert.Equal("shape", ex.ParamName);
        Assert.Throws<ArgumentException>(() => torch.from_span<double>(new double[3], new long[] { 2 }));
    }

    [Fact]
    public void ErrorsAreKeptPerThread()
    {
        // libtorch's message is stored per thread: failures racing on two threads keep their own reasons
        // (few rounds: each libtorch error captures a C++ backtrace, ~10 ms).
        var messages = new string[2];
        var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
        {
            using var a = torch.zeros(2, 3);
            using var b = torch.zeros(i == 0 ? 7 : 9);
            for (var k = 0; k < 40; k++)
            {
                try { using var _ = a.add(b); }
                catch (TorchException e) { messages[i] = e.NativeMessage; if (!e.NativeMessage.Contains($"({(i == 0 ? 7 : 9)})")) return; }
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.Contains("size of tensor b (7)", messages[0]);
        Assert.Contains("size of tensor b (9)", messages[1]);
    }
}
