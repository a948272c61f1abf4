namespace PDiff.Zoo;

/// <summary>
/// The linear assignment problem on a square score matrix: the permutation p maximising Σᵢ score[i, p[i]].
/// Written here (the Hungarian method with row and column potentials, O(n³)) rather than taken from a package:
/// the one candidate served here, Google OR-Tools' <c>LinearSumAssignment</c>, takes integer costs only and
/// brings a native runtime of about 100 MB into a thin library for a routine of forty lines; hidden layers of the
/// networks we align have at most a few hundred units, where O(n³) takes milliseconds. Tests check it against
/// brute force.
/// </summary>
public static class LinearAssignment
{
    /// <summary>For each row i the column p[i] it is assigned to, maximising the summed score.</summary>
    public static int[] Maximize(double[,] score)
    {
        int n = score.GetLength(0);
        if (score.GetLength(1) != n)
            throw new ArgumentException($"LinearAssignment.Maximize: the score matrix is {n} × {score.GetLength(1)}; it must be square (one row and one column a unit).", nameof(score));
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                if (!double.IsFinite(score[i, j]))
                    throw new ArgumentException($"LinearAssignment.Maximize: score[{i}, {j}] is {score[i, j]}; every score must be finite.", nameof(score));
        // Minimise cost = −score. Rows and columns are 1-based below; column 0 is the virtual start of each search.
        var u = new double[n + 1];
        var v = new double[n + 1];
        var rowOf = new int[n + 1];     // rowOf[j]: the row assigned to column j (0 = none)
        var way = new int[n + 1];       // way[j]: the previous column on the shortest augmenting path to column j
        for (var i = 1; i <= n; i++)
        {
            rowOf[0] = i;
            var j0 = 0;
            var minv = new double[n + 1];
            Array.Fill(minv, double.PositiveInfinity);
            var used = new bool[n + 1];
            do
            {
                used[j0] = true;
                int i0 = rowOf[j0], j1 = 0;
                var delta = double.PositiveInfinity;
                for (var j = 1; j <= n; j++)
                {
                    if (used[j]) continue;
                    var reduced = -score[i0 - 1, j - 1] - u[i0] - v[j];
                    if (reduced < minv[j]) { minv[j] = reduced; way[j] = j0; }
                    if (minv[j] < delta) { delta = minv[j]; j1 = j; }
                }
                for (var j = 0; j <= n; j++)
                {
                    if (used[j]) { u[rowOf[j]] += delta; v[j] -= delta; }
                    else minv[j] -= delta;
                }
                j0 = j1;
            } while (rowOf[j0] != 0);
            do
            {
                var j1 = way[j0];
                rowOf[j0] = rowOf[j1];
                j0 = j1;
            } while (j0 != 0);
        }
        var assignment = new int[n];
        for (var j = 1; j <= n; j++) assignment[rowOf[j] - 1] = j - 1;
        return assignment;
    }

    /// <summary>Σᵢ score[i, p[i]].</summary>
    public static double Total(double[,] score, IReadOnlyList<int> p)
    {
        double s = 0;
        for (var i = 0; i < p.Count; i++) s += score[i, p[i]];
        return s;
    }
}
