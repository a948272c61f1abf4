using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Data;

/// <summary>
/// Which images of the source arrays each split holds. Train and Validation index the training source
/// (Fashion-MNIST's 60k file; MNIST's 10k digits); Test indexes the test source (Fashion-MNIST's 10k
/// file; for MNIST the same 10k digits, disjoint from Train and Validation). Each array is ascending.
/// </summary>
public sealed record SplitIndices(int[] Train, int[] Validation, int[] Test)
{
    /// <summary>A 64-bit FNV-1a hash of the three index lists: equal splits, equal fingerprints.</summary>
    public string Fingerprint
    {
        get
        {
            var h = 14695981039346656037UL;
            void Mix(int v)
            {
                for (var k = 0; k < 4; k++) { h ^= (byte)(v >> (8 * k)); h *= 1099511628211UL; }
            }
            foreach (var part in new[] { Train, Validation, Test })
            {
                Mix(part.Length);
                foreach (var i in part) Mix(i);
            }
            return h.ToString("x16");
        }
    }
}

/// <summary>
/// What a run needs to record about its data: the seeds and sizes that rebuild the split, the
/// normalisation measured on its training part, and a fingerprint of the index lists to compare runs.
/// </summary>
public sealed record SplitInfo(
    string Dataset,
    ulong Seed,
    ulong TestSplitSeed,
    int Train,
    int Validation,
    int Test,
    int[] TrainPerClass,
    int[] ValidationPerClass,
    int[] TestPerClass,
    Normalization Normalization,
    string Fingerprint,
    string Source);

/// <summary>Seeded, stratified selection of indices; all randomness is libtorch's randperm on a Generator.</summary>
public static class Split
{
    /// <summary>
    /// Chooses <paramref name="take"/> of the indices in <paramref name="pool"/> so that every class keeps its
    /// share: class c gets ⌊take·n_c/N⌋, and the leftover units go to the largest remainders (ties to the
    /// lower class), so the sizes are exact and depend on the counts only. Within a class the choice is the
    /// first quota entries of randperm(n_c, g) over the class's members in ascending index order, classes
    /// drawn in order 0, 1, …: the same generator state gives the same split on every machine.
    /// Returns the chosen indices and the remaining ones, both ascending.
    /// </summary>
    public static (int[] Taken, int[] Remaining) Stratified(ReadOnlySpan<byte> labels, IReadOnlyList<int> pool, int take, int classes, Generator g)
    {
        if (take < 0 || take > pool.Count)
            throw new ArgumentOutOfRangeException(nameof(take), take, $"Cannot take {take} of a pool of {pool.Count} images.");
        var members = new List<int>[classes];
        for (var c = 0; c < classes; c++) members[c] = new List<int>();
        var sorted = pool.ToArray();
        Array.Sort(sorted);
        for (var k = 0; k < sorted.Length; k++)
        {
            if (k > 0 && sorted[k] == sorted[k - 1]) throw new ArgumentException($"Index {sorted[k]} appears twice in the pool.", nameof(pool));
            var l = labels[sorted[k]];
            if (l >= classes) throw new ArgumentException($"Label {l} of image {sorted[k]} is not below {classes} classes.", nameof(labels));
            members[l].Add(sorted[k]);
        }

        var quota = Quotas(members.Select(m => m.Count).ToArray(), take);
        var taken = new List<int>(take);
        var rest = new List<int>(pool.Count - take);
        for (var c = 0; c < classes; c++)
        {
            var m = members[c];
            if (m.Count == 0) continue;
            using var perm = torch.randperm(m.Count, generator: g);
            var order = perm.data<long>().ToArray();
            for (var k = 0; k < m.Count; k++) (k < quota[c] ? taken : rest).Add(m[(int)order[k]]);
        }
        taken.Sort();
        rest.Sort();
        return (taken.ToArray(), rest.ToArray());
    }

    /// <summary>Largest-remainder apportionment of <paramref name="take"/> over classes of the given sizes.</summary>
    public static int[] Quotas(int[] counts, int take)
    {
        long total = counts.Sum(c => (long)c);
        var q = new int[counts.Length];
        if (total == 0) return q;
        var assigned = 0;
        for (var c = 0; c < counts.Length; c++)
        {
            q[c] = (int)(take * (long)counts[c] / total);
            assigned += q[c];
        }
        // Remainders compared exactly as integers (take·n_c mod N), so no floating-point tie can flip a class.
        var order = Enumerable.Range(0, counts.Length)
            .OrderByDescending(c => take * (long)counts[c] % total)
            .ThenBy(c => c)
            .ToArray();
        for (var k = 0; assigned < take; k++, assigned++) q[order[k % order.Length]]++;
        return q;
    }

    public static int[] ClassCounts(ReadOnlySpan<byte> labels, IEnumerable<int> indices, int classes)
    {
        var counts = new int[classes];
        foreach (var i in indices) counts[labels[i]]++;
        return counts;
    }
}
