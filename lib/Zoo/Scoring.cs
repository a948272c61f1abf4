using System.Numerics;
using static TorchSharp.torch;

namespace PDiff.Zoo;

public enum EvalSplit { Validation, Test }

/// <summary>
/// The set of examples a model gets wrong, as a bitset over the split (bit i = example i is wrong), so
/// IoU similarities over thousands of model pairs cost a popcount each.
/// </summary>
public sealed class WrongSet
{
    public ulong[] Words { get; }
    public int Length { get; }
    public int Count { get; }

    public WrongSet(ulong[] words, int length)
    {
        if (words.Length != (length + 63) / 64) throw new ArgumentException($"{words.Length} words cannot hold exactly {length} bits.");
        (Words, Length) = (words, length);
        Count = words.Sum(w => BitOperations.PopCount(w));
    }

    public static WrongSet FromBools(ReadOnlySpan<bool> wrong)
    {
        var words = new ulong[(wrong.Length + 63) / 64];
        for (var i = 0; i < wrong.Length; i++)
            if (wrong[i]) words[i >> 6] |= 1UL << (i & 63);
        return new WrongSet(words, wrong.Length);
    }

    public bool this[int i] => (Words[i >> 6] >> (i & 63) & 1) != 0;

    /// <summary>|A∧B| / |A∨B|; two empty sets are identical (1).</summary>
    public double IoU(WrongSet other)
    {
        if (other.Length != Length) throw new ArgumentException($"Wrong-prediction sets over different splits ({Length} vs {other.Length} examples).");
        long inter = 0, union = 0;
        for (var i = 0; i < Words.Length; i++)
        {
            inter += BitOperations.PopCount(Words[i] & other.Words[i]);
            union += BitOperations.PopCount(Words[i] | other.Words[i]);
        }
        return union == 0 ? 1.0 : (double)inter / union;
    }
}

/// <summary>Accuracy (fraction in [0, 1]) and wrong-prediction set of one model on one split.</summary>
public sealed record ModelScore(double Accuracy, WrongSet Wrong)
{
    /// <summary>The score a wrong set implies: accuracy 1 − |wrong| / examples (0 on an empty split).</summary>
    public static ModelScore FromWrong(WrongSet wrong) => new(wrong.Length == 0 ? 0 : 1.0 - (double)wrong.Count / wrong.Length, wrong);
}

/// <summary>
/// Scores parameter-subset vectors by writing each into the fixed base model and classifying a split.
/// Implementations batch many vectors and may cache the frozen layers' activations.
/// </summary>
public interface ISubsetScorer
{
    SubsetLayout Layout { get; }
    /// <summary>Scores each row of <paramref name="vectors"/> [M, N] (N = Layout.Length).</summary>
    IReadOnlyList<ModelScore> Score(Tensor vectors, EvalSplit split);
}
