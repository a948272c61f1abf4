using System.Security.Cryptography;
using PDiff.Diffusion;
using PDiff.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.LoadCheck;

/// <summary>
/// A small p-diff training with checkpoints every few steps in a given folder (resumed from there when
/// one exists), printing the SHA-256 of the final state: a test kills it with SIGKILL at random moments,
/// reruns it, and compares the hash with an uninterrupted run.
/// </summary>
static class FaultTarget
{
    public static int Train(string dir)
    {
        torch.set_num_threads(1);   // bit-identical results need a fixed reduction order
        const int k = 16, n = 64, h = n / 2;
        var data = new float[k * n];
        for (var i = 0; i < k; i++)
            for (var j = 0; j < n; j++)
                data[i * n + j] = (float)((j < h ? 1.0 : 0.0) + 0.3 * Math.Sin(j * 0.4) + 0.05 * Math.Cos(j * 0.9 + i * 0.7) + 0.01 * i);
        using var vectors = torch.tensor(data, new long[] { k, n });
        var layout = new SubsetLayout(new[] { new TensorSpec("bn.weight", new long[] { h }), new TensorSpec("bn.bias", new long[] { h }) });
        var cfg = PDiffConfig.V2 with
        {
            AeChannels = new long[] { 8, 8, 8, 8, 4 }, LatentDim = 16, AeBatch = 8, AeLr = 1e-3, DiffBatch = 8, DiffLr = 1e-3,
            Timesteps = 50, LogEvery = 0, ValidateEvery = 0, CheckpointEvery = 3, ValidateModels = 2, AeSteps = 60, DiffSteps = 60,
        };
        using var trainer = new PDiffTrainer(cfg, vectors, layout, new TrainerOptions { CheckpointDir = dir, Log = null });
        using var model = trainer.Train();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, t) in model.NamedState())
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var c = t.contiguous().cpu();
            sha.AppendData(c.bytes);
        }
        Console.WriteLine($"state={Convert.ToHexString(sha.GetHashAndReset())}");
        return 0;
    }
}
