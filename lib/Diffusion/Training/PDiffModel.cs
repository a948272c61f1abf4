using PDiff.TorchFixes;
using PDiff.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Diffusion;

/// <summary>Generated parameter vectors [M, N] in the original parameter space, and the latents [M, D] they were decoded from.</summary>
public sealed class GenerationResult : IDisposable
{
    public GenerationResult(Tensor vectors, Tensor latents) => (Vectors, Latents) = (vectors, latents);
    public Tensor Vectors { get; }
    public Tensor Latents { get; }

    public void Dispose()
    {
        Vectors.Dispose();
        Latents.Dispose();
    }
}

/// <summary>
/// A p-diff system: normaliser, parameter autoencoder, denoiser (plus its EMA copy) and the diffusion,
/// built from a <see cref="PDiffConfig"/>. It generates new parameter vectors and encodes existing ones.
/// Saved as a folder: config.json, normalizer.json, model.safetensors (keys "ae.*", "denoiser.*", "ema.*"), and for
/// a conditional model (<see cref="PDiffConfig.Condition"/>) condition.json, the condition's z-score statistics.
/// </summary>
public sealed class PDiffModel : IDisposable
{
    public PDiffConfig Config { get; }
    public ParamNormalizer Normalizer { get; }
    public ParamAutoencoder Autoencoder { get; }
    public Denoiser Denoiser { get; }
    /// <summary>The EMA copy of the denoiser, or null when EmaDecay is 0.</summary>
    public Denoiser? EmaDenoiser { get; }
    public GaussianDiffusion Diffusion { get; }
    /// <summary>How targets map to the denoiser's condition input (null for an unconditional model).</summary>
    public ConditionScaler? Condition { get; }
    public bool IsConditional => Condition is not null;
    /// <summary>The latents' standardisation for the diffusion (<see cref="PDiffConfig.StandardizeLatents"/>); null: raw latents.</summary>
    public LatentStandardizer? Latents { get; }

    /// <summary>Builds fresh (randomly initialised, from InitSeed) modules for vectors of the normaliser's length.</summary>
    /// <param name="condition">The condition statistics of the training zoo: required exactly when the configuration is conditional.</param>
    public PDiffModel(PDiffConfig config, ParamNormalizer normalizer, ConditionScaler? condition = null)
    {
        config.Validate();
        if (config.Condition != ConditionKind.None && condition is null)
            throw new ArgumentException($"The configuration conditions on {config.Condition}: pass the condition statistics of the training zoo (ConditionScaler.Fit).", nameof(condition));
        if (config.Condition == ConditionKind.None && condition is not null)
            throw new ArgumentException("Condition statistics were given for an unconditional configuration; set PDiffConfig.Condition to use them.", nameof(condition));
        if (condition is not null && condition.Kind != config.Condition)
            throw new ArgumentException($"The condition statistics are of {condition.Kind}; the configuration conditions on {config.Condition}.", nameof(condition));
        Condition = condition;
        (Config, Normalizer) = (config, normalizer);
        using var gen = new Generator((ulong)config.InitSeed);
        var n = normalizer.Length;
        Autoencoder = CreateAutoencoder(config, n, gen);
        Autoencoder.InferenceNorm = config.AeInferenceNorm;
        Denoiser = MakeDenoiser(config, Autoencoder.LatentSize, gen);
        if (config.EmaDecay > 0)
        {
            EmaDenoiser = MakeDenoiser(config, Autoencoder.LatentSize, gen);
            StateDicts.LoadStrict(EmaDenoiser, Denoiser.state_dict(), "EMA denoiser");
            foreach (var p in EmaDenoiser.parameters()) p.requires_grad = false;
            EmaDenoiser.eval();
        }
        Diffusion = new GaussianDiffusion(config.Timesteps, config.BetaStart, config.BetaEnd);
        if (config.StandardizeLatents) Latents = new LatentStandardizer(new[] { Autoencoder.LatentSize });
    }

