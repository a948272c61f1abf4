// Console timer for lib/Diffusion, the C# side of /work/shared/bench/torch_v2_reference.py: the same
// measurements (training steps at the reference batch sizes, generation of 200 models in one batched
// chain), one JSON line each. Usage: PDiff.Bench.Diffusion [threads] [names…]; names: v2_ae v2_denoiser
// v1_ae v1_denoiser gen_v2_ddpm gen_v2_ddim gen_v1_ddpm gen_v1_ddim (default: all), and the in-process
// A/B comparisons ab_v2_ae_layout ab_v2_denoiser_layout ab_v2_sampling_step ab_conv_im2col (only when named).
// Environment: PDIFF_BENCH_STEPS (timed steps, default 10), PDIFF_BENCH_CHANNELS_LAST=1 (the V2 modules on
// channels-last activations instead of the default [B, C, L]), PDIFF_NATIVE_HEAP=default (glibc's malloc
// defaults instead of NativeHeap's), PDIFF_BENCH_VERBOSE=1 (generation progress on stderr).
// The engine before TorchSharp had the same program (git history); bench/README.md runs the two side by side.
using PDiff.TorchFixes;
using System.Diagnostics;
using System.Globalization;
using PDiff.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

var threads = args.Length > 0 && int.TryParse(args[0], out var th) ? th : 2;
var wanted = args.Skip(args.Length > 0 && int.TryParse(args[0], out _) ? 1 : 0).ToHashSet();
bool Want(string n) => wanted.Contains(n) || (wanted.Count == 0 && !n.StartsWith("ab_"));
if (threads < 1) { Console.Error.WriteLine($"threads must be ≥ 1 (got {threads})"); return 2; }
torch.set_num_threads(threads);
const int N = 2048;
var steps = int.TryParse(Environment.GetEnvironmentVariable("PDIFF_BENCH_STEPS"), out var st) ? st : 10;
var channelsLast = Environment.GetEnvironmentVariable("PDIFF_BENCH_CHANNELS_LAST") == "1";
// What the pdiff CLI does first (process-wide settings are the entry point's, see ProcessSettings).
var heap = ProcessSettings.Apply();
Console.WriteLine($"{{\"threads\": {threads}, \"libtorch\": \"{torch.__version__}\", \"engine\": \"TorchSharp\", " +
    $"\"channels_last\": {(channelsLast ? "true" : "false")}, \"native_heap\": {(heap ? "true" : "false")}}}");

void Emit(string what, int batch, (double Mean, double Min, double Cpu) s) =>
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{{\"what\": \"{what}\", \"batch\": {batch}, \"seconds\": {s.Mean:F4}, \"min_seconds\": {s.Min:F4}, \"cpu_seconds\": {s.Cpu:F4}, \"steps_per_s\": {1 / s.Mean:F3}}}"));

// Mean and fastest wall time of n calls after two warm-ups, and the process CPU time per call: on a
// shared machine the CPU time (at 1 thread) is the figure that other jobs disturb least.
static (double Mean, double Min, double Cpu) Time(Action step, int n)
{
    step(); step();
    var times = new double[n];
    var proc = Process.GetCurrentProcess();
    var cpu0 = proc.TotalProcessorTime;
    for (var i = 0; i < n; i++)
    {
        var w = Stopwatch.StartNew();
        step();
        times[i] = w.Elapsed.TotalSeconds;
    }
    proc.Refresh();
    return (times.Average(), times.Min(), (proc.TotalProcessorTime - cpu0).TotalSeconds / n);
}

void AeBench(string name, Func<Generator, ParamAutoencoder> make, int batch, double lr, bool noisyTarget)
{
    using var g = new Generator(0);
    using var ae = make(g);
    if (ae is OneDimVAE v) v.UseChannelsLast = channelsLast;
    using var data = torch.randn(new long[] { 200, N }, generator: g);
    using var opt = torch.optim.AdamW(ae.parameters(), lr, weight_decay: 0);
    ae.train();
    Emit(name, batch, Time(() =>
    {
        using var scope = torch.NewDisposeScope();
        var x = data.index_select(0, torch.randint(0, 200, new long[] { batch }, generator: g));
        var loss = ae.TrainingLoss(x, g, noisyTarget);
        ae.zero_grad();                    // as PDiffTrainer: gradients set to none
        loss.backward();
        OptimizerSteps.Step(opt);
    }, steps));
}

