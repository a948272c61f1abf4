using PDiff.Data;
using PDiff.Models;

namespace PDiff.Zoo;

/// <summary>
/// Where a model spec's input scaling (<see cref="ModelSpec.Input"/>) meets the data: shipped networks are
/// trained on standardised pixels (mean and std of the train split); a user's network may expect raw b/255
/// ("unit"). The split records the normalisation it used, so a zoo rebuilds its data scaled the same way.
/// </summary>
public static class InputScaling
{
    /// <summary>
    /// <paramref name="options"/> (or the defaults) with the normalisation <paramref name="spec"/> expects:
    /// unchanged for standardised input; <see cref="Normalization.Unit"/> for "unit". Explicit statistics that
    /// contradict the spec are an error, not silently replaced.
    /// </summary>
    public static DataOptions Apply(ModelSpec spec, DataOptions? options)
    {
        options ??= new DataOptions();
        if (ModelRegistry.CanonicalInput(spec.Input) != ModelSpec.UnitInput) return options;
        if (options.Normalization is { } n && !n.IsUnit)
            throw new ArgumentException($"The model expects raw pixels (Input = \"{ModelSpec.UnitInput}\", b/255) but the data options ask for " +
                $"normalisation mean {n.Mean} std {n.Std}; leave DataOptions.Normalization unset (or drop Input = \"unit\").");
        return options with { Normalization = Normalization.Unit };
    }

    /// <summary>"raw pixels b/255" or "standardised (mean m, std s of the train split)", for logs.</summary>
    public static string Describe(Normalization n) =>
        n.IsUnit ? "raw pixels b/255" : FormattableString.Invariant($"standardised (mean {n.Mean:F4}, std {n.Std:F4})");
}
