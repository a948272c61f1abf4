using System.Runtime.InteropServices;
using PDiff.Diffusion;
using PDiff.TorchFixes;
using PDiff.Zoo;
using TorchSharp;

namespace PDiff.LoadCheck;

/// <summary>
/// Uses the library as a host program would (a small p-diff training and a generation), with or without the
/// entry points' <see cref="ProcessSettings.Apply"/> first, and prints what the process's settings are
/// afterwards: whether glibc's malloc still serves a 64 MB block with its own mmap (its default; 64 MB is
/// above the largest threshold glibc adapts to), and libtorch's thread count before and after.
/// </summary>
static class SettingsProbe
{
    public static int Run(bool apply)
    {
        var threadsBefore = torch.get_num_threads();
        if (apply) ProcessSettings.Apply();
        const int k = 8, n = 32;
        var data = new float[k * n];
        for (var i = 0; i < data.Length; i++) data[i] = (float)Math.Sin(0.3 * i);
        using var vectors = torch.tensor(data, new long[] { k, n });
        var layout = new SubsetLayout(new[] { new TensorSpec("bn.weight", new long[] { n / 2 }), new TensorSpec("bn.bias", new long[] { n / 2 }) });
        var cfg = PDiffConfig.V2 with
        {
            AeChannels = new long[] { 4, 4, 4, 4, 4 }, LatentDim = 8, AeBatch = 4, DiffBatch = 4, Timesteps = 50,
            LogEvery = 0, ValidateEvery = 0, CheckpointEvery = 0, AeSteps = 3, DiffSteps = 3,
        };
        using (var trainer = new PDiffTrainer(cfg, vectors, layout, new TrainerOptions { Log = null }))
        using (var model = trainer.Train())
        using (var g = new torch.Generator(1))
        using (var generated = model.Generate(2, g))
            Console.WriteLine($"generated={string.Join(",", generated.Vectors.shape)}");
        Console.WriteLine($"heap.applied={NativeHeap.IsApplied}");
        Console.WriteLine($"malloc.mmaps_64MB={MmapsLargeBlock()}");
        Console.WriteLine($"threads.before={threadsBefore} threads.after={torch.get_num_threads()}");
        return 0;
    }

    /// <summary>Whether a 64 MB malloc comes from its own mmap (glibc's count of mmapped blocks goes up).</summary>
    static bool MmapsLargeBlock()
    {
        var before = mallinfo2().hblks;
        var p = Marshal.AllocHGlobal(64 << 20);   // malloc on Unix
        try { return mallinfo2().hblks > before; }
        finally { Marshal.FreeHGlobal(p); }
    }

    [StructLayout(LayoutKind.Sequential)]
    struct MallInfo2
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [DllImport("libc")]
    static extern MallInfo2 mallinfo2();
}
