using System.Globalization;
using PDiff.Data;
using PDiff.Models;
using TorchSharp;
using PDiff.Zoo;

namespace PDiff.Cli.Commands;

/// <summary>`pdiff zoo build|import|align|info|subsets`: base models and checkpoint zoos (lib/Zoo).</summary>
public sealed class ZooCommand : ICommand
{
    public string Name => "zoo";
    public string Summary => "train a base model and collect K subset checkpoints (or import PyTorch ones); inspect a zoo";

    public string Usage => """
        usage:
          pdiff zoo build --out <dir> [--dataset fashion-mnist|mnist] [--arch resnet18|convnet3|mlp|vit]
                          [--subset last-two-norms] [--k 200] [--profile smoke|quick|paper|full-v2] [--recipe v2|v1]
                          [--seed 0] [--base-seed 42] [--collect-seed 40] [--width W] [--depth D] [--epochs E]
                          [--lr X] [--save-every N] [--augment] [--frozen-norms-train] [--eval-after-first-save]
                          [--retrain] [--force] [--threads N]
              Trains the base model (reused from <dir> when it matches), collects K checkpoints of the subset,
              scores each on validation and test, and writes <dir>/manifest.json, base.safetensors and
              checkpoints/*.safetensors. --subset takes a preset (last-two-norms, classifier, first-conv, all,
              and for resnet18 bn14-16, bn10-14), layer or parameter names, globs (layer4.*.bn?) or re:regexes,
              comma-separated. --recipe v2 (default): AdamW, constant lr, one checkpoint per iteration;
              v1: SGD continued, a checkpoint every --save-every iterations. --frozen-norms-train and
              --eval-after-first-save reproduce the reference's BN-mode behaviour (off by default).
              A non-empty <dir> that pdiff did not write is refused; --force writes beside your files (pdiff
              overwrites or deletes only files it wrote itself, listed in <dir>/.pdiff-folder.json). A file of
              yours where pdiff writes one (manifest.json, base.safetensors, checkpoints/0000.safetensors, …) is
              refused before any work, with or without --force (exit 2, naming it).
          pdiff zoo import --checkpoints <dir of .pth> --base <state dict .pth|.safetensors>
                           (--arch <arch> [--width W] [--hidden 256,128] [--depth D] [--dim D] [--heads H] [--mlp-dim M]
                            | --torchscript <model.pt>)
                           --out <dir> [--classes 10] [--input standardize|unit|mean=M,std=S] [--dataset fashion-mnist|mnist [--seed 0]] [--force]
              Converts a folder of PyTorch subset checkpoints (dicts of tensors, e.g. from the reference's
              finetune.py) plus their base model into a zoo; scores them when --dataset is given. The network is
              a shipped architecture (--arch, same parameter names as ours) or your own, exported from PyTorch
              with torch.jit.script(model).save("model.pt") (--torchscript; copied into the zoo). --input says how
              the network was trained to see pixels: standardize (default: the train split's mean and std), unit
              (raw pixels b/255, ToTensor() alone) or the values of its own Normalize(mean, std), e.g.
              --input mean=0.1307,std=0.3081 (one value a channel). With --dataset, the base model is first scored
              on 500 validation images under each scaling, and a warning says when another one scores 5 points
              or more above the one given. Files in --checkpoints that are not *.pth/*.pt are listed as
              skipped. A failed import leaves --out as it was.
              Then `pdiff run --zoo <dir>` trains p-diff on it and evaluates.
          pdiff zoo align <dir> --out <dir> [--force] [--threads N]
              Writes a copy of a whole-network zoo (subset 'whole' of an mlp or convnet3, e.g. from notebook 08)
              with every network's hidden units permuted into network 0's order by weight matching (Git
              Re-Basin): the same networks, rescored, in one coordinate system, so that their average and
              p-diff trained on them (`pdiff run --zoo <out>`) compare like units.
          pdiff zoo info <dir>
              Prints a zoo's task, subset, recipe and accuracy summary, and checks every file its manifest lists
              against the SHA-256 recorded there: OK, or exit 1 naming the first file that is missing or differs.
          pdiff zoo subsets (--arch <arch> [--width W] [--depth D] | --torchscript <model.pt>)
              Lists the subset presets of an architecture with the tensors each selects.

        """;

