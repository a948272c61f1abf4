namespace PDiff.Zoo;

/// <summary>
/// How much work an experiment does (design.md §5): <c>Smoke</c> proves the code path in seconds to a
/// few minutes (CI), <c>Quick</c> is the README's main job (about a quarter of an hour on 2 cores),
/// <c>Paper</c> is the full reproduction whose results are committed.
/// </summary>
public enum Profile { Smoke, Quick, Paper }

public static class Profiles
{
    public static Profile Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "smoke" => Profile.Smoke,
        "quick" => Profile.Quick,
        "paper" => Profile.Paper,
        _ => throw new ArgumentException($"Unknown profile '{s}': use smoke, quick or paper."),
    };

    public static string Name(this Profile p) => p.ToString().ToLowerInvariant();
}
