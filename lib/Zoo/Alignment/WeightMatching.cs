using PDiff.TorchFixes;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>One network aligned to a reference: the permuted vector, each group's permutation (aligned unit i = the
/// other's unit p[i]), the L2 distance to the reference before and after, and the coordinate-ascent sweeps it took.</summary>
public sealed record AlignedNetwork(Tensor Vector, IReadOnlyList<int[]> Permutations, double DistanceBefore, double DistanceAfter, int Sweeps) : IDisposable
{
    public void Dispose() => Vector.Dispose();
}

/// <summary>
/// Weight matching (Ainsworth, Hayase and Srinivasa, "Git Re-Basin", 2023, their algorithm 1): the hidden units of a
/// network are permuted so that its weights lie as close as possible to a reference network's, without changing what
/// it computes. Networks trained from different seeds hold the same features in different orders; aligned, their
/// weights can be averaged, interpolated or modelled as one distribution. Coordinate ascent: each group's permutation
/// in turn maximises Σ⟨reference unit i, other unit p[i]⟩ over the group's weights, the other groups' permutations
/// held fixed (a linear assignment problem), until a sweep over all groups improves nothing. The objective never
/// decreases, so the aligned network is never farther from the reference (over the compared tensors) than it was.
/// The learned parameters are compared; BatchNorm's running statistics move with their units but do not vote.
/// </summary>
public static class WeightMatching
{
    /// <summary>Sweeps over all groups before giving up on convergence (it usually takes 2–6).</summary>
    public const int MaxSweeps = 100;

    /// <summary>Aligns <paramref name="other"/> to <paramref name="reference"/> (both whole vectors in <paramref name="layout"/>).</summary>
    public static AlignedNetwork Align(Tensor reference, Tensor other, SubsetLayout layout, IReadOnlyList<PermutationGroup> groups, int seed = 0)
    {
        PermutationGroups.Check(groups, layout);
        if (reference.dim() != 1 || other.dim() != 1 || reference.size(0) != layout.Length || other.size(0) != layout.Length)
            throw new ArgumentException($"WeightMatching.Align: the reference [{string.Join(", ", reference.shape)}] and the other network [{string.Join(", ", other.shape)}] " +
                $"must both be vectors of the layout's {layout.Length} numbers.");
        using var scope = torch.NewDisposeScope();
        var a = layout.Views(reference);
        var b = layout.Views(other);
        var touches = Touches(layout, groups);
        var perms = groups.Select(g => Enumerable.Range(0, g.Size).ToArray()).ToArray();
        var order = Enumerable.Range(0, groups.Count).ToArray();
        var rng = new Random(seed);
        var sweeps = 0;
        for (var improved = true; improved && sweeps < MaxSweeps; sweeps++)
        {
            improved = false;
            rng.Shuffle(order);
            foreach (var g in order)
            {
                var score = Similarity(groups[g], g, a, b, touches, perms);
                var p = LinearAssignment.Maximize(score);
                var current = LinearAssignment.Total(score, perms[g]);
                if (LinearAssignment.Total(score, p) - current > 1e-9 * Math.Max(1, Math.Abs(current)))
                {
                    perms[g] = p;
                    improved = true;
                }
            }
        }
        var aligned = Assemble(layout, b, touches, perms, groups);
        var before = reference.sub(other).norm().item<float>();
        var after = reference.sub(aligned).norm().item<float>();
        return new AlignedNetwork(aligned.MoveToOuterDisposeScope(), perms, before, after, sweeps);
    }

