using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace PDiff.Diffusion;

/// <summary>
/// <see cref="PDiffConfig"/> as JSON and as command-line flags. The flags are generated from the record's
/// properties (<c>AeSteps</c> ↔ <c>--ae-steps</c>), so adding a property adds its flag; parsing goes
/// through the same JSON names, so both forms accept exactly the same values.
/// </summary>
public static class ConfigText
{
    static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    static readonly PropertyInfo[] Settable = typeof(PDiffConfig)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.SetMethod is not null && p.GetCustomAttribute<JsonIgnoreAttribute>() is null)
        .ToArray();

    /// <summary>
    /// The configuration as indented JSON. Settings added after cache keys existed are left out at their defaults
    /// (<see cref="Omitted"/>): the conditioning settings of an unconditional model, which mean nothing then,
    /// Autocast None and StandardizeLatents false. The JSON — and every cache key and results fingerprint made from it — stays what it was.
    /// </summary>
    public static string ToJson(PDiffConfig config)
    {
        var node = JsonSerializer.SerializeToNode(config, Options)!.AsObject();
        foreach (var name in Omitted(config)) node.Remove(name);
        return node.ToJsonString(Options);
    }

    /// <summary>The settings <see cref="ToJson"/> and <see cref="ToArgs"/> leave out of <paramref name="config"/>.</summary>
    static IEnumerable<string> Omitted(PDiffConfig config)
    {
        if (config.Condition == ConditionKind.None) foreach (var name in PDiffConfig.ConditioningSettings) yield return name;
        if (config.Autocast == AutocastKind.None) yield return nameof(PDiffConfig.Autocast);
        if (!config.StandardizeLatents) yield return nameof(PDiffConfig.StandardizeLatents);
    }

    public static PDiffConfig FromJson(string json)
    {
        try
        {
            var c = JsonSerializer.Deserialize<PDiffConfig>(json, Options) ?? throw new InvalidDataException("p-diff configuration JSON is null.");
            c.Validate();
            return c;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Not a p-diff configuration: {e.Message} Valid keys: {string.Join(", ", Settable.Select(p => p.Name))}.", e);
        }
    }

    /// <summary>Kebab-case flag of a property: AeSteps → --ae-steps.</summary>
    public static string FlagOf(string property)
    {
        var sb = new StringBuilder("--");
        for (var i = 0; i < property.Length; i++)
        {
            var c = property[i];
            if (char.IsUpper(c) && i > 0 && !char.IsUpper(property[i - 1])) sb.Append('-');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>Every flag with its type and default, for --help.</summary>
    public static IEnumerable<(string Flag, string Type, string Default)> Flags(PDiffConfig? basis = null)
    {
        basis ??= PDiffConfig.Default;
        foreach (var p in Settable)
            yield return (FlagOf(p.Name), TypeName(p.PropertyType), Format(p.GetValue(basis)));
    }

    static string TypeName(Type t) => t.IsEnum ? string.Join("|", Enum.GetNames(t)) : t == typeof(long[]) ? "n,n,…" : t.Name.ToLowerInvariant();

    static string Format(object? v) => v switch
    {
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        long[] a => string.Join(",", a.Select(x => x.ToString(CultureInfo.InvariantCulture))),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        null => "",
        _ => v.ToString() ?? "",
    };

    /// <summary>All settings as flags (<c>--ae-steps 500 --latent-noise 0.1 …</c>).</summary>
    public static string[] ToArgs(PDiffConfig config) =>
        Settable.Where(p => !Omitted(config).Contains(p.Name))
            .SelectMany(p => new[] { FlagOf(p.Name), Format(p.GetValue(config)) }).ToArray();

    /// <summary>
    /// Applies flags to <paramref name="basis"/> (the Default preset when null). A leading
    /// <c>--preset v1|v2|default</c> picks the basis. Arguments that are not p-diff flags are returned in
    /// <paramref name="rest"/> for the caller (e.g. --profile); a p-diff flag with a bad value throws
    /// (steps, batches, timesteps, sizes ≥ 1; intervals and seeds ≥ 0; learning rates finite and &gt; 0; other
    /// numbers finite and ≥ 0). The flags given are recorded in <see cref="PDiffConfig.Explicit"/>, so a
    /// profile (<see cref="PDiffConfig.ForProfile"/>) leaves them as the user set them.
    /// </summary>
    public static PDiffConfig FromArgs(IReadOnlyList<string> args, PDiffConfig? basis, out List<string> rest)
    {
        rest = new List<string>();
        var byFlag = Settable.ToDictionary(p => FlagOf(p.Name), StringComparer.Ordinal);
        var node = JsonSerializer.SerializeToNode(basis ?? PDiffConfig.Default, Options)!.AsObject();
        var given = new HashSet<string>(basis?.Explicit ?? Enumerable.Empty<string>(), StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--preset")
            {
                if (i + 1 >= args.Count) throw new ArgumentException("--preset needs a value: v1, v2 or default.");
                node = JsonSerializer.SerializeToNode(PDiffConfig.Preset(args[++i]), Options)!.AsObject();
                given.Clear();
                continue;
            }
            var (flag, inline) = a.Contains('=') && a.StartsWith("--") ? (a[..a.IndexOf('=')], a[(a.IndexOf('=') + 1)..]) : (a, null);
            if (!byFlag.TryGetValue(flag, out var prop))
            {
                rest.Add(a);
                continue;
            }
            string value;
            if (inline is not null) value = inline;
            else if (prop.PropertyType == typeof(bool) && (i + 1 >= args.Count || args[i + 1].StartsWith("--"))) value = "true";
            else if (i + 1 < args.Count) value = args[++i];
            else throw new ArgumentException($"{flag} needs a value ({TypeName(prop.PropertyType)}).");
            node[prop.Name] = Parse(flag, prop.PropertyType, value);
            CheckRange(flag, prop.Name, prop.PropertyType, value);
            given.Add(prop.Name);
        }
        return FromJsonNode(node).WithExplicit(given);
    }

    static readonly HashSet<string> CountsFromZero = new(StringComparer.Ordinal)
    {
        nameof(PDiffConfig.LogEvery), nameof(PDiffConfig.ValidateEvery), nameof(PDiffConfig.CheckpointEvery), nameof(PDiffConfig.ValidateModels),
    };

    /// <summary>The range a flag's value must be in (stricter than <see cref="PDiffConfig.Validate"/>, which lets code turn phases off with 0 steps).</summary>
    static void CheckRange(string flag, string property, Type t, string text)
    {
        var inv = CultureInfo.InvariantCulture;
        if (t == typeof(int))
        {
            var i = int.Parse(text, NumberStyles.Integer, inv);
            var min = CountsFromZero.Contains(property) ? 0 : 1;
            if (i < min) throw new ArgumentException($"{flag} must be at least {min}, not {i.ToString(inv)}.");
        }
        else if (t == typeof(long))
        {
            if (long.Parse(text, NumberStyles.Integer, inv) < 0) throw new ArgumentException($"{flag} must be ≥ 0, not {text}.");
        }
        else if (t == typeof(double))
        {
            var d = double.Parse(text, NumberStyles.Float, inv);
            if (property.EndsWith("Lr", StringComparison.Ordinal) && !(d > 0)) throw new ArgumentException($"{flag} takes a finite number > 0, not '{text}'.");
            if (d < 0) throw new ArgumentException($"{flag} must be ≥ 0, not '{text}'.");
        }
        else if (t == typeof(long[]))
        {
            var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts.Length == 0 || parts.Any(p => long.Parse(p, NumberStyles.Integer, inv) < 1))
                throw new ArgumentException($"{flag} takes sizes ≥ 1 separated by commas, not '{text}'.");
        }
    }

    public static PDiffConfig FromArgs(IReadOnlyList<string> args, PDiffConfig? basis = null)
    {
        var c = FromArgs(args, basis, out var rest);
        if (rest.Count > 0)
            throw new ArgumentException($"Unknown p-diff flag '{rest[0]}'. Known flags: --preset, {string.Join(", ", Settable.Select(p => FlagOf(p.Name)))}.");
        return c;
    }

    static PDiffConfig FromJsonNode(JsonObject node)
    {
        var c = node.Deserialize<PDiffConfig>(Options) ?? throw new InvalidOperationException("configuration vanished");
        c.Validate();
        return c;
    }

    static JsonNode Parse(string flag, Type t, string s)
    {
        var inv = CultureInfo.InvariantCulture;
        Exception Bad() => new ArgumentException($"{flag}: '{s}' is not a valid {TypeName(t)}.");
        if (t == typeof(int)) return int.TryParse(s, NumberStyles.Integer, inv, out var i) ? JsonValue.Create(i) : throw Bad();
        if (t == typeof(long)) return long.TryParse(s, NumberStyles.Integer, inv, out var l) ? JsonValue.Create(l) : throw Bad();
        if (t == typeof(double)) return double.TryParse(s, NumberStyles.Float, inv, out var d) && double.IsFinite(d) ? JsonValue.Create(d) : throw Bad();
        if (t == typeof(bool)) return s.ToLowerInvariant() switch { "true" or "1" or "yes" => JsonValue.Create(true), "false" or "0" or "no" => JsonValue.Create(false), _ => throw Bad() };
        if (t.IsEnum)
        {
            var name = Enum.GetNames(t).FirstOrDefault(n => string.Equals(n, s, StringComparison.OrdinalIgnoreCase)) ?? throw Bad();
            return JsonValue.Create(name)!;
        }
        if (t == typeof(long[]))
        {
            var arr = new JsonArray();
            foreach (var part in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                arr.Add(long.TryParse(part, NumberStyles.Integer, inv, out var v) ? v : throw Bad());
            return arr;
        }
        throw new NotSupportedException($"{flag}: no command-line form for {t.Name}.");
    }
}
