using System.Globalization;

namespace PDiff.Models;

/// <summary>
/// Explicit input statistics, the third form of <see cref="ModelSpec.Input"/>: pixels as (b/255 − mean)/std,
/// one mean and one std a channel, exactly what torchvision's <c>ToTensor()</c> then <c>Normalize(mean, std)</c>
/// give. A network trained with its own <c>Normalize((0.1307,), (0.3081,))</c> says
/// <c>Input = "mean=0.1307,std=0.3081"</c> (CLI: <c>--input mean=0.1307,std=0.3081</c>); per channel the values
/// follow each other as in PyTorch's call, <c>"mean=0.485,0.456,0.406,std=0.229,0.224,0.225"</c>.
/// </summary>
public sealed class InputStatistics
{
    /// <summary>The text form's first word: a <see cref="ModelSpec.Input"/> that starts with it holds explicit values.</summary>
    public const string MeanKey = "mean=";
    const string StdKey = "std=";
    const string Form = "mean=M,std=S (one value a channel, e.g. mean=0.1307,std=0.3081 or mean=0.485,0.456,0.406,std=0.229,0.224,0.225)";

    public InputStatistics(IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        if (mean.Count == 0 || mean.Count != std.Count)
            throw new ArgumentException($"Input statistics need one mean and one std a channel; got {mean.Count} mean(s) and {std.Count} std(s). Write {Form}.");
        foreach (var m in mean)
            if (!double.IsFinite(m)) throw new ArgumentException($"Input mean {Show(m)} is not a finite number. Write {Form}.");
        foreach (var s in std)
            if (!double.IsFinite(s) || s <= 0) throw new ArgumentException($"Input std {Show(s)} must be a finite number > 0 (pixels are divided by it). Write {Form}.");
        (Mean, Std) = (mean.ToArray(), std.ToArray());
    }

    public IReadOnlyList<double> Mean { get; }
    public IReadOnlyList<double> Std { get; }
    public int Channels => Mean.Count;

    /// <summary>Whether <paramref name="input"/> is meant as explicit values (it then must parse).</summary>
    public static bool IsExplicit(string? input) =>
        input is not null && input.TrimStart().StartsWith(MeanKey, StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads the text form; anything else is an <see cref="ArgumentException"/> that quotes it and shows the form.</summary>
    public static InputStatistics Parse(string text)
    {
        var mean = new List<double>();
        var std = new List<double>();
        List<double>? current = null;
        foreach (var raw in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var part = raw;
            if (part.StartsWith(MeanKey, StringComparison.OrdinalIgnoreCase) && current is null) (current, part) = (mean, part[MeanKey.Length..]);
            else if (part.StartsWith(StdKey, StringComparison.OrdinalIgnoreCase) && ReferenceEquals(current, mean) && std.Count == 0) (current, part) = (std, part[StdKey.Length..]);
            if (current is null || !double.TryParse(part.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                throw new ArgumentException($"Input scaling '{text}' is not {Form}: '{part}' is not a number in that form.");
            current.Add(v);
        }
        if (!ReferenceEquals(current, std)) throw new ArgumentException($"Input scaling '{text}' gives no std: write {Form}.");
        return new InputStatistics(mean, std);
    }

    /// <summary>The canonical text form (shortest round-trip numbers), as manifests store it.</summary>
    public override string ToString() =>
        $"{MeanKey}{string.Join(",", Mean.Select(Show))},{StdKey}{string.Join(",", Std.Select(Show))}";

    static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
