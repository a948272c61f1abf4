using PDiff.Storage;

namespace PDiff.Diffusion;

/// <summary>
/// The least memory a p-diff run needs, counted from its configuration and the zoo's shape, and the check that it
/// fits this machine (<see cref="MachineBudget"/>) before the first tensor is made. Lower bounds (float32 = 4 bytes):
/// <list type="bullet">
/// <item>training vectors: K × N twice (raw and normalised) = 8·K·N; when scored at once (the evaluation scores
/// the K originals together) their logits, K · 2 · images · classes floats;</item>
/// <item>autoencoder: its parameters × 16 (weights, gradients, AdamW's two moments), counted from ae-channels and
/// latent-dim for the V2 (<see cref="OneDimVAE"/>: kernel 7, N padded to a multiple of 64 and halved a layer) and the
/// chunked autoencoder (V1's fixed ones are small and not counted); a batch's activations, ae-batch · (N + the first
/// layer's output) · 4 · 2 (forward and backward);</item>
/// <item>denoiser: the V2 CNN's time MLP, 3·L² parameters for latent size L, × 16 (× 20 with an EMA copy); the V1
/// UNet's time table, timesteps · L, × 16; a batch, diff-batch · L · 3 floats (the latent, its noise and the prediction);</item>
/// <item>the noise schedule: timesteps · 32 bytes (three double tables, two float tensors);</item>
/// <item>the loss history: (ae-steps + diff-steps) · 40 bytes (a float each, and its text in <c>losses.json</c>, UTF-8 and UTF-16);</item>
/// <item>models generated at each validation and at the end: each a vector of N and, scored at once, 2 · images · classes logits;</item>
/// <item>the report kept for every run: a wrong-prediction bit per model (K originals and the generated ones), image and split.</item>
/// </list>
/// Counts that cost time only (log, validation and checkpoint intervals, seeds) have no memory limit.
/// </summary>
public static class PDiffMemory
{
    /// <summary>The shape of the job around a configuration: the zoo's K vectors of N numbers, the models generated and the images each is scored on.</summary>
    public readonly record struct Job(long Length, long K, long Generate = 0, long Images = 0, long Classes = 0, long Runs = 1);

    /// <summary>The terms of the lower bound (see the class summary), by name, in bytes.</summary>
    public static IReadOnlyList<(string Term, double Bytes)> Terms(PDiffConfig c, Job j)
    {
        double n = j.Length, scoredEach = 2.0 * j.Images * j.Classes;
        var latent = c.Autoencoder is AutoencoderKind.V2OneDim or AutoencoderKind.Chunked ? (double)c.LatentDim : 0;
        var denoiser = c.Denoiser == DenoiserKind.V2OneDimCnn
            ? 3 * latent * latent * 4 * (c.EmaDecay > 0 ? 5 : 4)
            : (double)c.Timesteps * latent * 4 * 4;
        return new (string, double)[]
        {
            ("the training vectors", 8 * j.K * n + 4 * j.K * scoredEach),
            ("the autoencoder", 16 * AutoencoderParameters(c, j.Length)),
            ("an autoencoder batch", 8.0 * c.AeBatch * (n + AutoencoderFirstLayer(c, j.Length))),
            ("the denoiser", denoiser),
            ("a denoiser batch", 12.0 * c.DiffBatch * Math.Max(1, latent)),
            ("the noise schedule", 32.0 * c.Timesteps),
            ("the loss history", 40.0 * ((double)c.AeSteps + c.DiffSteps)),
            ("the validation models", 4.0 * c.ValidateModels * (n + scoredEach)),
            ("the generated models", 4.0 * j.Generate * (n + scoredEach)),
            ("the reports of every run", j.Runs * ((double)j.K + j.Generate) * 2 * j.Images / 8),
        };
    }

    /// <summary>The sum of <see cref="Terms"/>.</summary>
    public static double Bytes(PDiffConfig c, Job j) => Terms(c, j).Sum(t => t.Bytes);

    /// <summary>Parameters of the configurable autoencoders for vectors of <paramref name="length"/> numbers (0 for V1's fixed ones).</summary>
    public static double AutoencoderParameters(PDiffConfig c, long length)
    {
        var ch = c.AeChannels;
        double latent = c.LatentDim;
        switch (c.Autoencoder)
        {
            case AutoencoderKind.V2OneDim:
            {
                var padded = Math.Ceiling(length / 64.0) * 64;
                var last = Math.Max(1, padded / Math.Pow(2, ch.Length)) * ch[^1];
                double convs = 0, cin = 1;
                foreach (double x in ch) { convs += cin * x * 7 + 3 * x; cin = x; }   // encoder: conv (weight, bias), norm
                var rev = ch.Reverse().Select(x => (double)x).ToArray();
                for (var i = 0; i < rev.Length; i++)
                {
                    var cout = i + 1 < rev.Length ? rev[i + 1] : rev[^1];
                    convs += rev[i] * cout * 7 + 3 * cout;                               // decoder: transposed conv, norm
                }
                convs += rev[^1] * 7 + 1;                                                // final conv to one channel
                return convs + (last * latent + latent) + 2 * (latent * latent + latent) + (latent * last + last);
            }
            case AutoencoderKind.Chunked when ch.Length == 2:
            {
                double chunk = ch[0], width = ch[1], chunks = Math.Ceiling(length / chunk);
                return 2 * (chunk * width) + chunk + width + 2 * chunks * width * latent + latent + chunks * width;
            }
            default:
                return 0;
        }
    }