    public IReadOnlyList<string> Subcommands { get; } = new[] { "build", "import", "align", "info", "subsets" };

    static readonly string[] BuildOptions = { "out", "dataset", "arch", "subset", "k", "profile", "recipe", "seed", "base-seed", "collect-seed", "width", "depth",
        "epochs", "lr", "save-every", "threads" };
    static readonly string[] BuildSwitches = { "augment", "frozen-norms-train", "eval-after-first-save", "retrain", "force" };
    static readonly string[] ImportSwitches = { "force" };
    static readonly string[] ImportOptions = { "checkpoints", "base", "arch", "torchscript", "input", "out", "width", "hidden", "depth", "dim", "heads", "mlp-dim",
        "classes", "dataset", "seed", "threads" };
    static readonly string[] SubsetsOptions = { "arch", "torchscript", "width", "hidden", "depth", "dim", "heads", "mlp-dim", "classes", "input" };

    public int Run(string[] args)
    {
        if (args.Length == 0) throw new UsageException("missing subcommand (build, import, align, info or subsets).");
        var rest = args[1..];
        return args[0] switch
        {
            "build" => Build(CliArgs.Parse(rest, BuildOptions, BuildSwitches)),
            "import" => Import(CliArgs.Parse(rest, ImportOptions, ImportSwitches)),
            "align" => Align(CliArgs.Parse(rest, new[] { "dir", "out", "threads" }, new[] { "force" }, maxPositional: 1)),
            "info" => Info(CliArgs.Parse(rest, new[] { "dir" }, maxPositional: 1)),
            "subsets" => ListSubsets(CliArgs.Parse(rest, SubsetsOptions)),
            _ => throw new UsageException($"unknown subcommand '{args[0]}' (expected build, import, align, info or subsets)."),
        };
    }

    static int Build(CliArgs o)
    {
        // Everything is checked before the base model trains: names, numbers, the subset on the network, --out.
        var outDir = o.Required("out");
        var threads = o.Threads();
        var profile = Check.ParseProfile(o.Get("profile"));
        var dataset = Check.ParseDataset(o.Get("dataset"));
        var arch = ShippedArch(o.Get("arch") ?? "resnet18");
        var recipeKind = Check.ParseRecipe(o.Get("recipe"));
        var subset = o.Get("subset") ?? Subsets.DefaultPreset;
        var k = o.Int("k") ?? ZooProfiles.K(profile);
        var model = ZooProfiles.Model(profile, arch);
        if (o.Int("width") is { } w) model = model with { Width = w };
        if (o.Int("depth") is { } d) model = model with { Depth = d };
        var train = ZooProfiles.Train(profile, arch);
        if (o.Int("epochs") is { } e) train = train with { Epochs = e, Milestones = train.Schedule == "multistep" ? TrainConfig.V1(e).Milestones : train.Milestones };
        if (o.Seed("base-seed") is { } bs) train = train with { Seed = bs };
        var recipe = recipeKind == RecipeKind.V2 ? CollectionRecipe.V2(k, arch) : CollectionRecipe.V1(k, ZooProfiles.V1SaveEvery(profile));
        if (o.Positive("lr") is { } lr) recipe = recipe with { Lr = lr };
        if (o.Int("save-every") is { } se) recipe = recipe with { SaveEvery = se };
        if (o.Seed("collect-seed") is { } cs) recipe = recipe with { Seed = cs };
        recipe = recipe with
        {
            Augment = o.Flag("augment"),
            FrozenNormsTrain = o.Flag("frozen-norms-train"),
            EvalAfterFirstSave = o.Flag("eval-after-first-save"),
        };
        var dataSeed = o.Seed("seed") ?? 0;
        try { recipe = recipe.Validated(Check.FlagName); train = train.Validated(Check.FlagName); }
        catch (ArgumentException ex) { throw new UsageException(ex.Message); }
        // Sizes beyond this machine's memory are refused before anything is built: the network trained in batches, then K × N.
        var length = Check.Subset(model, subset, ModelUse.Train, train.BatchSize);
        Check.Fits(() => ZooLimits.CheckVectors("K", k, length, "checkpoints", name: Check.FlagName));
        Check.WritableFolder("--out", outDir);
        if (threads is { } t) Threads.Set(t);

        var task = ZooBuilder.Build(new ZooBuildOptions
        {
            Dataset = dataset,
            Arch = arch,
            Subset = subset,
            Profile = profile,
            Recipe = recipeKind,
            K = k,
            Out = outDir,
            DataSeed = dataSeed,
            Model = model,
            Train = train,
            Collection = recipe,
            Retrain = o.Flag("retrain"),
            Force = o.Flag("force"),
        }, Console.Out);
        Console.Out.WriteLine($"zoo written to {Path.GetFullPath(task.Directory)} ({task.K} checkpoints × {task.Layout.Length} numbers)");
        return ExitCodes.Ok;
    }

