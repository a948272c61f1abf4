using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Evaluation;

/// <summary>
/// The 2-D embeddings of an evaluation: PCA and t-SNE of the latents of every group that has them (else of the
/// parameter vectors), each group subsampled to at most EmbeddingMaxPerGroup points with one seeded generator,
/// and further, in proportion, when the union would exceed t-SNE's point limit.
/// </summary>
internal static class EvaluationEmbeddings
{
    /// <summary>The points to embed, one row each, with each row's group and its index within the group.</summary>
    sealed record Points(Tensor All, List<string> Groups, List<int> Indices);

    /// <param name="entries">The evaluated groups in report order: name and parameter vectors [B, N].</param>
    public static IReadOnlyList<EmbeddingResult> Embed(IReadOnlyList<(string Name, Tensor Vectors)> entries, LatentInputs? latents, EvaluationOptions o, List<string> notes, Dictionary<string, ulong> seeds)
    {
        if (!o.Pca && !o.Tsne) return Array.Empty<EmbeddingResult>();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var (space, chosen) = ChooseSpace(entries, latents, notes);
        var points = Subsample(chosen, o, notes, seeds);
        points = DropNonFinite(points, space, notes);
        return Project(points, space, o, notes, seeds);
    }

    /// <summary>
    /// The latents of the groups that have them (given for the originals and the generated, or made by the
    /// encoder), in "latent" space; when no group has any, the parameter vectors of all, in "parameters" space.
    /// </summary>
    static (string Space, List<(string Group, Tensor Points)> Chosen) ChooseSpace(IReadOnlyList<(string Name, Tensor Vectors)> entries, LatentInputs? latents, List<string> notes)
    {
        var space = "latent";
        var chosen = new List<(string Group, Tensor Points)>();
        foreach (var e in entries)
        {
            var explicitLatent = e.Name == Evaluator.Original ? latents?.Originals : e.Name == Evaluator.Generated ? latents?.Generated : null;
            if (explicitLatent is not null)
            {
                if (explicitLatent.dim() != 2 || explicitLatent.size(0) != e.Vectors.size(0))
                    throw new ArgumentException($"Latents of '{e.Name}' have shape {EvaluationTorch.Shape(explicitLatent)}; expected [{e.Vectors.size(0)}, d], one row per vector.");
                chosen.Add((e.Name, explicitLatent));
            }
            else if (latents?.Encoder is { } enc)
            {
                var z = enc(e.Vectors);
                if (z.dim() != 2 || z.size(0) != e.Vectors.size(0))
                    throw new InvalidOperationException($"The latent encoder returned {EvaluationTorch.Shape(z)} for {e.Vectors.size(0)} vectors; it must return [B, d].");
                chosen.Add((e.Name, z));
            }
        }
        if (chosen.Count == 0)
        {
            space = "parameters";
            chosen = entries.Select(e => (e.Name, e.Vectors)).ToList();
        }
        else if (chosen.Count < entries.Count)
            notes.Add($"embeddings: no latents for {string.Join(", ", entries.Select(e => e.Name).Except(chosen.Select(c => c.Group)))}; those groups are left out.");
        var dims = chosen.Select(c => c.Points.size(1)).Distinct().ToList();
        if (dims.Count > 1) throw new ArgumentException($"Latents of different groups have different widths ({string.Join(", ", dims)}); they must share one latent space.");
        return (space, chosen);
    }

    /// <summary>
    /// At most EmbeddingMaxPerGroup rows of each group, in proportion fewer when the union exceeds t-SNE's limit,
    /// drawn group after group from one generator seeded with EmbeddingSeed and kept in their original order.
    /// </summary>
    static Points Subsample(List<(string Group, Tensor Points)> chosen, EvaluationOptions o, List<string> notes, Dictionary<string, ulong> seeds)
    {
        var cap = o.EmbeddingMaxPerGroup;
        var total = chosen.Sum(c => Math.Min(cap, (int)c.Points.size(0)));
        var limit = o.Tsne ? o.TsneOptions.MaxPoints : int.MaxValue;
        using var g = new Generator(o.EmbeddingSeed);
        seeds["embedding_subsample"] = o.EmbeddingSeed;
        var groups = new List<string>();
        var indices = new List<int>();
        var parts = new List<Tensor>();
        foreach (var (name, pts) in chosen)
        {
            var m = (int)pts.size(0);
            var take = Math.Min(cap, m);
            if (total > limit) take = Math.Max(1, (int)((long)take * limit / total));
            int[] idx;
            if (take >= m) idx = Enumerable.Range(0, m).ToArray();
            else
            {
                using var perm = torch.randperm(m, generator: g);
                idx = perm.data<long>().ToArray().Take(take).Select(v => (int)v).OrderBy(v => v).ToArray();
            }
            using var it = torch.tensor(idx.Select(v => (long)v).ToArray());
            parts.Add(pts.index_select(0, it).to(ScalarType.Float64));
            groups.AddRange(Enumerable.Repeat(name, idx.Length));
            indices.AddRange(idx);
        }
        if (total > limit) notes.Add($"embeddings: {total} points exceed t-SNE's limit of {limit}; every group was subsampled in proportion.");
        return new Points(torch.cat(parts, 0), groups, indices);
    }

    /// <summary>
    /// The points without the rows that hold a non-finite coordinate. A baseline can hold such points (e.g. a
    /// Gaussian draw of a running variance below 0, whose log transform in the normaliser is NaN): they have no
    /// place in an embedding, so they are left out and named.
    /// </summary>
    static Points DropNonFinite(Points points, string space, List<string> notes)
    {
        using var finite = points.All.isfinite().all(1);
        var keep = finite.data<bool>().ToArray();
        if (!keep.Any(k => !k)) return points;
        var dropped = points.Groups.Where((_, i) => !keep[i]).GroupBy(x => x).Select(x => $"{x.Count()} of {x.Key}");
        notes.Add($"embeddings: {keep.Count(k => !k)} points with non-finite {space} coordinates left out ({string.Join(", ", dropped)}).");
        var rows = Enumerable.Range(0, keep.Length).Where(i => keep[i]).ToArray();
        using var at = torch.tensor(rows.Select(i => (long)i).ToArray());
        return new Points(points.All.index_select(0, at), rows.Select(i => points.Groups[i]).ToList(), rows.Select(i => points.Indices[i]).ToList());
    }

    /// <summary>PCA (from 2 points) and t-SNE (from 3, its perplexity lowered when too large for the points).</summary>
    static IReadOnlyList<EmbeddingResult> Project(Points points, string space, EvaluationOptions o, List<string> notes, Dictionary<string, ulong> seeds)
    {
        var (all, groups, indices) = points;
        var result = new List<EmbeddingResult>();
        if (o.Pca && all.size(0) >= 2) result.Add(new EmbeddingResult(Pca.Embed(all), space, groups.ToArray(), indices.ToArray()));
        if (o.Tsne)
        {
            var n = (int)all.size(0);
            var t = o.TsneOptions;
            if (t.Perplexity >= n - 1)
            {
                var p = Math.Max(1, (n - 2) / 3.0);
                notes.Add($"t-SNE: perplexity {t.Perplexity} is too large for {n} points; used {p:G3}.");
                t = t with { Perplexity = p };
            }
            if (n >= 3) result.Add(new EmbeddingResult(Tsne.Embed(all, t), space, groups.ToArray(), indices.ToArray()));
            seeds["tsne"] = t.Seed;
        }
        return result;
    }
}
