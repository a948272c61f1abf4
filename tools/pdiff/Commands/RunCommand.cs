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
          pdiff run --zoo <zoo dir> [--preset ...] [--profile ...] [--runs N] [--generate M] [--out <dir>] [p-diff flags...]
              The same on an existing zoo folder, e.g. one made by `pdiff zoo import` (PyTorch checkpoints of a
              shipped architecture or of a TorchScript network): the base model is rebuilt from the folder, nothing
              is collected. Default --out: runs/<profile>/<zoo folder name>/. An imported zoo has no collection
              recipe, so the fine-tuned baseline is skipped (the report says so).
        """;

    static readonly string[] Own = { "dataset", "arch", "subset", "k", "recipe", "preset", "profile", "runs", "generate", "out", "threads", "zoo" };

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
        if (own.TryGetValue("zoo", out var zooDir))
        {
            var clash = new[] { "dataset", "arch", "subset", "k", "recipe" }.Where(own.ContainsKey).ToList();
            if (clash.Count > 0) throw new UsageException($"--zoo takes the task from the zoo's manifest; drop {string.Join(", ", clash.Select(c => "--" + c))}.");
            return RunZoo(zooDir, own, rest, profile, GetInt);
        }
        var recipe = Get("recipe", "v2").ToLowerInvariant() switch
        {
            "v2" => RecipeKind.V2, "v1" => RecipeKind.V1,
            var r => throw new UsageException($"--recipe takes v2 or v1, not '{r}'."),
        };
        var task = new TaskSpec(Get("dataset", "fashion-mnist"), ZooCommand.ShippedArch(Get("arch", "resnet18")), Get("subset", Subsets.DefaultPreset),
            own.ContainsKey("k") ? GetInt("k", 200) : null, recipe);
        PDiffConfig preset;
        try { preset = ConfigText.FromArgs(rest, PDiffConfig.Preset(Get("preset", "default"))); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        var runs = GetInt("runs", 1);
        var outDir = Get("out", Path.Combine(Workbench.RepoRoot, "runs", profile.Name(), task.ZooName(profile)));

        Console.WriteLine($"[run] {task}, profile {profile.Name()}, preset {Get("preset", "default")}, {runs} run(s), {TorchRuntime.Describe()}");
        var generate = own.ContainsKey("generate") ? GetInt("generate", 1) : (int?)null;
        try
        {
            using var result = TaskRunner.Run(task, preset, profile, runs, outDir, Console.Out, generate: generate);
            Print(result, outDir);
            return ExitCodes.Ok;
        }
        catch (Exception e) when (CliErrors.IsUserError(e))
        {
            return CliErrors.Report("run", e);
        }
    }

    static void Print(TaskResult result, string outDir)
    {
        Console.WriteLine();
        Console.WriteLine(result.Reports[^1].ToText());
        Console.WriteLine(MainResultRow.ToTable(new[] { result.Row }).ToPlain());
        Console.WriteLine($"[run] results in {Path.GetFullPath(outDir)}");
    }

    static int RunZoo(string zooDir, Dictionary<string, string> own, List<string> rest, Profile profile, Func<string, int, int> getInt)
    {
        PDiffConfig preset;
        try { preset = ConfigText.FromArgs(rest, PDiffConfig.Preset(own.GetValueOrDefault("preset", "default"))); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        try
        {
            var zoo = ZooTask.Open(zooDir);
            if (zoo.Manifest.Data is null)
                throw new InvalidOperationException($"the zoo at {zooDir} records no data split, so p-diff's models cannot be scored: import the " +
                    "checkpoints again with --dataset (pdiff zoo import ... --dataset mnist|fashion-mnist).");
            var runs = getInt("runs", 1);
            var name = new DirectoryInfo(Path.GetFullPath(zooDir)).Name;
            var outDir = own.GetValueOrDefault("out", Path.Combine(Workbench.RepoRoot, "runs", profile.Name(), name));
            Console.WriteLine($"[run] zoo {Path.GetFullPath(zooDir)} ({zoo.Manifest.Task}, {zoo.Manifest.Model}, K = {zoo.K}), profile {profile.Name()}, " +
                $"preset {own.GetValueOrDefault("preset", "default")}, {runs} run(s), {TorchRuntime.Describe()}");
            using var result = TaskRunner.RunOnZoo(zoo, preset, profile, runs, outDir, Console.Out,
                generate: own.ContainsKey("generate") ? getInt("generate", 1) : null);
            Print(result, outDir);
            return ExitCodes.Ok;
        }
        catch (Exception e) when (CliErrors.IsUserError(e))
        {
            return CliErrors.Report("run", e);
        }
    }
}
