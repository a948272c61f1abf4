using PDiff.Diffusion;
using PDiff.Studies;
using PDiff.TorchFixes;
using TorchSharp;
using PDiff.Models;
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
                    [--k K] [--recipe v2|v1] [--preset default|v1|v2] [--profile smoke|quick|paper|full-v2] [--runs N]
                    [--generate M] [--out <results dir>] [--force] [--threads N] [--model-cache <dir>|off] [p-diff flags...]
              Builds (or reuses, from data/cache/zoos/<profile>/) the task's zoo, trains the autoencoder and the
              latent diffusion model, generates M models per run, scores originals, their weight average,
              generated models and the baselines on validation and test, and writes everything under --out
              (default runs/<profile>/<task>/). p-diff flags override the preset: `pdiff run --help-config`
              lists them (e.g. --ae-steps 300 --latent-noise 0.1 --sampler ddim). A results folder holds one
              configuration: a rerun of the same one rewrites its files, another goes to <out>-<fingerprint>
              (printed). A non-empty --out that pdiff did not write is refused unless --force (then only files
              pdiff writes are touched); a file of yours where pdiff writes one (main_row.json, run0/…) is
              refused before any work, with or without --force (exit 2, naming it).
              A results folder another pdiff process is writing is refused at once; a
              zoo or trained model another process is making is waited for, then reused.
              Trained p-diff models are cached (the same configuration on the same zoo trains once): beside the zoo
              (<zoo>/pdiff/) when its folder is writable, else in $XDG_CACHE_HOME/pdiff/models (~/.cache/...);
              --model-cache <dir> (or PDIFF_MODEL_CACHE=<dir>) puts them in <dir>, `off` trains without caching.
              The chosen folder is checked before any work.
          pdiff run --zoo <zoo dir> [--preset ...] [--profile ...] [--runs N] [--generate M] [--out <dir>] [p-diff flags...]
              The same on an existing zoo folder, e.g. one made by `pdiff zoo import` (PyTorch checkpoints of a
              shipped architecture or of a TorchScript network): the base model is rebuilt from the folder, nothing
              is collected. Default --out: runs/<profile>/<zoo folder name>/. An imported zoo has no collection
              recipe, so the fine-tuned baseline is skipped (the report says so).
        """;

    static readonly string[] Own = { "dataset", "arch", "subset", "k", "recipe", "preset", "profile", "runs", "generate", "out", "threads", "zoo", "model-cache" };

    /// <summary>What both forms of <c>pdiff run</c> take, parsed and checked.</summary>
    sealed record Common(bool Force, int? Threads, Profile Profile, PDiffConfig Preset, string PresetName, int Runs, int? Generate);

    public int Run(string[] args)
    {
        if (args.Contains("--help-config")) return HelpConfig(args);
        // Everything is checked before any work: names, numbers, the p-diff flags, the subset, the results folder.
        var o = CliArgs.Parse(args, Own, new[] { "force" }, passUnknown: true);
        var force = o.Flag("force");
        var threads = o.Threads();
        var profile = Check.ParseProfile(o.Get("profile"));
        var preset = Check.PDiffFlags(o.Passthrough, Check.ParsePreset(o.Get("preset")));
        var common = new Common(force, threads, profile, preset, o.Get("preset") ?? "default", o.Int("runs") ?? 1, o.Int("generate"));
        if (o.Get("model-cache") is { } cache) ModelCache.Setting = cache.Length > 0 ? cache : throw new UsageException("--model-cache takes a folder, or off.");
        return o.Get("zoo") is { } zooDir ? RunOnZooFolder(o, zooDir, common) : RunOnTask(o, common);
    }

    static int HelpConfig(string[] args)
    {
        if (args.Length > 1) throw new UsageException("--help-config takes nothing else.");
        Console.WriteLine("p-diff flags (pdiff run ... --ae-steps 300 --sampler ddim; a profile never overrides a flag given):");
        foreach (var (flag, type, dflt) in ConfigText.Flags()) Console.WriteLine($"  {flag,-24} {type,-10} default {dflt}");
        return ExitCodes.Ok;
    }

    /// <summary><c>pdiff run --zoo</c>: the task is the zoo's; its size is checked against this machine before any work.</summary>
    static int RunOnZooFolder(CliArgs o, string zooDir, Common c)
    {
        var clash = new[] { "dataset", "arch", "subset", "k", "recipe" }.Where(o.Has).ToList();
        if (clash.Count > 0) throw new UsageException($"--zoo takes the task from the zoo's manifest; drop {string.Join(", ", clash.Select(x => "--" + x))}.");
        var outZoo = o.Get("out") ?? Path.Combine(ZooCache.RepoRoot, "runs", c.Profile.Name(), new DirectoryInfo(Path.GetFullPath(zooDir)).Name);
        Check.WritableFolder("--out", outZoo);
        Check.FolderExists("--zoo", zooDir, "a zoo folder made by `pdiff zoo build` or `pdiff zoo import`");
        var zoo = ZooTask.Open(zooDir);
        var data = zoo.Manifest.Data;
        // The zoo's K is not a flag here: its limit names the zoo.
        Check.Fits(() => PDiffMemory.CheckFits(ProfileDefaults.SamplingFor(c.Profile, c.Preset.ForProfile(c.Profile)),
            new PDiffMemory.Job(zoo.Layout.Length, zoo.K, c.Generate ?? ProfileDefaults.GeneratedCount(c.Profile),
                data is null ? 0 : Math.Max(data.Validation, data.Test), zoo.Manifest.Model.Classes, c.Runs),
            name: p => p == "K" ? $"the zoo's K (its checkpoints, {Path.GetFullPath(zooDir)})" : Check.FlagName(p)));
        CacheWritable(zooDir, zoo.Manifest.Task);
        if (c.Threads is { } tz) Threads.Set(tz);
        return RunZoo(zoo, c.Preset, c.PresetName, c.Profile, c.Runs, c.Generate, outZoo, c.Force);
    }

    /// <summary>
    /// <c>pdiff run</c> on a task: sizes beyond this machine's memory are refused before anything is built (the base
    /// network trained in batches, the zoo's K × N matrix and its collection, then p-diff with the models it generates
    /// and scores), then the whole pipeline runs.
    /// </summary>
    static int RunOnTask(CliArgs o, Common c)
    {
        var profile = c.Profile;
        var recipe = Check.ParseRecipe(o.Get("recipe"));
        var dataset = Check.ParseDataset(o.Get("dataset"));
        var arch = ZooCommand.ShippedArch(o.Get("arch") ?? "resnet18");
        var subset = o.Get("subset") ?? Subsets.DefaultPreset;
        var task = new TaskSpec(dataset, arch, subset, o.Int("k"), recipe);
        var outDir = o.Get("out") ?? Path.Combine(ZooCache.RepoRoot, "runs", profile.Name(), task.ZooName(profile));
        Check.WritableFolder("--out", outDir);
        var length = Check.Subset(ZooProfiles.Model(profile, arch), subset, ModelUse.Train, ZooProfiles.Train(profile, arch).BatchSize);
        var k = task.KFor(profile);
        Check.Fits(() => ZooLimits.CheckVectors("K", k, length, "checkpoints", name: Check.FlagName));
        try { ZooProfiles.Collection(profile, recipe, arch, k).Validated(Check.FlagName); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        Check.Fits(() => PDiffMemory.CheckFits(ProfileDefaults.SamplingFor(profile, c.Preset.ForProfile(profile)),
            new PDiffMemory.Job(length, k, c.Generate ?? ProfileDefaults.GeneratedCount(profile), ZooLimits.ScoredImages(ZooProfiles.Data(profile)), 10, c.Runs),
            name: Check.FlagName));
        CacheWritable(Path.Combine(ZooCache.Folder(profile), task.ZooName(profile)), ZooStore.TaskName(dataset, arch, subset));
        if (c.Threads is { } t) Threads.Set(t);

        Console.WriteLine($"[run] {task}, profile {profile.Name()}, preset {c.PresetName}, {c.Runs} run(s), {TorchRuntime.Describe()}");
        using var result = TaskRunner.Run(task, c.Preset, profile, c.Runs, outDir, Console.Out, generate: c.Generate, force: c.Force);
        Print(result, result.Folder ?? outDir);
        return ExitCodes.Ok;
    }

    /// <summary>The trained-model cache this run would use (<see cref="ModelCache"/>) can be written: exit 2 naming it before any work.</summary>
    static void CacheWritable(string zooDir, string task)
    {
        try { ModelCache.FolderFor(zooDir, task); }
        catch (IOException e) { throw new UsageException(e.Message); }
    }

    static void Print(TaskResult result, string outDir)
    {
        Console.WriteLine();
        Console.WriteLine(result.Reports[^1].ToText());
        Console.WriteLine(MainResultRow.ToTable(new[] { result.Row }).ToPlain());
        Console.WriteLine($"[run] results in {Path.GetFullPath(outDir)}");
    }

    static int RunZoo(ZooTask zoo, PDiffConfig preset, string presetName, Profile profile, int runs, int? generate, string outDir, bool force)
    {
        var zooDir = zoo.Directory;
        if (zoo.Manifest.Data is null)
            throw new JobFailedException($"the zoo at {zooDir} records no data split, so p-diff's models cannot be scored: import the " +
                "checkpoints again with --dataset (pdiff zoo import ... --dataset mnist|fashion-mnist).");
        Console.WriteLine($"[run] zoo {Path.GetFullPath(zooDir)} ({zoo.Manifest.Task}, {zoo.Manifest.Model}, K = {zoo.K}), profile {profile.Name()}, " +
            $"preset {presetName}, {runs} run(s), {TorchRuntime.Describe()}");
        using var result = TaskRunner.RunOnZoo(zoo, preset, profile, runs, outDir, Console.Out, generate: generate, force: force);
        Print(result, result.Folder ?? outDir);
        return ExitCodes.Ok;
    }
}
