using System.Text.Json;
using System.Text.Json.Serialization;
using PDiff.TorchFixes;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>How flattened parameter vectors are normalised before the autoencoder sees them.</summary>
public enum NormalizationKind
{
    /// <summary>V1: raw parameters (its per-dimension mean/std were computed but never used, reference §1.1).</summary>
    None,
    /// <summary>V2: per-tensor z-score with scalar mean/std averaged over checkpoints; running_var in log space (reference §1.4).</summary>
    PerTensor,
}

/// <summary>
/// Fitted statistics of one tensor of the subset. For a running variance, <see cref="P"/> is the
/// dataset-level 0.95·mean(v) of the log transform y = ln(v/P + 0.05), and Mean/Std are those of y.
/// </summary>
public sealed record TensorStats(string Name, long Offset, long Numel, bool IsRunningVar, double Mean, double Std, double P);

/// <summary>
/// Normalisation of flattened subset vectors [K, N] laid out by a <see cref="SubsetLayout"/>, with its
/// exact inverse; the fitted statistics round-trip through JSON so generation can run in another process.
/// </summary>
/// <remarks>
/// V2's statistics (reference §1.4): for every checkpoint k and tensor, m_k = mean and s_k = unbiased std
/// over the tensor's elements (of y_k = ln(v_k/p_k + 0.05), p_k = 0.95·mean(v_k), for running_var); the
/// dataset values are plain averages over k of p_k, m_k and s_k. Forward x = (θ − m)/s; inverse θ = x·s + m,
/// running_var v = max(e^{x·s+m} − 0.05, 0.001)·p (V2's clamp). Two guards V2 does not need: a
/// one-element tensor has no std (V2 drops such tensors from the vector; we keep them with s = 1), and a
/// tensor that is constant in every checkpoint gets s = 1 rather than a division by zero.
/// </remarks>
public sealed class ParamNormalizer
{
    public const double VarOffset = 0.05, VarFloor = 0.001, VarScale = 0.95, MinStd = 1e-12;

    [JsonConstructor]
    public ParamNormalizer(NormalizationKind kind, long length, IReadOnlyList<TensorStats> tensors)
    {
        if (kind == NormalizationKind.PerTensor)
        {
            long at = 0;
            foreach (var t in tensors)
            {
                if (t.Offset != at || t.Numel <= 0) throw new ArgumentException($"Normaliser statistics for '{t.Name}' start at {t.Offset} with {t.Numel} elements; expected a contiguous layout (next offset {at}).");
                if (!(t.Std > 0) || !double.IsFinite(t.Mean) || (t.IsRunningVar && !(t.P > 0)))
                    throw new ArgumentException($"Normaliser statistics for '{t.Name}' are invalid (mean {t.Mean}, std {t.Std}, p {t.P}).");
                at += t.Numel;
            }
            if (at != length) throw new ArgumentException($"Normaliser statistics cover {at} numbers; the vectors have {length}.");
        }
        (Kind, Length, Tensors) = (kind, length, tensors);
    }

    public NormalizationKind Kind { get; }
    public long Length { get; }
    public IReadOnlyList<TensorStats> Tensors { get; }

    /// <summary>The identity (V1) for vectors of length <paramref name="length"/>.</summary>
    public static ParamNormalizer Identity(long length) => new(NormalizationKind.None, length, Array.Empty<TensorStats>());

    /// <summary>Fits the statistics of <paramref name="kind"/> on the K training vectors [K, N].</summary>
    public static ParamNormalizer Fit(Tensor vectors, SubsetLayout layout, NormalizationKind kind)
    {
        CheckVectors(vectors, layout.Length, "ParamNormalizer.Fit");
        if (kind == NormalizationKind.None) return Identity(layout.Length);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = vectors.to(ScalarType.Float64);
        var offsets = layout.Offsets();
        var stats = new List<TensorStats>();
        for (var i = 0; i < layout.Tensors.Count; i++)
        {
            var spec = layout.Tensors[i];
            var piece = x.narrow(1, offsets[i], spec.Numel);                 // [K, n]
            double p = 0;
            if (spec.IsRunningVar)
            {
                if (piece.min().item<double>() <= 0) throw new ArgumentException($"'{spec.Name}' holds a running variance ≤ 0; the log transform needs positive values.");
                using Scalar varScale = VarScale, varOffset = VarOffset;
                var pk = piece.mean(new long[] { 1 }, keepdim: true).mul(varScale);   // [K, 1]
                p = pk.mean().item<double>();
                piece = piece.div(pk).add(varOffset, SafeOps.One).log();
            }
            var m = piece.mean(new long[] { 1 }).mean().item<double>();
            var s = spec.Numel > 1 ? piece.std(new long[] { 1 }, unbiased: true).mean().item<double>() : 1.0;
            if (!(s > MinStd)) s = 1.0;
            stats.Add(new TensorStats(spec.Name, offsets[i], spec.Numel, spec.IsRunningVar, m, s, p));
        }
        return new ParamNormalizer(kind, layout.Length, stats);
    }

    /// <summary>Raw parameter vectors [M, N] → normalised vectors [M, N] (float32).</summary>
    public Tensor Normalize(Tensor theta)
    {
        CheckVectors(theta, Length, "ParamNormalizer.Normalize");
        if (Kind == NormalizationKind.None) return theta.to(ScalarType.Float32);
        using var scope = NewDisposeScope();
        var x = theta.to(ScalarType.Float64);
        var pieces = new List<Tensor>();
        using Scalar varOffset = VarOffset;
        foreach (var t in Tensors)
        {
            using Scalar p = t.P, minusMean = -t.Mean, std = t.Std;
            var piece = x.narrow(1, t.Offset, t.Numel);
            if (t.IsRunningVar) piece = piece.div(p).add(varOffset, SafeOps.One).log();
            pieces.Add(piece.add(minusMean, SafeOps.One).div(std));
        }
        return cat(pieces, 1).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Normalised vectors [M, N] → raw parameter vectors [M, N] (float32).</summary>
    public Tensor Denormalize(Tensor x)
    {
        CheckVectors(x, Length, "ParamNormalizer.Denormalize");
        if (Kind == NormalizationKind.None) return x.to(ScalarType.Float32);
        using var scope = NewDisposeScope();
        var xd = x.to(ScalarType.Float64);
        var pieces = new List<Tensor>();
        using Scalar minusVarOffset = -VarOffset, varFloor = VarFloor;
        foreach (var t in Tensors)
        {
            using Scalar std = t.Std, mean = t.Mean, p = t.P;
            var piece = xd.narrow(1, t.Offset, t.Numel).mul(std).add(mean, SafeOps.One);
            if (t.IsRunningVar) piece = piece.exp().add(minusVarOffset, SafeOps.One).clamp(min: varFloor).mul(p);
            pieces.Add(piece);
        }
        return cat(pieces, 1).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ParamNormalizer FromJson(string json) =>
        JsonSerializer.Deserialize<ParamNormalizer>(json, Json) ?? throw new InvalidDataException("Normaliser JSON is empty (null).");

    public void Save(string path) => PDiff.Storage.AtomicFile.WriteAllText(path, ToJson());

    public static ParamNormalizer Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Normaliser statistics not found: {path}", path);
        try { return FromJson(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not a normaliser statistics file: {e.Message}", e); }
    }

    static void CheckVectors(Tensor v, long n, string op)
    {
        if (v.dim() != 2 || v.size(1) != n)
            throw new ArgumentException($"{op}: expected parameter vectors [M, {n}]; got [{string.Join(", ", v.shape)}].");
    }
}
