using System.Globalization;
using PDiff.Checkpoints;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// The checkpoints' wrong-prediction sets on both splits, as the zoo build scored them (<c>scores.safetensors</c>):
/// BOOL tensors <c>validation_wrong</c> [K, n_val] and <c>test_wrong</c> [K, n_test], row k = checkpoint k in manifest
/// order, true where it misclassifies the example. An evaluation compares every generated model with the originals,
/// and rescoring the K originals on every validation and test image is a sizeable share of a full pipeline; with this
/// file the scorer is primed instead (<see cref="SubsetScorerBase.Remember"/>). Any safetensors reader opens it.
/// </summary>
public static class ZooScores
{
    public const string FileName = "scores.safetensors";
    const string ValidationKey = "validation_wrong", TestKey = "test_wrong";

    /// <summary>Writes the two splits' wrong sets (one score a checkpoint each, the same count on both) to <paramref name="path"/>.</summary>
    public static void Save(string path, IReadOnlyList<ModelScore> validation, IReadOnlyList<ModelScore> test)
    {
        if (validation.Count != test.Count)
            throw new ArgumentException($"ZooScores.Save: {validation.Count} validation scores but {test.Count} test scores; want one of each a checkpoint.");
        using var scope = NewDisposeScope();
        Safetensors.Save(path, new Dictionary<string, Tensor> { [ValidationKey] = Matrix(validation), [TestKey] = Matrix(test) },
            new Dictionary<string, string> { ["pdiff.k"] = validation.Count.ToString(CultureInfo.InvariantCulture) });
    }

    static Tensor Matrix(IReadOnlyList<ModelScore> scores)
    {
        var n = scores.Count == 0 ? 0 : scores[0].Wrong.Length;
        var flat = new bool[scores.Count * n];
        for (var k = 0; k < scores.Count; k++)
        {
            var w = scores[k].Wrong;
            if (w.Length != n) throw new ArgumentException($"ZooScores.Save: checkpoint {k}'s wrong set covers {w.Length} examples, checkpoint 0's {n}.");
            for (var i = 0; i < n; i++) flat[k * n + i] = w[i];
        }
        return tensor(flat).reshape(scores.Count, n);
    }

    /// <summary>
    /// Reads the scores of <paramref name="k"/> checkpoints on splits of <paramref name="validationCount"/> and
    /// <paramref name="testCount"/> examples; a file of other shapes is refused, naming it and the shapes.
    /// </summary>
    public static (IReadOnlyList<ModelScore> Validation, IReadOnlyList<ModelScore> Test) Load(string path, int k, long validationCount, long testCount)
    {
        using var content = Safetensors.Load(path);
        return (Rows(content, path, ValidationKey, k, validationCount), Rows(content, path, TestKey, k, testCount));
    }

    static IReadOnlyList<ModelScore> Rows(SafetensorsContent content, string path, string key, int k, long n)
    {
        if (!content.Tensors.TryGetValue(key, out var t))
            throw new InvalidDataException($"{path} lacks the tensor '{key}'; rebuild the zoo (pdiff zoo build) to rewrite its scores.");
        if (t.dtype != ScalarType.Bool || t.dim() != 2 || t.size(0) != k || t.size(1) != n)
            throw new InvalidDataException($"{path}: '{key}' is {t.dtype} [{string.Join(", ", t.shape)}]; the zoo wants Bool [{k}, {n}] " +
                "(one row a checkpoint, one column an example of the split). Rebuild the zoo to rewrite its scores.");
        var flat = t.contiguous().data<bool>().ToArray();
        var rows = new List<ModelScore>(k);
        for (var i = 0; i < k; i++) rows.Add(ModelScore.FromWrong(WrongSet.FromBools(flat.AsSpan(i * (int)n, (int)n))));
        return rows;
    }
}
