using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using PDiff.Data;

namespace PDiff.Diffusion;

/// <summary>What a conditional p-diff model is told about each training vector (off by default).</summary>
public enum ConditionKind
{
    /// <summary>Unconditional p-diff, as in the paper.</summary>
    None,
    /// <summary>The checkpoint's validation accuracy (the zoo manifest's ValAccuracy), as G.pt conditions on a target loss.</summary>
    ValAccuracy,
}

/// <summary>
/// The z-score of a scalar condition over the training zoo: z = (a − mean)/std, and back. The denoiser sees
/// z, so a condition that spans a tenth of a point (validation accuracies of one zoo) reaches the embedding
/// at unit scale; the statistics are saved with the model (<c>condition.json</c>) so a target given later in
/// accuracy units maps to the z the model was trained on. A zoo whose conditions are all equal has no spread:
/// std is then 1 (z is just the offset) rather than a division by zero.
/// </summary>
public sealed class ConditionScaler
{
    public const double MinStd = 1e-12;

    [JsonConstructor]
    public ConditionScaler(ConditionKind kind, double mean, double std, int count)
    {
        if (kind == ConditionKind.None) throw new ArgumentException("A condition scaler needs a condition kind other than None.", nameof(kind));
        if (!double.IsFinite(mean)) throw new ArgumentException($"Condition mean must be finite; got {mean}.", nameof(mean));
        if (!(std > 0) || !double.IsFinite(std)) throw new ArgumentException($"Condition std must be finite and > 0; got {std}.", nameof(std));
        if (count < 1) throw new ArgumentException($"Condition statistics need at least one value; got {count}.", nameof(count));
        (Kind, Mean, Std, Count) = (kind, mean, std, count);
    }

    public ConditionKind Kind { get; }
    public double Mean { get; }
    /// <summary>Population std of the fitted values (1 when they are all equal).</summary>
    public double Std { get; }
    /// <summary>How many values the statistics were fitted on (K).</summary>
    public int Count { get; }

    /// <summary>Fits mean and population std of one condition value per training vector.</summary>
    public static ConditionScaler Fit(ConditionKind kind, IReadOnlyList<double> values)
    {
        CheckFinite(values, nameof(values));
        if (values.Count == 0) throw new ArgumentException("Fit the condition statistics on at least one value.", nameof(values));
        var mean = Statistics.Mean(values);
        var std = Statistics.PopulationStd(values, mean);
        return new ConditionScaler(kind, mean, std > MinStd ? std : 1.0, values.Count);
    }

    public double Normalize(double value) => (value - Mean) / Std;
    public double Denormalize(double z) => z * Std + Mean;

    /// <summary>z-scores of <paramref name="values"/>; NaN or infinite values are refused with the argument's name.</summary>
    public float[] Normalize(IReadOnlyList<double> values, string argument = "values")
    {
        CheckFinite(values, argument);
        return values.Select(v => (float)Normalize(v)).ToArray();
    }

    static void CheckFinite(IReadOnlyList<double> values, string argument)
    {
        ArgumentNullException.ThrowIfNull(values, argument);
        for (var i = 0; i < values.Count; i++)
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"Condition value {i} is {values[i].ToString(CultureInfo.InvariantCulture)}; conditions must be finite numbers.", argument);
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ConditionScaler FromJson(string json, string source = "condition statistics")
    {
        try { return JsonSerializer.Deserialize<ConditionScaler>(json, Json) ?? throw new InvalidDataException($"{source} is null."); }
        catch (Exception e) when (e is JsonException or ArgumentException)
        { throw new InvalidDataException($"{source} are not valid condition statistics: {e.Message}", e); }
    }

    public void Save(string path) => PDiff.Storage.AtomicFile.WriteAllText(path, ToJson());

    public static ConditionScaler Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Condition statistics '{path}' are missing: a conditional p-diff model saves them beside its weights.", path);
        return FromJson(File.ReadAllText(path), $"'{path}'");
    }
}
