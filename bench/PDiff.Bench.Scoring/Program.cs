// Scoring subset vectors (issue 12: evaluation has the most room): ConvNet-3 with 32/64/128 channels, its last two BN
// layers, as the full-v2 profile scores them. In one process, variants measured side by side (best of 3):
//   1. the cached scorer at several rows per tail forward (null = CachedScorer's default budget);
//   2. the 3×3 convolution on 7×7 maps that dominates the tail, NCHW against channels-last activations;
//   3. batch norm + ReLU + pool on 14×14 maps at two batch sizes (glibc's mmap threshold);
//   4. a 2048² sgemm, the yardstick.
// Usage: dotnet bench/PDiff.Bench.Scoring/bin/Release/net10.0/PDiff.Bench.Scoring.dll [images=2000] [threads=2]
// PDIFF_NATIVE_HEAP=default keeps glibc's own malloc settings (the zoo build before NativeHeap served it).
using System.Diagnostics;
using PDiff.Studies;
using PDiff.TorchFixes;
using PDiff.Models;
using PDiff.Zoo;
using static TorchSharp.torch;

TorchRuntime.EnsureLoaded();
var n = args.Length > 0 ? int.Parse(args[0]) : 2000;
set_num_threads(args.Length > 1 ? int.Parse(args[1]) : 2);
Console.WriteLine($"native heap kept: {ProcessSettings.Apply()}, threads {get_num_threads()}, {n} images");
var spec = ModelRegistry.Complete(new ModelSpec { Arch = "convnet3", Channels = new[] { 32, 64, 128 } });
using var model = ModelRegistry.Create(spec, 1);
model.eval();
var layout = Subsets.Resolve(model, "last-two-norms");
using var g = new Generator(3);
var x = randn(new long[] { n, 1, 28, 28 }, generator: g);
var y = randint(0, 10, new long[] { n }, generator: g);
var vecs = Subsets.Flatten(model, layout).unsqueeze(0).repeat(32, 1).add(randn(new long[] { 32, layout.Length }, generator: g).mul(0.01));

double Best(Action a, int reps = 3)
{
    a();
    var best = double.MaxValue;
    for (var r = 0; r < reps; r++) { var c = Stopwatch.StartNew(); a(); best = Math.Min(best, c.Elapsed.TotalSeconds); }
    return best;
}

foreach (var rows in new int?[] { null, 512, 1024, 4096 })
{
    using var s = new CachedScorer(model, layout, new LabeledImages(x, y), new LabeledImages(x, y), 500, rows, 64);
    var t = Best(() => s.Score(vecs, EvalSplit.Validation));
    Console.WriteLine($"scorer, rows per forward {(rows?.ToString() ?? "default"),7}: {t / 32 / n * 1e6,7:F1} µs per model and image");
}
var conv = (TorchSharp.Modules.Conv2d)model.named_modules().First(m => m.name == "features.8").module;
var bn = (TorchSharp.Modules.BatchNorm2d)model.named_modules().First(m => m.name == "features.5").module;
using (no_grad())
    foreach (var b in new[] { 512, 4096 })
    {
        var a = randn(b, 64, 7, 7);
        var flop = 2.0 * b * 49 * 128 * 64 * 9;
        var nchw = Best(() => { using var o = nn.functional.conv2d(a, conv.weight!, conv.bias!, padding: new long[] { 1, 1 }); });
        var cl = a.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        var nhwc = Best(() => { using var o = nn.functional.conv2d(cl, conv.weight!, conv.bias!, padding: new long[] { 1, 1 }); });
        var maps = randn(b, 64, 14, 14);
        var elementwise = Best(() => { using var o1 = bn.forward(maps); using var o2 = nn.functional.relu(o1); using var o3 = nn.functional.avg_pool2d(o2, 2); });
        Console.WriteLine($"batch {b}: conv 64→128 3×3 on 7×7 NCHW {flop / nchw / 1e9:F0} GFLOP/s, channels-last {flop / nhwc / 1e9:F0} GFLOP/s; BN+ReLU+pool on 14×14 {elementwise / b * 1e6:F1} µs a row");
    }
Console.WriteLine($"sgemm 2048²: {MatmulPeak.GflopPerSecond():F0} GFLOP/s");