void DenoiserBench(string name, Func<Generator, Denoiser> make, int batch, double lr)
{
    using var g = new Generator(0);
    using var den = make(g);
    if (den is OneDimCNN cnn) cnn.UseChannelsLast = channelsLast;
    using var diffusion = new GaussianDiffusion();
    using var lat = torch.randn(new long[] { 200, den.LatentSize }, generator: g);
    using var opt = torch.optim.AdamW(den.parameters(), lr, weight_decay: 0);
    den.train();
    Emit(name, batch, Time(() =>
    {
        using var scope = torch.NewDisposeScope();
        var x0 = lat.index_select(0, torch.randint(0, 200, new long[] { batch }, generator: g));
        var loss = diffusion.TrainingLoss(den, x0, g);
        den.zero_grad();
        loss.backward();
        OptimizerSteps.Step(opt);
    }, steps));
}

void GenerateBench(string name, PDiffConfig cfg, SamplerOptions opts)
{
    using var model = new PDiffModel(cfg, ParamNormalizer.Identity(N));
    if (model.Autoencoder is OneDimVAE v) v.UseChannelsLast = channelsLast;
    if (model.SamplingDenoiser is OneDimCNN c) c.UseChannelsLast = channelsLast;
    using var g = new Generator(1);
    var proc = Process.GetCurrentProcess();
    var cpu0 = proc.TotalProcessorTime;
    var w = Stopwatch.StartNew();
    var verbose = Environment.GetEnvironmentVariable("PDIFF_BENCH_VERBOSE") == "1";
    using (var r = model.Generate(200, g, opts, progress: (i, n) => { if (verbose && i % 10 == 0) Console.Error.WriteLine($"  {name} step {i}/{n} at {w.Elapsed.TotalSeconds:F1}s"); }))
        Console.Error.Write("");
    var s = w.Elapsed.TotalSeconds;
    proc.Refresh();
    var cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
    var steps = opts.Kind == SamplerKind.Ddpm ? cfg.Timesteps : opts.Steps;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{{\"what\": \"{name}\", \"models\": 200, \"sampler\": \"{opts.Kind}\", \"steps\": {steps}, \"seconds\": {s:F2}, \"cpu_seconds\": {cpu:F2}}}"));
}

if (Want("v2_ae")) AeBench("v2_ae_train_step", g => new OneDimVAE(N, g), 50, 2e-5, noisyTarget: true);
if (Want("v2_denoiser")) DenoiserBench("v2_denoiser_train_step", g => new OneDimCNN(128, g), 50, 1e-4);
if (Want("v1_ae")) AeBench("v1_ae_train_step", g => ODEncoder2Decoder.Medium(N, g, 0.001, 0.5), 200, 1e-3, noisyTarget: false);
if (Want("v1_denoiser")) DenoiserBench("v1_denoiser_train_step", g => new AeCnnBottleneck(12, 1000, g, null, TimeEmbeddingMode.PerSample), 200, 1e-3);
var v2 = PDiffConfig.V2;
var v1 = PDiffConfig.V1;
if (Want("gen_v2_ddpm")) GenerateBench("v2_generate_200_models", v2, v2.SamplerOptions);
if (Want("gen_v2_ddim")) GenerateBench("v2_generate_200_models", v2, v2.SamplerOptions with { Kind = SamplerKind.Ddim, Steps = 50 });
if (Want("gen_v1_ddpm")) GenerateBench("v1_generate_200_models", v1, v1.SamplerOptions);
if (Want("gen_v1_ddim")) GenerateBench("v1_generate_200_models", v1, v1.SamplerOptions with { Kind = SamplerKind.Ddim, Steps = 50 });
// ---- in-process A/B: variants of one switch alternate call by call in one process, so load from other
// jobs hits all of them alike (the figures bench/README.md gives for each optimisation) ----
void AB(string name, int batch, params (string Variant, Action Step)[] variants)
{
    // PDIFF_BENCH_AB_REVERSE=1 runs the variants in the opposite order, to check that the order does not matter.
    if (Environment.GetEnvironmentVariable("PDIFF_BENCH_AB_REVERSE") == "1") variants = variants.Reverse().ToArray();
    foreach (var (_, step) in variants) { step(); step(); }
    var wall = variants.Select(_ => new List<double>()).ToArray();
    var cpu = variants.Select(_ => new List<double>()).ToArray();
    var proc = Process.GetCurrentProcess();
    for (var r = 0; r < steps; r++)
        for (var i = 0; i < variants.Length; i++)
        {
            proc.Refresh();
            var c0 = proc.TotalProcessorTime;
            var w = Stopwatch.StartNew();
            variants[i].Step();
            wall[i].Add(w.Elapsed.TotalSeconds);
            proc.Refresh();
            cpu[i].Add((proc.TotalProcessorTime - c0).TotalSeconds);
        }
    for (var i = 0; i < variants.Length; i++)
    {
        var c = cpu[i].OrderBy(x => x).ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"what\": \"{name}\", \"variant\": \"{variants[i].Variant}\", \"batch\": {batch}, \"seconds\": {wall[i].Average():F4}, \"min_seconds\": {wall[i].Min():F4}, \"cpu_seconds\": {cpu[i].Average():F4}, \"min_cpu_seconds\": {c[0]:F4}, \"median_cpu_seconds\": {c[c.Length / 2]:F4}}}"));
    }
}

