using PDiff.TorchFixes;
using PDiff.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Studies;

/// <summary>Decoded vectors [M, N], the latents they came from, and for each the rows that were mixed.</summary>
public sealed record LatentMix(Tensor Vectors, Tensor Latents, IReadOnlyList<int[]> Sources) : IDisposable
{
    public void Dispose()
    {
        Vectors.Dispose();
        Latents.Dispose();
    }
}

/// <summary>
/// New parameter vectors made in a p-diff autoencoder's latent space rather than in weight space: linear
/// interpolation (α in [0, 1]) or extrapolation (α outside it) between two latents, and uniform means of
/// random latents (the latent counterpart of the average-of-16 baseline). The autoencoder comes in as two
/// delegates — raw vectors [M, N] → latents [M, …] and back, e.g. <c>PDiffModel.EncodeVectors</c> and
/// <c>DecodeLatents</c> — so any latent shape works and the mixing can be tested without a trained model.
/// </summary>
public sealed class LatentMixer
{
    readonly Func<Tensor, Tensor> encode, decode;

    public LatentMixer(Func<Tensor, Tensor> encode, Func<Tensor, Tensor> decode)
    {
        this.encode = encode ?? throw new ArgumentNullException(nameof(encode));
        this.decode = decode ?? throw new ArgumentNullException(nameof(decode));
    }

    /// <summary>Latents of raw vectors [M, N] (the encoder's output, one row a vector).</summary>
    public Tensor Encode(Tensor vectors)
    {
        if (vectors.dim() != 2) throw new ArgumentException($"Encode takes vectors [M, N]; got {EvaluationTorch.Shape(vectors)}.", nameof(vectors));
        return Checked(encode(vectors), vectors.size(0), "encoder");
    }

    /// <summary>Raw vectors [M, N] of latents [M, …].</summary>
    public Tensor Decode(Tensor latents)
    {
        if (latents.dim() < 2) throw new ArgumentException($"Decode takes latents [M, …] with one row a model; got {EvaluationTorch.Shape(latents)}.", nameof(latents));
        return Checked(decode(latents), latents.size(0), "decoder");
    }

    /// <summary>
    /// decode((1 − α)·z_a + α·z_b) row by row for latents of equal shape: α = 0 and 1 give the endpoints' decodes
    /// exactly, α outside [0, 1] extrapolates beyond them.
    /// </summary>
    public Tensor Interpolate(Tensor latentsA, Tensor latentsB, double alpha)
    {
        if (!latentsA.shape.SequenceEqual(latentsB.shape))
            throw new ArgumentException($"Interpolation needs latents of one shape; got {EvaluationTorch.Shape(latentsA)} and {EvaluationTorch.Shape(latentsB)}.", nameof(latentsB));
        if (!double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "α must be a finite number.");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // The endpoints are passed through untouched, so α = 0 / 1 decode exactly the given latents.
        using Scalar keep = 1 - alpha, weight = alpha;
        var z = alpha == 0 ? latentsA : alpha == 1 ? latentsB : latentsA.mul(keep).Plus(latentsB.mul(weight));
        return Decode(z).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <paramref name="count"/> models, each the decode of the uniform mean of <paramref name="of"/> distinct rows of
    /// <paramref name="latents"/> [L, …] drawn with a generator seeded by <paramref name="seed"/>.
    /// </summary>
    public LatentMix Average(Tensor latents, int count, int of, ulong seed)
    {
        if (latents.dim() < 2 || latents.size(0) < 1)
            throw new ArgumentException($"Latents must be [L ≥ 1, …] with one row a model; got {EvaluationTorch.Shape(latents)}.", nameof(latents));
        var l = (int)latents.size(0);
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Make at least one model.");
        if (of < 1 || of > l) throw new ArgumentOutOfRangeException(nameof(of), of, $"Each mean takes between 1 and {l} distinct latents.");
        using var g = new Generator(seed);
        var sources = new List<int[]>();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var rows = new List<Tensor>();
        for (var i = 0; i < count; i++)
        {
            using var perm = torch.randperm(l, generator: g);
            var idx = perm.data<long>().Take(of).ToArray();
            sources.Add(idx.Select(v => (int)v).ToArray());
            using var at = torch.tensor(idx);
            rows.Add(latents.index_select(0, at).to(ScalarType.Float64).mean(new long[] { 0 }).to(latents.dtype));
        }
        var z = torch.stack(rows);
        var vectors = Decode(z);
        return new LatentMix(vectors.MoveToOuterDisposeScope(), z.MoveToOuterDisposeScope(), sources);
    }

    static Tensor Checked(Tensor result, long rows, string what)
    {
        if (result.dim() < 2 || result.size(0) != rows)
            throw new InvalidOperationException($"The {what} returned {EvaluationTorch.Shape(result)} for {rows} rows; it must return one row per input row.");
        return result;
    }
}
