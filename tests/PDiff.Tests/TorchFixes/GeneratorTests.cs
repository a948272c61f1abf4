using System.Security.Cryptography;
using System.Text.Json;
using TorchSharp;
using Xunit;
using static PDiff.Tests.TorchFixes.Fixtures;
using static TorchSharp.torch;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// Seeded randomness. TorchSharp's <see cref="Generator"/> made with a seed is libtorch's CPU generator
/// (mt19937 plus PyTorch's normal/uniform transforms), exactly what Python's
/// torch.Generator().manual_seed(s) builds, and the draws call the same ATen functions on CPU tensors of the
/// same dtype. So a seed gives PyTorch's numbers bit for bit, for a whole sequence of draws: random.json
/// holds what PyTorch 1.13 drew, and libtorch 2.10 must reproduce it exactly (equality, not closeness).
/// </summary>
public class GeneratorTests
{
    public static TheoryData<int> Sequences => new(Enumerable.Range(0, Load("random.json").GetProperty("sequences").GetArrayLength()));

    static long[] Longs(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt64()).ToArray();

    /// <summary>One fixture draw, made with TorchSharp from the same generator.</summary>
    static Tensor Draw(JsonElement d, Generator g)
    {
        var a = d.GetProperty("args");
        var dtype = a.TryGetProperty("dtype", out var dt) && dt.GetString() == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        long[] Shp() => Longs(a.GetProperty("shape"));
        double Num(string n) => a.GetProperty(n).GetDouble();
        return d.GetProperty("op").GetString() switch
        {
            "randn" => torch.randn(Shp(), dtype, generator: g),
            "rand" => torch.rand(Shp(), dtype, generator: g),
            "randint" => torch.randint(a.GetProperty("low").GetInt64(), a.GetProperty("high").GetInt64(), Shp(), generator: g),
            "randperm" => torch.randperm(a.GetProperty("n").GetInt64(), generator: g),
            "uniform_" => torch.empty(Shp()).uniform_(Num("low"), Num("high"), g),
            "normal_" => torch.empty(Shp()).normal_(Num("mean"), Num("std"), g),
            "bernoulli" => torch.empty(Shp()).bernoulli_(Num("p"), g),
            var op => throw new NotSupportedException(op),
        };
    }

    [Theory]
    [MemberData(nameof(Sequences))]
    public void SeededDrawsEqualPyTorchBitForBit(int index)
    {
        var seq = Load("random.json").GetProperty("sequences")[index];
        var seed = seq.GetProperty("seed").GetUInt64();
        using var g = new Generator(seed);
        using (var state = g.get_state())
        {
            var sha = Convert.ToHexString(SHA256.HashData(state.data<byte>().ToArray())).ToLowerInvariant();
            Assert.Equal(seq.GetProperty("state_sha256").GetString(), sha);
        }

        var step = 0;
        foreach (var d in seq.GetProperty("draws").EnumerateArray())
        {
            using var scope = torch.NewDisposeScope();
            var op = d.GetProperty("op").GetString()!;
            var what = $"seed {seed}, draw {step++} ({op})";
            var expected = d.GetProperty("out");
            var got = Draw(d, g);
            Assert.Equal(Shape(expected), got.shape);
            switch (expected.GetProperty("dtype").GetString())
            {
                case "float32":
                    Assert.True(Doubles(expected).Select(v => (float)v).SequenceEqual(got.data<float>().ToArray()), what);
                    break;
                case "float64":
                    Assert.True(Doubles(expected).SequenceEqual(got.data<double>().ToArray()), what);
                    break;
                case "int64":
                    // The last draw is randint(0, 2^63−1), how seeds for later stages are derived: the full
                    // int64, not one rounded through a double.
                    Assert.Equal(Longs(expected.GetProperty("data")), got.data<long>().ToArray());
                    break;
                default:
                    throw new NotSupportedException(expected.GetProperty("dtype").GetString());
            }
        }
    }

    [Fact]
    public void SameSeedSameBitsAndStateRoundTrips()
    {
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        using var a = torch.randn(new long[] { 64 }, generator: g1);
        using var b = torch.randn(new long[] { 64 }, generator: g2);
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());

        // Saving the state and restoring it replays the same draws (checkpoint and resume).
        using var state = g1.get_state();
        using var c = torch.rand(new long[] { 10 }, generator: g1);
        g1.set_state(state);
        using var d = torch.rand(new long[] { 10 }, generator: g1);
        Assert.Equal(c.data<float>().ToArray(), d.data<float>().ToArray());

        // manual_seed restarts the sequence.
        g1.manual_seed(7);
        using var e = torch.randn(new long[] { 64 }, generator: g1);
        Assert.Equal(a.data<float>().ToArray(), e.data<float>().ToArray());
        Assert.Equal(7L, g1.initial_seed());
    }

    [Fact]
    public void DifferentSeedsDiffer()
    {
        using var g1 = new Generator(1);
        using var g2 = new Generator(2);
        using var a = torch.rand(new long[] { 16 }, generator: g1);
        using var b = torch.rand(new long[] { 16 }, generator: g2);
        Assert.NotEqual(a.data<float>().ToArray(), b.data<float>().ToArray());
    }

    [Fact]
    public void GlobalDrawsDoNotMoveAnExplicitGenerator()
    {
        // Every seeded stage draws from its own generator; TorchSharp's layer constructors and dropout draw
        // from the global one meanwhile, which must not shift the seeded sequence.
        using var g1 = new Generator(5);
        using var g2 = new Generator(5);
        using var a1 = torch.randn(new long[] { 8 }, generator: g1);
        using var global = torch.randn(new long[] { 1000 });
        using var layer = torch.nn.Linear(10, 10);
        using var b1 = torch.randn(new long[] { 8 }, generator: g1);
        using var a2 = torch.randn(new long[] { 8 }, generator: g2);
        using var b2 = torch.randn(new long[] { 8 }, generator: g2);
        Assert.Equal(b2.data<float>().ToArray(), b1.data<float>().ToArray());
    }
}

/// <summary>
/// Dropout in TorchSharp takes no generator: its mask comes from the global generator, so it is
/// reproducible through torch.manual_seed only. These tests set the global seed, so they run alone.
/// </summary>
[Collection(NativeStateCollection.Name)]
public class GlobalGeneratorTests
{
    [Fact]
    public void DropoutIsReproducibleFromTheGlobalSeedAndScales()
    {
        using var x = torch.ones(1000);
        torch.manual_seed(3);
        using var a = torch.nn.functional.dropout(x, 0.5, training: true);
        torch.manual_seed(3);
        using var dropout = torch.nn.Dropout(0.5);
        using var b = dropout.forward(x);
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());
        // Kept elements are scaled by 1/(1−p); dropped ones are zero; both occur.
        var values = a.data<float>().ToArray();
        Assert.All(values, v => Assert.True(v == 0f || v == 2f));
        Assert.InRange(values.Count(v => v == 0f), 400, 600);
        dropout.eval();
        using var e = dropout.forward(x);
        Assert.All(e.data<float>().ToArray(), v => Assert.Equal(1f, v));
    }
}