    static double AutoencoderFirstLayer(PDiffConfig c, long length) => c.Autoencoder switch
    {
        AutoencoderKind.V2OneDim => c.AeChannels[0] * Math.Ceiling(length / 64.0) * 32,
        AutoencoderKind.Chunked when c.AeChannels.Length == 2 => Math.Ceiling(length / (double)c.AeChannels[0]) * c.AeChannels[1],
        _ => 0,
    };

    /// <summary>
    /// Throws <see cref="BudgetExceededException"/> (an ArgumentOutOfRangeException) when the run cannot fit
    /// <paramref name="budget"/> (this machine when null), naming the setting to reduce and the largest value that fits.
    /// <paramref name="name"/> spells a property as the caller knows it: PDiffConfig's ("AeBatch"), and "K" and
    /// "Generate" and "Runs" for the job's counts (default "PDiffConfig.AeBatch", "K", "Generate", "Runs"; the CLI gives "--ae-batch").
    /// </summary>
    public static void CheckFits(PDiffConfig c, Job j, MachineBudget? budget = null, Func<string, string>? name = null)
    {
        budget ??= MachineBudget.Current();
        name ??= p => p is "K" or "Generate" or "Runs" ? p : $"{nameof(PDiffConfig)}.{p}";
        var bytes = Bytes(c, j);
        if (bytes <= budget.MemoryBytes) return;
        var knobs = new List<SizeKnob>
        {
            new("K", j.K, 1, v => Bytes(c, j with { K = v })),
            new(nameof(PDiffConfig.AeBatch), c.AeBatch, 1, v => Bytes(c with { AeBatch = Int(v) }, j)),
            new(nameof(PDiffConfig.DiffBatch), c.DiffBatch, 1, v => Bytes(c with { DiffBatch = Int(v) }, j)),
            new(nameof(PDiffConfig.Timesteps), c.Timesteps, Math.Max(1, c.DdimSteps), v => Bytes(c with { Timesteps = Int(v) }, j)),
            new(nameof(PDiffConfig.AeSteps), c.AeSteps, 0, v => Bytes(c with { AeSteps = Int(v) }, j)),
            new(nameof(PDiffConfig.DiffSteps), c.DiffSteps, 0, v => Bytes(c with { DiffSteps = Int(v) }, j)),
            new(nameof(PDiffConfig.ValidateModels), c.ValidateModels, 0, v => Bytes(c with { ValidateModels = Int(v) }, j)),
        };
        if (j.Generate > 0) knobs.Add(new("Generate", j.Generate, 1, v => Bytes(c, j with { Generate = v })));
        if (j.Runs > 1) knobs.Add(new("Runs", j.Runs, 1, v => Bytes(c, j with { Runs = v })));
        if (c.Autoencoder is AutoencoderKind.V2OneDim or AutoencoderKind.Chunked)
            knobs.Add(new(nameof(PDiffConfig.LatentDim), c.LatentDim, 1, v => Bytes(c with { LatentDim = Int(v) }, j)));
        if (c.Autoencoder == AutoencoderKind.V2OneDim)
        {
            var widest = c.AeChannels.Max();
            knobs.Add(new(nameof(PDiffConfig.AeChannels), widest, 1,
                v => Bytes(c with { AeChannels = c.AeChannels.Select(x => x == widest ? v : x).ToArray() }, j), "for the widest layer"));
        }
        else if (c.Autoencoder == AutoencoderKind.Chunked && c.AeChannels.Length == 2)
            knobs.Add(new(nameof(PDiffConfig.AeChannels), c.AeChannels[1], 1,
                v => Bytes(c with { AeChannels = new[] { c.AeChannels[0], v } }, j), "as the chunk width, the second number"));
        var top = Terms(c, j).OrderByDescending(t => t.Bytes).First();
        budget.CheckMemory(bytes,
            $"p-diff on {MachineBudget.FormatCount(j.K)} vectors of {MachineBudget.FormatCount(j.Length)} numbers needs at least {MachineBudget.FormatBytes(bytes)} " +
            $"({top.Term}: {MachineBudget.FormatBytes(top.Bytes)})", knobs, name);
    }

    static int Int(long v) => (int)Math.Min(v, int.MaxValue);
}
