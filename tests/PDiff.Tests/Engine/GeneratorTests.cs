using System.Security.Cryptography;
using System.Text.Json;
using PDiff.Torch;
using Xunit;
using static PDiff.Tests.Engine.Fixtures;

namespace PDiff.Tests.Engine;

/// <summary>
/// Seeded randomness. Our <see cref="Generator"/> is libtorch's CPU generator (mt19937 plus PyTorch's
/// normal/uniform transforms) made with the seed, exactly what Python's torch.Generator().manual_seed(s)
/// builds, and our draws call the same ATen functions on CPU tensors of the same dtype. So a seed gives
/// PyTorch's numbers bit for bit, for a whole sequence of draws: random.json holds what Python 1.13 drew,
/// and these tests demand equality, not closeness.
/// </summary>
public class GeneratorTests
{
    public static TheoryData<int> Sequences => new(Enumerable.Range(0, Load("random.json").GetProperty("sequences").GetArrayLength()));

    static long[] Longs(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt64()).ToArray();

    /// <summary>One fixture draw, made with our API from the same generator.</summary>
    static Tensor Draw(JsonElement d, Generator g)
    {
        var a = d.GetProperty("args");
        var dtype = a.TryGetProperty("dtype", out var dt) && dt.GetString() == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        long[] Shp() => Longs(a.GetProperty("shape"));
        double Num(string n) => a.GetProperty(n).GetDouble();
        return d.GetProperty("op").GetString() switch
        {
            "randn" => torch.randn(Shp(), g, dtype),
            "rand" => torch.rand(Shp(), g, dtype),
            "randint" => torch.randint(a.GetProperty("low").GetInt64(), a.GetProperty("high").GetInt64(), Shp(), g),
            "randperm" => torch.randperm(a.GetProperty("n").GetInt64(), g),
            "uniform_" => torch.empty(Shp()).uniform_(Num("low"), Num("high"), g),
            "normal_" => torch.empty(Shp()).normal_(Num("mean"), Num("std"), g),
            "bernoulli" => torch.bernoulli(torch.empty(Shp()), Num("p"), g),
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
        using (var state = g.GetState())
        {
            var sha = Convert.ToHexString(SHA256.HashData(state.data<byte>())).ToLowerInvariant();
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
                    Assert.True(Doubles(expected).Select(v => (float)v).SequenceEqual(got.data<float>()), what);
                    break;
                case "float64":
                    Assert.True(Doubles(expected).SequenceEqual(got.data<double>()), what);
                    break;
                case "int64":
                    Assert.Equal(Longs(expected.GetProperty("data")), got.data<long>());
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
        using var a = torch.randn(new long[] { 64 }, g1);
        using var b = torch.randn(new long[] { 64 }, g2);
        Assert.Equal(a.data<float>(), b.data<float>());

        // Saving the state and restoring it replays the same draws (checkpoint and resume).
        using var state = g1.GetState();
        using var c = torch.rand(new long[] { 10 }, g1);
        g1.SetState(state);
        using var d = torch.rand(new long[] { 10 }, g1);
        Assert.Equal(c.data<float>(), d.data<float>());

        // ManualSeed restarts the sequence.
        g1.ManualSeed(7);
        using var e = torch.randn(new long[] { 64 }, g1);
        Assert.Equal(a.data<float>(), e.data<float>());
        Assert.Equal(7UL, g1.Seed);
    }

    [Fact]
    public void DifferentSeedsDiffer()
    {
        using var g1 = new Generator(1);
        using var g2 = new Generator(2);
        using var a = torch.rand(new long[] { 16 }, g1);
        using var b = torch.rand(new long[] { 16 }, g2);
        Assert.NotEqual(a.data<float>(), b.data<float>());
    }

    [Fact]
    public void NextSeedIsTheFullInt64DrawNotARoundedDouble()
    {
        // NextSeed draws randint(0, 2^63−1); the last draw of each fixture sequence is exactly that draw.
        var seq = Load("random.json").GetProperty("sequences")[0];
        var draws = seq.GetProperty("draws").EnumerateArray().ToArray();
        var expected = draws[^1].GetProperty("out").GetProperty("data")[0].GetInt64();
        using var g = new Generator(seq.GetProperty("seed").GetUInt64());
        using (var scope = torch.NewDisposeScope())
        {
            // Replay every draw but the last.
            foreach (var d in draws[..^1]) Draw(d, g);
        }
        Assert.Equal((ulong)expected, g.NextSeed());
    }

    [Fact]
    public void DropoutIsReproducibleFromItsGenerator()
    {
        using var x = torch.ones(new long[] { 100 });
        using var g1 = new Generator(3);
        using var g2 = new Generator(3);
        using var a = torch.nn.functional.dropout(x, 0.5, true, g1);
        using var b = torch.nn.functional.dropout(x, 0.5, true, g2);
        Assert.Equal(a.data<float>(), b.data<float>());
        // Kept elements are scaled by 1/(1−p); dropped ones are zero.
        Assert.All(a.data<float>(), v => Assert.True(v == 0f || v == 2f));
        using var eval = torch.nn.functional.dropout(x, 0.5, false, g1);
        Assert.Equal(x.data<float>(), eval.data<float>());
    }
}
