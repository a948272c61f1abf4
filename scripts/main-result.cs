#:project ../notebooks/Studies/PDiff.Studies.csproj
#:property PublishAot=false
#:property JsonSerializerIsReflectionEnabledByDefault=true
// The README's main result, generated from committed per-seed results, and the rerun check (issue 12).
// Run through scripts/main-result.sh (see there for the usage). Reads files only: no torch, no training.
using PDiff.Studies;

var repo = Path.GetFullPath(AppContext.GetData("EntryPointFileDirectoryPath") is string here ? Path.Combine(here, "..") : Directory.GetCurrentDirectory());
string? compare = null, profile = null, results = null;
var readme = Path.Combine(repo, "README.md");
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--compare": compare = Next(); break;
        case "--profile": profile = Next(); break;
        case "--results": results = Next(); break;
        case "--readme": readme = Next(); break;
        default: Console.Error.WriteLine($"main-result: unknown argument '{args[i]}' (use --compare DIR, --profile P, --results DIR, --readme FILE)"); return 2;
    }
}

static SeedSummary? TryLoad(string dir, out string why)
{
    why = "";
    try { return SeedSummary.Load(dir); }
    catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException or InvalidDataException or System.Text.Json.JsonException or FormatException)
    {
        why = e.Message;
        return null;
    }
}

if (compare is not null)
{
    var fresh = TryLoad(compare, out var whyFresh);
    if (fresh is null) { Console.WriteLine($"[main-result] no per-seed results of yours to compare in {compare}: {whyFresh}"); return 0; }
    profile ??= fresh.Profile.Length > 0 ? fresh.Profile : "quick";
    var committedDir = results ?? Path.Combine(repo, MainResult.CommittedDir(profile));
    var committed = TryLoad(committedDir, out var whyCommitted);
    if (committed is null)
    {
        Console.WriteLine($"[main-result] no committed per-seed results to compare with ({Path.GetRelativePath(repo, committedDir)}/seed<s>/: {whyCommitted}).");
        Console.WriteLine($"[main-result] the {profile} multi-seed run has not been committed yet; your numbers over {fresh.Seeds.Count} seed(s):");
        Console.Write(fresh.ToText());
        return 0;
    }
    var checks = MainResult.Compare(committed, fresh);
    if (checks.Count == 0)
    {
        Console.WriteLine($"[main-result] the committed results have {committed.Seeds.Count} seed(s): no spread to compare with.");
        return 0;
    }
    Console.WriteLine($"[main-result] your {fresh.Seeds.Count} seed(s) against the committed {committed.Seeds.Count} seeds ({Path.GetRelativePath(repo, committedDir)}): " +
        $"95 % prediction interval for the mean of {fresh.Seeds.Count} new seed(s)");
    foreach (var c in checks) Console.WriteLine("  " + c);
    var outside = checks.Where(c => !c.Inside).ToList();
    Console.WriteLine(outside.Count == 0
        ? $"[main-result] your numbers fall inside the committed interval ({checks.Count} of {checks.Count})."
        : $"[main-result] {outside.Count} of {checks.Count} outside the committed interval, the furthest by {100 * outside.Max(c => c.Outside):F2} pt ({outside.MaxBy(c => c.Outside)!.What}).");
    var env = RunEnvironment.Read(committedDir);
    if (env is not null) Console.WriteLine($"[main-result] committed numbers measured {env}; yours: {RunEnvironment.Read(compare)?.ToString() ?? "not recorded"}");
    return 0;
}

profile ??= "quick";
var dir = results ?? Path.Combine(repo, MainResult.CommittedDir(profile));
var summary = TryLoad(dir, out var why);
if (summary is null)
{
    Console.WriteLine($"[main-result] no committed per-seed results in {Path.GetRelativePath(repo, dir)}/seed<s>/ ({why}); the README is left as it is.");
    Console.WriteLine($"[main-result] make them with ./scripts/main.sh (notebook 01, profile {profile}, {(profile == "smoke" ? 2 : 3)} seeds by default), then commit " +
        $"runs/{profile}/01-main-results/<task>/ as {MainResult.CommittedDir(profile)}/ and run ./scripts/main-result.sh again.");
    return 0;
}
var block = MainResult.Markdown(summary, RunEnvironment.Read(dir), Path.GetRelativePath(repo, dir));
if (!MainResult.UpdateReadme(readme, block))
{
    Console.Error.WriteLine($"[main-result] {readme} has no {MainResult.BeginMarker} … {MainResult.EndMarker} markers; the block is:");
    Console.WriteLine(block);
    return 1;
}
Console.WriteLine($"[main-result] wrote the main result over seeds {string.Join(", ", summary.Seeds)} into {readme}");
return 0;
