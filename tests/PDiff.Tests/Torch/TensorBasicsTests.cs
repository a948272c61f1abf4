using PDiff.Torch;
using Xunit;

namespace PDiff.Tests.Torch;

public class TensorBasicsTests
{
    [Fact]
    public void RoundTripsArraysOfEveryDtype()
    {
        using var f = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        Assert.Equal(new long[] { 2, 3 }, f.shape);
        Assert.Equal(ScalarType.Float32, f.dtype);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, f.data<float>());

        using var d = torch.tensor(new double[] { 0.5, -1.25 });
        Assert.Equal(new[] { 0.5, -1.25 }, d.data<double>());
        using var l = torch.tensor(new long[] { long.MaxValue, -3 });
        Assert.Equal(new[] { long.MaxValue, -3L }, l.data<long>());
        using var b = torch.tensor(new[] { true, false, true });
        Assert.Equal(new[] { true, false, true }, b.data<bool>());
        using var u = torch.tensor(new byte[] { 0, 255, 7 });
        Assert.Equal(new byte[] { 0, 255, 7 }, u.data<byte>());
    }

    [Fact]
    public void BroadcastingArithmeticMatchesHandComputedValues()
    {
        using var a = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        using var row = torch.tensor(new float[] { 10, 20, 30 }, 3);
        using var s = a + row;
        Assert.Equal(new float[] { 11, 22, 33, 14, 25, 36 }, s.data<float>());
        using var m = a * 2.0 - 1.0;
        Assert.Equal(new float[] { 1, 3, 5, 7, 9, 11 }, m.data<float>());
        using var total = a.sum();
        Assert.Equal(21f, total.item<float>());
    }

    [Fact]
    public void ShapeMismatchThrowsWithOpAndShapes()
    {
        using var a = torch.zeros(2, 3);
        using var b = torch.zeros(4, 5);
        var ex = Assert.Throws<TorchException>(() => a.matmul(b));
        Assert.Equal("matmul", ex.Op);
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("[4, 5]", ex.Message);
        Assert.Contains("cannot be multiplied", ex.Message);
    }

    [Fact]
    public void ToStringShowsShapeDtypeAndValues()
    {
        using var a = torch.tensor(new float[] { 1.5f, 2, 3 });
        Assert.Equal("Tensor[3] float32 [1.5, 2, 3]", a.ToString());
    }
}

public class EngineDefaultsTests
{
    [Fact]
    public void UsesAllCoresByDefault()
    {
        var env = Environment.GetEnvironmentVariable("PDIFF_NUM_THREADS") ?? Environment.GetEnvironmentVariable("OMP_NUM_THREADS");
        var expected = int.TryParse(env, out var v) && v > 0 ? v : Environment.ProcessorCount;
        Assert.Equal(expected, torch.get_num_threads());
    }

    [Fact]
    public void IntegerAddWithAlphaStaysInteger()
    {
        using var a = torch.tensor(new long[] { 1, 2 });
        using var b = torch.tensor(new long[] { 10, 20 });
        using var c = a.add(b, 2);
        Assert.Equal(ScalarType.Int64, c.dtype);
        Assert.Equal(new long[] { 21, 42 }, c.data<long>());
    }
}
