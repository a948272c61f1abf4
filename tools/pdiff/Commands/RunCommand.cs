using System.Globalization;
using PDiff.Diffusion;
using PDiff.Experiments;
using PDiff.Engine;
using TorchSharp;
using PDiff.Zoo;

namespace PDiff.Cli.Commands;

/// <summary>`pdiff run`: the whole p-diff pipeline on one task, like the reference's run_all.</summary>
public sealed class RunCommand : ICommand
{
    public string Name => "run";
    public string Summary => "collect a zoo if needed, train p-diff, generate, evaluate, and print the table";

    public string Usage => """
        usage:
          pdiff run [--dataset fashion-mnist|mnist] [--arch resnet18|convnet3|mlp|vit] [--subset last-two-norms]
                    [--k K] [--recipe v2|v1] [--preset default|v1|v2] [--profile smoke|quick|paper] [--runs N]
                    [--generate M] [--out <results dir>] [--threads N] [p-diff flags...]
              Builds (or reuses, from data/cache/zoos/<profile>/) the task's zoo, trains the autoencoder and the
              latent diffusion model, generates M models per run, scores originals, their weight average,
              generated models and the baselines on validation and test, and writes everything under --out
              (default runs/<profile>/<task>/). p-diff flags override the preset: `pdiff run --help-config`
              lists them (e.g. --ae-steps 300 --latent-noise 0.1 --sampler ddim).
        """;

    static readonly string[] Own = { "dataset", "arch", "subset", "k", "recipe", "preset", "profile", "runs", "generate", "out", "threads" };

    public int Run(string[] args)
    {
        if (args.Contains("--help-config"))
        {
            foreach (var (flag, type, dflt) in ConfigText.Flags()) Console.WriteLine($"  --{flag,-22} {type,-10} default {dflt}");
            return ExitCodes.Ok;
        }
        var own = new Dictionary<string, string>();
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            var name = a.StartsWith("--") ? a[2..] : null;
            if (name != null && Own.Contains(name))
            {
                if (i + 1 >= args.Length) throw new UsageException($"--{name} needs a value.");
                own[name] = args[++i];
            }
            else rest.Add(a);
        }
        string Get(string k, string d) => own.TryGetValue(k, out var v) ? v : d;
        int GetInt(string k, int d) => own.TryGetValue(k, out var v)
            ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new UsageException($"--{k} takes a positive integer, not '{v}'.")
            : d;

        if (own.ContainsKey("threads")) Threads.Set(GetInt("threads", 1));
        var profile = Profiles.Parse(Get("profile", "quick"));
        var recipe = Get("recipe", "v2").ToLowerInvariant() switch
        {
            "v2" => RecipeKind.V2, "v1" => RecipeKind.V1,
            var r => throw new UsageException($"--recipe takes v2 or v1, not '{r}'."),
        };
        var task = new TaskSpec(Get("dataset", "fashion-mnist"), Get("arch", "resnet18"), Get("subset", Subsets.DefaultPreset),
            own.ContainsKey("k") ? GetInt("k", 200) : null, recipe);
        PDiffConfig preset;
        try { preset = ConfigText.FromArgs(rest, PDiffConfig.Preset(Get("preset", "default"))); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        var runs = GetInt("runs", 1);
        var outDir = Get("out", Path.Combine(Workbench.RepoRoot, "runs", profile.Name(), task.ZooName(profile)));

        Console.WriteLine($"[run] {task}, profile {profile.Name()}, preset {Get("preset", "default")}, {runs} run(s), {TorchRuntime.Describe()}");
        using var result = TaskRunner.Run(task, preset, profile, runs, outDir, Console.Out, generate: own.ContainsKey("generate") ? GetInt("generate", 1) : null);
        Console.WriteLine();
        Console.WriteLine(result.Reports[^1].ToText());
        Console.WriteLine(MainResultRow.ToTable(new[] { result.Row }).ToPlain());
        Console.WriteLine($"[run] results in {Path.GetFullPath(outDir)}");
        return ExitCodes.Ok;
    }
}