if (Want("ab_v2_ae_layout"))
{
    using var g = new Generator(0);
    using var ae = new OneDimVAE(N, g);
    using var data = torch.randn(new long[] { 200, N }, generator: g);
    using var opt = torch.optim.AdamW(ae.parameters(), 2e-5, weight_decay: 0);
    ae.train();
    Action Step(bool cl) => () =>
    {
        ae.UseChannelsLast = cl;
        using var scope = torch.NewDisposeScope();
        var loss = ae.TrainingLoss(data.index_select(0, torch.randint(0, 200, new long[] { 50 }, generator: g)), g, true);
        ae.zero_grad();
        loss.backward();
        OptimizerSteps.Step(opt);
    };
    AB("v2_ae_train_step", 50, ("plain", Step(false)), ("channels_last", Step(true)));
}
if (Want("ab_v2_denoiser_layout"))
{
    using var g = new Generator(0);
    using var den = new OneDimCNN(128, g);
    using var diffusion = new GaussianDiffusion();
    using var lat = torch.randn(new long[] { 200, 128 }, generator: g);
    using var opt = torch.optim.AdamW(den.parameters(), 1e-4, weight_decay: 0);
    den.train();
    Action Step(bool cl) => () =>
    {
        den.UseChannelsLast = cl;
        using var scope = torch.NewDisposeScope();
        var loss = diffusion.TrainingLoss(den, lat.index_select(0, torch.randint(0, 200, new long[] { 50 }, generator: g)), g);
        den.zero_grad();
        loss.backward();
        OptimizerSteps.Step(opt);
    };
    AB("v2_denoiser_train_step", 50, ("plain", Step(false)), ("channels_last", Step(true)));
}
if (Want("ab_v2_sampling_step"))
{
    // One step of the 200-model chain: the denoiser in eval mode without gradients.
    using var g = new Generator(0);
    using var den = new OneDimCNN(128, g);
    den.eval();
    using var x = torch.randn(new long[] { 200, 128 }, generator: g);
    using var t = torch.full(new long[] { 200 }, 500L, ScalarType.Int64);
    Action Step(bool cl, bool fuse) => () =>
    {
        (den.UseChannelsLast, den.FuseNormsInEval) = (cl, fuse);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        den.forward(x, t);
    };
    AB("v2_sampling_step", 200, ("plain_fused", Step(false, true)), ("plain", Step(false, false)),
        ("channels_last_fused", Step(true, true)), ("channels_last", Step(true, false)));
}
if (Want("ab_conv_im2col"))
{
    // The denoiser's stride-1 k7 convolutions at batch 50, L = 128, forward + backward: oneDNN's direct
    // convolution (through SafeConv) against unfold + batched matmul (BLAS), which oneDNN's bug cannot touch.
    using var g = new Generator(0);
    foreach (var (cin, cout) in new (long, long)[] { (1, 64), (64, 128), (128, 256), (256, 512), (512, 256), (256, 128), (128, 64), (64, 1) })
    {
        using var x = torch.randn(new long[] { 50, cin, 128 }, generator: g).requires_grad_(true);
        using var w = torch.randn(new long[] { cout, cin, 7 }, generator: g).requires_grad_(true);
        using var b = torch.randn(new long[] { cout }, generator: g).requires_grad_(true);
        using var up = torch.randn(new long[] { 50, cout, 128 }, generator: g);
        Action Step(bool im2col) => () =>
        {
            using var scope = torch.NewDisposeScope();
            var y = im2col ? Im2Col(x, w, b, 3) : PDiff.TorchFixes.SafeConv.Conv(x, w, b, 1, 3, 1, 1);
            y.mul(up).sum().backward();
            x.grad!.zero_(); w.grad!.zero_(); b.grad!.zero_();
        };
        AB($"conv1d_{cin}_{cout}_fwd_bwd", 50, ("onednn", Step(false)), ("im2col", Step(true)));
    }
}
static Tensor Im2Col(Tensor x, Tensor w, Tensor b, long pad)
{
    var (bsz, cin, len) = (x.size(0), x.size(1), x.size(2));
    var (cout, k) = (w.size(0), w.size(2));
    var cols = torch.nn.functional.pad(x, new[] { pad, pad }).unfold(2, k, 1)      // [B, Cin, L, k]
        .permute(0, 1, 3, 2).reshape(bsz, cin * k, len);                           // [B, Cin·k, L]
    return torch.matmul(w.reshape(cout, cin * k), cols).add(b.unsqueeze(1));       // [B, Cout, L]
}
return 0;