    static int Import(CliArgs o)
    {
        var checkpoints = o.Required("checkpoints");
        var baseModel = o.Required("base");
        var outDir = o.Required("out");
        var threads = o.Threads();
        var spec = Spec(o);
        Check.ModelFits(spec, ModelUse.Load);
        var dataset = o.Get("dataset") is { } ds ? Check.ParseDataset(ds) : null;
        var dataSeed = o.Seed("seed") ?? 0;
        Check.WritableFolder("--out", outDir);
        Check.FolderExists("--checkpoints", checkpoints, "the folder of PyTorch subset checkpoints, *.pth");
        Check.FileExists("--base", baseModel, "the base model's state dict, a .pth or .safetensors file");
        if (spec.Source is { } script) Check.FileExists("--torchscript", script, "your network saved with torch.jit.script(model).save(\"model.pt\")");
        if (threads is { } t) Threads.Set(t);

        var task = ZooImport.FromPthFolder(new ZooImportOptions
        {
            Checkpoints = checkpoints,
            BaseModel = baseModel,
            Model = spec,
            Out = outDir,
            Dataset = dataset,
            DataSeed = dataSeed,
            Force = o.Flag("force"),
            Warn = w => Console.Error.WriteLine($"pdiff: warning: {w}"),
        }, Console.Out);
        Console.Out.WriteLine($"zoo written to {Path.GetFullPath(task.Directory)} ({task.K} checkpoints × {task.Layout.Length} numbers)");
        if (task.Manifest.Data is null)
            Console.Out.WriteLine("no --dataset: the checkpoints are not scored, and p-diff cannot be evaluated on this zoo; import again with --dataset to do so");
        else
            Console.Out.WriteLine($"next: pdiff run --zoo {task.Directory} --profile smoke|quick|paper|full-v2");
        return ExitCodes.Ok;
    }

    static int Align(CliArgs o)
    {
        if (o.Positional.Count > 0 && o.Has("dir")) throw new UsageException("give the zoo folder once (as <dir> or --dir).");
        var dir = o.Positional.FirstOrDefault() ?? o.Get("dir") ?? throw new UsageException("missing the zoo folder: pdiff zoo align <dir> --out <dir>.");
        var outDir = o.Required("out");
        var threads = o.Threads();
        Check.FolderExists("zoo folder", dir, "a whole-network zoo folder (subset 'whole' of an mlp or convnet3)");
        if (ZooStore.SameFolder(outDir, dir))
            throw new UsageException($"--out {outDir} is the zoo itself; the aligned zoo goes to a folder of its own.");
        Check.WritableFolder("--out", outDir);
        var zoo = ZooTask.Open(dir);
        // Refused before any work when the network's hidden units are unknown or the subset leaves out a tensor they touch.
        try { PermutationGroups.For(zoo.Manifest.Model, zoo.Layout); }
        catch (ArgumentException e) { throw new UsageException($"{dir}: {e.Message}"); }
        if (threads is { } t) Threads.Set(t);
        var aligned = AlignedZoo.Ensure(zoo, outDir, Console.Out, o.Flag("force"));
        Console.Out.WriteLine($"aligned zoo written to {Path.GetFullPath(aligned.Directory)} ({aligned.K} networks × {aligned.Layout.Length:N0} numbers)");
        return ExitCodes.Ok;
    }

