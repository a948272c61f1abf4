using System.Globalization;
using System.Text.Json;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// Reads the JSON written by fixtures/engine/make_fixtures.py (PyTorch 1.13 from Debian): tensors are
/// {"shape", "dtype", "data"} with float32 values stored as the exact doubles they equal.
/// </summary>
public static class Fixtures
{
    public static string PathOf(string file) => Path.Combine(AppContext.BaseDirectory, "fixtures", "engine", file);

    public static JsonElement Load(string file)
    {
        var path = PathOf(file);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Engine fixture {path} is missing: it is copied from tests/PDiff.Tests/fixtures/engine/ " +
                "(regenerate with /usr/bin/python3 tests/PDiff.Tests/fixtures/engine/make_fixtures.py).", path);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.Clone();
    }

    /// <summary>The cases of a file, by name (for [Theory] data and lookup).</summary>
    public static Dictionary<string, JsonElement> Cases(string file) =>
        Load(file).GetProperty("cases").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);

    public static long[] Shape(JsonElement t) => t.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();

    public static double[] Doubles(JsonElement t) => t.GetProperty("data").EnumerateArray().Select(e => e.GetDouble()).ToArray();

    /// <summary>The stored tensor with its own dtype (float32, float64 or int64).</summary>
    public static Tensor ToTensor(JsonElement t)
    {
        var shape = Shape(t);
        var dtype = t.GetProperty("dtype").GetString();
        return dtype switch
        {
            "float32" => torch.tensor(Doubles(t).Select(d => (float)d).ToArray(), shape),
            "float64" => torch.tensor(Doubles(t), shape),
            "int64" => torch.tensor(t.GetProperty("data").EnumerateArray().Select(e => e.GetInt64()).ToArray(), shape),
            _ => throw new NotSupportedException($"fixture dtype {dtype}"),
        };
    }

    public static Tensor Input(JsonElement c, string name) => ToTensor(c.GetProperty("inputs").GetProperty(name));
    public static JsonElement Output(JsonElement c, string name) => c.GetProperty("outputs").GetProperty(name);
    public static JsonElement Arg(JsonElement c, string name) => c.GetProperty("args").GetProperty(name);
    public static bool HasInput(JsonElement c, string name) => c.GetProperty("inputs").TryGetProperty(name, out _);

    /// <summary>Asserts shape and values, element by element, |a − e| ≤ atol + rtol·|e|, naming the first misses.</summary>
    public static void AssertClose(JsonElement expected, Tensor actual, double atol = 1e-5, double rtol = 1e-5, string what = "")
    {
        Assert.Equal(Shape(expected), actual.shape);
        using var a64 = actual.to(ScalarType.Float64);
        AssertClose(Doubles(expected), a64.data<double>().ToArray(), atol, rtol, what);
    }

    public static void AssertClose(double[] expected, double[] actual, double atol, double rtol, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        var misses = new List<string>();
        for (var i = 0; i < expected.Length; i++)
            if (!(Math.Abs(actual[i] - expected[i]) <= atol + rtol * Math.Abs(expected[i])))
                misses.Add(string.Create(CultureInfo.InvariantCulture, $"[{i}] expected {expected[i]:G9}, got {actual[i]:G9}"));
        Assert.True(misses.Count == 0, $"{what}: {misses.Count} of {expected.Length} values differ: {string.Join("; ", misses.Take(6))}");
    }
}