    /// <summary>
    /// <paramref name="vector"/> with group g's units reordered by <paramref name="permutations"/>[g] (unit i ← unit p[i]) on
    /// every axis the group acts on: the same network, its hidden units in another order.
    /// </summary>
    public static Tensor Apply(Tensor vector, SubsetLayout layout, IReadOnlyList<PermutationGroup> groups, IReadOnlyList<int[]> permutations)
    {
        PermutationGroups.Check(groups, layout);
        if (permutations.Count != groups.Count)
            throw new ArgumentException($"WeightMatching.Apply: {permutations.Count} permutations for {groups.Count} groups.", nameof(permutations));
        for (var g = 0; g < groups.Count; g++)
            if (permutations[g].Length != groups[g].Size || permutations[g].Order().Select((v, i) => v == i).Any(ok => !ok))
                throw new ArgumentException($"WeightMatching.Apply: permutation {g} is not a permutation of 0 … {groups[g].Size - 1} (group {groups[g].Name}).", nameof(permutations));
        using var scope = torch.NewDisposeScope();
        return Assemble(layout, layout.Views(vector), Touches(layout, groups), permutations.ToArray(), groups).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Every row of <paramref name="vectors"/> [K, N] aligned to row <paramref name="referenceRow"/> (which stays as it
    /// is), with each row's distance to the reference before and after.
    /// </summary>
    public static (Tensor Aligned, IReadOnlyList<(double Before, double After, int Sweeps)> Rows) AlignAll(Tensor vectors, SubsetLayout layout,
        IReadOnlyList<PermutationGroup> groups, int referenceRow = 0, int seed = 0)
    {
        if (vectors.dim() != 2 || vectors.size(1) != layout.Length)
            throw new ArgumentException($"WeightMatching.AlignAll: vectors are [{string.Join(", ", vectors.shape)}]; expected [K, {layout.Length}] in the layout.");
        if (referenceRow < 0 || referenceRow >= vectors.size(0))
            throw new ArgumentOutOfRangeException(nameof(referenceRow), $"WeightMatching.AlignAll: reference row {referenceRow} is not one of the {vectors.size(0)} rows.");
        var result = vectors.clone();
        var rows = new List<(double, double, int)>();
        try
        {
            using var reference = vectors[referenceRow];
            for (var k = 0; k < vectors.size(0); k++)
            {
                if (k == referenceRow) { rows.Add((0, 0, 0)); continue; }
                using var row = vectors[k];
                using var aligned = Align(reference, row, layout, groups, seed + k);
                using var target = result[k];
                target.copy_(aligned.Vector);
                rows.Add((aligned.DistanceBefore, aligned.DistanceAfter, aligned.Sweeps));
            }
            return (result, rows);
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>score[i, j] = Σ over the group's learned tensors of ⟨reference unit i, other unit j⟩, the other groups' permutations applied to the other network.</summary>
    static double[,] Similarity(PermutationGroup group, int g, Dictionary<string, Tensor> a, Dictionary<string, Tensor> b,
        Dictionary<string, List<(int Group, int Dim)>> touches, int[][] perms)
    {
        using var scope = torch.NewDisposeScope();
        var total = torch.zeros(group.Size, group.Size, ScalarType.Float64);
        foreach (var axis in group.Axes.Where(x => IsLearned(x.Tensor)))
        {
            var other = b[axis.Tensor];
            foreach (var (og, dim) in touches[axis.Tensor].Where(t => t.Group != g)) other = Permute(other, dim, perms[og], perms[og].Length);
            total.PlusInPlace(Unfold(a[axis.Tensor], axis.Dim, group.Size).matmul(Unfold(other, axis.Dim, group.Size).t()));
        }
        var flat = total.data<double>().ToArray();
        var score = new double[group.Size, group.Size];
        Buffer.BlockCopy(flat, 0, score, 0, flat.Length * sizeof(double));
        return score;
    }

    /// <summary>For each tensor, the groups that act on it and along which dimension (a weight matrix has its rows in one group and its columns in another).</summary>
    static Dictionary<string, List<(int Group, int Dim)>> Touches(SubsetLayout layout, IReadOnlyList<PermutationGroup> groups)
    {
        var touches = layout.Tensors.ToDictionary(t => t.Name, _ => new List<(int Group, int Dim)>());
        for (var g = 0; g < groups.Count; g++)
            foreach (var axis in groups[g].Axes) touches[axis.Tensor].Add((g, axis.Dim));
        return touches;
    }

    /// <summary>BatchNorm's running statistics follow their units but are not matched on: they are estimates, not weights.</summary>
    static bool IsLearned(string tensor) => !tensor.EndsWith("running_mean", StringComparison.Ordinal) && !tensor.EndsWith("running_var", StringComparison.Ordinal);

    /// <summary>The flat vector of <paramref name="parts"/> (by name, in layout order) with every group's permutation applied on every axis it acts on.</summary>
    static Tensor Assemble(SubsetLayout layout, Dictionary<string, Tensor> parts, Dictionary<string, List<(int Group, int Dim)>> touches,
        int[][] perms, IReadOnlyList<PermutationGroup> groups) =>
        torch.cat(layout.Tensors.Select(t =>
        {
            var x = parts[t.Name];
            foreach (var (g, dim) in touches[t.Name]) x = Permute(x, dim, perms[g], groups[g].Size);
            return x.reshape(-1);
        }).ToArray());

    /// <summary>The tensor with its units along <paramref name="dim"/> (each a block of shape[dim] / size entries) reordered: unit i ← unit p[i].</summary>
    static Tensor Permute(Tensor t, int dim, int[] p, int size)
    {
        using var index = torch.tensor(p.Select(i => (long)i).ToArray());
        return t.reshape(Blocked(t.shape, dim, size)).index_select(dim, index).reshape(t.shape);
    }

    /// <summary>[size, rest] in float64: row i holds everything unit i owns in this tensor.</summary>
    static Tensor Unfold(Tensor t, int dim, int size) =>
        t.reshape(Blocked(t.shape, dim, size)).movedim(new long[] { dim }, new long[] { 0 }).reshape(size, -1).to(ScalarType.Float64);

    /// <summary><paramref name="shape"/> with dimension <paramref name="dim"/> split into [size, shape[dim] / size]: one row a unit, its block after it.</summary>
    static long[] Blocked(long[] shape, int dim, int size) =>
        shape.Take(dim).Append(size).Append(shape[dim] / size).Concat(shape.Skip(dim + 1)).ToArray();
}
