using PDiff.Models;
using PDiff.Storage;
using PDiff.Zoo;
using TorchSharp;

namespace PDiff.LoadCheck;

/// <summary>
/// Child processes for the one-writer-per-folder and swap tests (Storage/FolderLockTests.cs, ZooSwapTests.cs):
/// <c>hold &lt;dir&gt;</c> locks a folder, says "held" and keeps it until stdin closes or the process is killed;
/// <c>wait &lt;dir&gt;</c> waits for the lock, says "acquired" and exits; <c>swap &lt;dir&gt; &lt;step&gt;</c> writes tiny zoo 1
/// into a folder, then swaps in tiny zoo 2 and stops at the given step of the swap, saying "at &lt;step&gt;", until killed.
/// </summary>
public static class LockTarget
{
    public static int Hold(string dir)
    {
        using var l = FolderLock.Take(dir, "test folder");
        Console.WriteLine("held");
        Console.Out.Flush();
        Console.In.ReadToEnd();
        return 0;
    }

    public static int Wait(string dir)
    {
        using var l = FolderLock.Wait(dir, "test folder", Console.Out);
        Console.WriteLine("acquired");
        return 0;
    }

    /// <summary>
    /// Locks <paramref name="dst"/> as a zoo writer, says "held", and when told (a line on stdin) aligns the zoo in
    /// <paramref name="src"/> into it: a first process making a zoo that a second one waits for.
    /// </summary>
    public static int AlignWhenTold(string src, string dst)
    {
        using var writer = ZooWriter.Begin(dst);
        Console.WriteLine("held");
        Console.Out.Flush();
        Console.In.ReadLine();
        AlignedZoo.Ensure(ZooTask.Open(src), dst);
        Console.WriteLine("aligned");
        return 0;
    }

    public static int Swap(string dir, string step)
    {
        TinyZoo(dir, 1);
        ZooWriter.SwapStep = s =>
        {
            if (s != step) return;
            Console.WriteLine($"at {s}");
            Console.Out.Flush();
            Thread.Sleep(Timeout.Infinite);
        };
        TinyZoo(dir, 2);
        Console.WriteLine("done");
        return 0;
    }

    /// <summary>
    /// A zoo of k = 3 random classifier vectors of a small MLP, written through <see cref="ZooWriter"/> without training:
    /// the same <paramref name="seed"/> gives the same checkpoint bytes.
    /// </summary>
    public static ZooTask TinyZoo(string dir, ulong seed, int k = 3, string subset = "classifier")
    {
        var spec = ModelRegistry.Complete(new ModelSpec { Arch = "mlp", Hidden = new[] { 16 } });
        using var g = new torch.Generator(seed);
        using var model = ModelRegistry.Build(spec, g);
        var layout = Subsets.Resolve(model, subset);
        using var writer = ZooWriter.Begin(dir, force: false, keepStaged: false);
        BaseModels.SaveWeights(writer.Staged("base.safetensors"), model, spec);
        using var vectors = torch.randn(new long[] { k, layout.Length }, generator: g);
        var manifest = new ZooManifest
        {
            Task = $"tiny{seed}", Dataset = "fashion-mnist", Model = spec,
            Subset = new SubsetRecord(subset, layout.Tensors, layout.Length),
            Checkpoints = Enumerable.Range(0, k).Select(i => new CheckpointRecord(i, ZooStore.CheckpointFile(i), i, 0, double.NaN, double.NaN)).ToList(),
        };
        return writer.Commit(manifest, vectors);
    }
}