    /// <summary>The autoencoder <paramref name="config"/> names, for vectors of <paramref name="n"/> numbers, its weights drawn from <paramref name="gen"/>.</summary>
    public static ParamAutoencoder CreateAutoencoder(PDiffConfig config, long n, Generator gen) => config.Autoencoder switch
    {
        AutoencoderKind.V1Small => ODEncoder2Decoder.Small(n, gen, config.InputNoise, config.LatentNoise),
        AutoencoderKind.V1Medium => ODEncoder2Decoder.Medium(n, gen, config.InputNoise, config.LatentNoise),
        AutoencoderKind.V2OneDim => new OneDimVAE(n, gen, config.AeChannels, config.LatentDim, 7, config.InputNoise, config.LatentNoise),
        AutoencoderKind.Chunked => new ChunkAutoencoder(n, gen, config.AeChannels[0], config.AeChannels[1], config.LatentDim, config.InputNoise, config.LatentNoise),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Autoencoder, "unknown autoencoder"),
    };

    static Denoiser MakeDenoiser(PDiffConfig c, long latentSize, Generator gen) => c.Denoiser switch
    {
        DenoiserKind.V1UNet => new AeCnnBottleneck(latentSize, c.Timesteps, gen, null, c.TimeEmbedding),
        DenoiserKind.V2OneDimCnn => new OneDimCNN(latentSize, gen, conditional: c.Condition != ConditionKind.None),
        _ => throw new ArgumentOutOfRangeException(nameof(c), c.Denoiser, "unknown denoiser"),
    };

    /// <summary>The denoiser generation uses: the EMA copy when there is one.</summary>
    public Denoiser SamplingDenoiser => EmaDenoiser ?? Denoiser;

    /// <summary>Latents [M, D] of raw parameter vectors [M, N] (for t-SNE of originals, noise baselines…), in inference mode.</summary>
    public Tensor EncodeVectors(Tensor rawVectors)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = Normalizer.Normalize(rawVectors);
        return InferenceEncode(x).MoveToOuterDisposeScope();
    }

    /// <summary>Encodes normalised vectors the way this configuration encodes after training (see AeInferenceNorm).</summary>
    internal Tensor InferenceEncode(Tensor x)
    {
        var wasTraining = Autoencoder.training;
        // V2 never leaves train mode: its latents carry the batch's statistics. Under no_grad, as V2 does.
        Autoencoder.train(Config.AeInferenceNorm == AeInferenceNorm.PerSample);
        try { return Autoencoder.Encode(x); }
        finally { Autoencoder.train(wasTraining); }
    }

    /// <summary>A scope running the denoiser in the configured precision (<see cref="PDiffConfig.Autocast"/>); null: float32.</summary>
    internal IDisposable? DenoiserPrecision() => Config.Autocast == AutocastKind.BFloat16 ? PDiff.TorchFixes.SafeConv.BFloat16Scope() : null;

    /// <summary>Vectors [M, N] in the original parameter space from latents [M, D].</summary>
    public Tensor DecodeLatents(Tensor latents)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var wasTraining = Autoencoder.training;
        Autoencoder.eval();
        try { return Normalizer.Denormalize(Autoencoder.Decode(latents)).MoveToOuterDisposeScope(); }
        finally { Autoencoder.train(wasTraining); }
    }

    /// <summary>
    /// Generates <paramref name="count"/> new parameter vectors in one batched sampling chain (or in chunks
    /// of <paramref name="chunk"/> to bound memory), with the configured sampler unless
    /// <paramref name="options"/> overrides it.
    /// </summary>
    public GenerationResult Generate(int count, Generator g, SamplerOptions? options = null, int? chunk = null, Action<int, int>? progress = null) =>
        Generate(count, g, options, chunk, progress, null);

    GenerationResult Generate(int count, Generator g, SamplerOptions? options, int? chunk, Action<int, int>? progress, GuidanceRequest? guidance)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Generate at least one model.");
        var size = chunk ?? count;
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(chunk), chunk, "Chunks hold at least one model.");
        var opts = options ?? Config.SamplerOptions;
        var latents = new List<Tensor>();
        for (var done = 0; done < count; done += size)
        {
            var n = Math.Min(size, count - done);
            var part = guidance?.Slice(done, n);
            try
            {
                // The chain's denoiser calls run in the configured precision; decoding below stays float32.
                using var mixed = DenoiserPrecision();
                var sampled = Sampler.Sample(Diffusion, SamplingDenoiser, n, opts, g, progress, part);
                if (Latents is not null)
                {
                    var standardized = sampled;
                    using (var scope = NewDisposeScope()) sampled = Latents.FromDiffusion(standardized).MoveToOuterDisposeScope();
                    standardized.Dispose();
                }
                latents.Add(sampled);
            }
            finally { part?.Condition.Dispose(); }   // a view of the caller's conditions
        }
        var z = latents.Count == 1 ? latents[0] : cat(latents, 0);
        if (latents.Count > 1) foreach (var l in latents) l.Dispose();
        return new GenerationResult(DecodeLatents(z), z);
    }

    /// <summary>
    /// Generates <paramref name="count"/> vectors asked to reach <paramref name="targets"/> (in the condition's own
    /// units, e.g. a validation accuracy of 0.885): one target for all, or one per model. Classifier-free guidance
    /// with strength <paramref name="guidance"/> (the configuration's GuidanceScale when null): 0 ignores the
    /// targets, 1 is the conditional model, above 1 pushes harder. Targets outside the training zoo's range are
    /// allowed (that is what asking for more than the best checkpoint means); NaN or infinite ones are refused.
    /// </summary>
    public GenerationResult GenerateConditional(int count, Generator g, IReadOnlyList<double> targets, double? guidance = null,
        SamplerOptions? options = null, int? chunk = null, Action<int, int>? progress = null)
    {
        if (Condition is null) throw new InvalidOperationException("This p-diff model is unconditional (PDiffConfig.Condition is None): it cannot be asked for a target.");
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Generate at least one model.");
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Count != 1 && targets.Count != count)
            throw new ArgumentException($"Give one target for all {count} models or one per model; got {targets.Count} targets.", nameof(targets));
        var w = guidance ?? Config.GuidanceScale;
        if (!double.IsFinite(w) || w < 0) throw new ArgumentOutOfRangeException(nameof(guidance), guidance, "The guidance strength must be a finite number ≥ 0.");
        var z = Condition.Normalize(targets, nameof(targets));
        if (z.Length == 1 && count > 1) z = Enumerable.Repeat(z[0], count).ToArray();
        using var cond = tensor(z);
        var request = new GuidanceRequest(cond, w);
        return Generate(count, g, options, chunk, progress, request);
    }

    // ---- persistence ----
    public IEnumerable<KeyValuePair<string, Tensor>> NamedState()
    {
        foreach (var kv in StateDicts.Named(Autoencoder, "ae")) yield return kv;
        foreach (var kv in StateDicts.Named(Denoiser, "denoiser")) yield return kv;
        if (EmaDenoiser is not null)
            foreach (var kv in StateDicts.Named(EmaDenoiser, "ema")) yield return kv;
        if (Latents is not null)
            foreach (var kv in StateDicts.Named(Latents, "latent")) yield return kv;
    }

    /// <summary>Loads weights saved by <see cref="NamedState"/> (strict: every key of every part must be there).</summary>
    public void LoadNamedState(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        void Part(nn.Module m, string prefix)
        {
            var mine = state.Where(kv => kv.Key.StartsWith(prefix + ".", StringComparison.Ordinal))
                .Select(kv => new KeyValuePair<string, Tensor>(kv.Key[(prefix.Length + 1)..], kv.Value)).ToList();
            try { StateDicts.LoadStrict(m, mine, prefix); }
            catch (Exception e) when (e is KeyNotFoundException or ArgumentException)
            { throw new InvalidDataException($"'{source}' does not match this configuration's {prefix}: {e.Message}", e); }
        }
        Part(Autoencoder, "ae");
        Part(Denoiser, "denoiser");
        if (EmaDenoiser is not null) Part(EmaDenoiser, "ema");
        if (Latents is not null) Part(Latents, "latent");
    }

    public const string ConditionFile = "condition.json";

    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        PDiff.Storage.AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), ConfigText.ToJson(Config));
        Normalizer.Save(Path.Combine(dir, "normalizer.json"));
        Condition?.Save(Path.Combine(dir, ConditionFile));
        Safetensors.Save(Path.Combine(dir, "model.safetensors"), NamedState().ToDictionary(kv => kv.Key, kv => kv.Value),
            new Dictionary<string, string> { ["format"] = "pdiff-model" });
    }

    public static PDiffModel Load(string dir)
    {
        var cfgPath = Path.Combine(dir, "config.json");
        if (!File.Exists(cfgPath)) throw new FileNotFoundException($"No p-diff model in '{dir}': config.json is missing.", cfgPath);
        var config = ConfigText.FromJson(File.ReadAllText(cfgPath));
        var condition = config.Condition != ConditionKind.None ? ConditionScaler.Load(Path.Combine(dir, ConditionFile)) : null;
        var model = new PDiffModel(config, ParamNormalizer.Load(Path.Combine(dir, "normalizer.json")), condition);
        try
        {
            var weights = Path.Combine(dir, "model.safetensors");
            using var content = Safetensors.LoadParameters(weights);
            model.LoadNamedState(content.Tensors, weights);
            model.Autoencoder.eval();
            model.Denoiser.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Autoencoder.Dispose();
        Denoiser.Dispose();
        EmaDenoiser?.Dispose();
        Latents?.Dispose();
        Diffusion.Dispose();
    }
}