    static int Info(CliArgs o)
    {
        if (o.Positional.Count > 0 && o.Has("dir")) throw new UsageException("give the zoo folder once (as <dir> or --dir).");
        var dir = o.Positional.FirstOrDefault() ?? o.Get("dir") ?? throw new UsageException("missing the zoo folder: pdiff zoo info <dir>.");
        Check.FolderExists("zoo folder", dir, "a zoo folder made by `pdiff zoo build` or `pdiff zoo import`");
        var zoo = ZooTask.Open(dir);
        var m = zoo.Manifest;
        var inv = CultureInfo.InvariantCulture;
        Console.Out.WriteLine($"task      {m.Task} ({m.Source}{(m.Profile is null ? "" : $", profile {m.Profile}")})");
        Console.Out.WriteLine($"model     {m.Model}  base {m.BaseModel}" + (m.BaseTestAccuracy is { } bt ? string.Format(inv, "  val {0:P2} test {1:P2}", m.BaseValAccuracy, bt) : ""));
        if (m.Data is { } d) Console.Out.WriteLine($"data      {m.Dataset}: {d.Train} train / {d.Validation} validation / {d.Test} test (seed {d.Seed}, fingerprint {d.Fingerprint}), {InputScaling.Describe(d.Normalization)}");
        Console.Out.WriteLine($"subset    '{m.Subset.Selector}': {m.Subset.Length:N0} numbers in {m.Subset.Tensors.Count} tensors");
        foreach (var t in m.Subset.Tensors) Console.Out.WriteLine($"            {t.Name} [{string.Join(", ", t.Shape)}]");
        if (m.Recipe is { } r) Console.Out.WriteLine(string.Format(inv, "recipe    {0}, K {1}, lr {2}, batch {3}, save every {4}, seed {5}{6}{7}", r.Kind, r.K, r.Lr, r.BatchSize, r.SaveEvery, r.Seed,
            r.FrozenNormsTrain ? ", frozen norms in train mode (V1)" : "", r.EvalAfterFirstSave ? ", eval after first save (V2 quirk)" : ""));
        if (m.Validation is { } v) Console.Out.WriteLine(string.Format(inv, "val acc   mean {0:P2}  min {1:P2}  median {2:P2}  max {3:P2}  std {4:P3}", v.Mean, v.Min, v.Median, v.Max, v.Std));
        if (m.Test is { } te) Console.Out.WriteLine(string.Format(inv, "test acc  mean {0:P2}  min {1:P2}  median {2:P2}  max {3:P2}  std {4:P3}", te.Mean, te.Min, te.Median, te.Max, te.Std));
        if (m.Seconds.Count > 0) Console.Out.WriteLine("seconds   " + string.Join(", ", m.Seconds.Select(kv => string.Format(inv, "{0} {1:F0}", kv.Key, kv.Value))));
        (int Hashed, IReadOnlyList<string> Unhashed) files;
        try { files = zoo.Verify(); }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException) { throw new JobFailedException(e.Message, e); }
        Console.Out.WriteLine($"files     OK: {files.Hashed} files match the SHA-256 in the manifest" + (files.Unhashed.Count == 0 ? "" :
            $"; {files.Unhashed.Count} present but unchecked, the manifest records no hash for them (a zoo written before hashes): {string.Join(", ", files.Unhashed.Take(3))}{(files.Unhashed.Count > 3 ? ", …" : "")}"));
        return ExitCodes.Ok;
    }

    static int ListSubsets(CliArgs o)
    {
        var spec = Spec(o);
        if (spec.Source is { } script) Check.FileExists("--torchscript", script, "your network saved with torch.jit.script(model).save(\"model.pt\")");
        Check.ModelFits(spec, ModelUse.Build);
        using var model = ModelRegistry.Build(spec, 0);
        Console.Out.WriteLine($"{spec}: {ModuleTree.ParameterCount(model):N0} parameters");
        foreach (var p in Subsets.PresetNames(model))
        {
            try
            {
                var l = Subsets.Resolve(model, p);
                var names = l.Tensors.Select(t => t.Name).ToList();
                Console.Out.WriteLine($"  {p,-15} {l.Length,12:N0} numbers  {string.Join(", ", names.Take(6))}{(names.Count > 6 ? $", … ({names.Count} tensors)" : "")}");
            }
            catch (ArgumentException e)
            {
                Console.Out.WriteLine($"  {p,-15} (not available: {e.Message})");
            }
        }
        return ExitCodes.Ok;
    }

    /// <summary>--arch and its options, or --torchscript FILE; --classes and --input for both.</summary>
    static ModelSpec Spec(CliArgs o)
    {
        var script = o.Get("torchscript");
        var archName = o.Get("arch");
        if (script is not null && archName is not null && !archName.Equals(ModelSpec.TorchScript, StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--torchscript names the network; drop --arch {archName}.");
        if (script is null && archName is null) throw new UsageException("--arch (a shipped architecture) or --torchscript <model.pt> (your own network) is required.");
        if (script is null && archName!.Equals(ModelSpec.TorchScript, StringComparison.OrdinalIgnoreCase))
            throw new UsageException("--arch torchscript needs the file: use --torchscript <model.pt>.");
        try
        {
            var arch = script is null ? ShippedArch(archName!) : ModelSpec.TorchScript;
            var spec = new ModelSpec
            {
                Arch = arch, Source = script,
                Width = o.Int("width"), Depth = o.Int("depth"), Dim = o.Int("dim"), Heads = o.Int("heads"), MlpDim = o.Int("mlp-dim"),
                Classes = o.Int("classes", min: 2) ?? 10,
                Hidden = o.Get("hidden") is { } h ? Hidden(h) : null,
            };
            // --input alone first, so that its errors (a std of 0, a count of values other than the channels) name it.
            try { spec = spec with { Input = ModelRegistry.CanonicalInput(o.Get("input"), spec.InChannels) }; }
            catch (ArgumentException e) { throw new UsageException($"--input: {e.Message}"); }
            return ModelRegistry.Complete(spec);
        }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }

    /// <summary>A shipped architecture's canonical name; anything else (a misspelling, "torchscript") is a usage error saying what to use.</summary>
    internal static string ShippedArch(string name)
    {
        var arch = ModelRegistry.IsKnown(name) ? ModelRegistry.Canonical(name) : null;
        if (arch is not null && ModelRegistry.Shipped.Contains(arch)) return arch;
        throw new UsageException($"--arch '{name}' is not one of our architectures ({string.Join(", ", ModelRegistry.Shipped)}). For your own network, export it " +
            "from PyTorch with torch.jit.script(model).save(\"model.pt\"), import its checkpoints with `pdiff zoo import --torchscript model.pt ...` " +
            "and run p-diff on that zoo with `pdiff run --zoo <dir>`.");
    }

    static int[] Hidden(string h)
    {
        var parts = h.Split(',', StringSplitOptions.TrimEntries);
        return parts.All(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 1)
            ? parts.Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray()
            : throw new UsageException($"--hidden wants comma-separated sizes ≥ 1 such as 256,128, not '{h}'.");
    }
}
