// float32 convolutions of libtorch (through stock TorchSharp) against float64, which libtorch computes
// without oneDNN. Prints the machine, the versions and every shape whose float32 result is off.
// `--no-onednn`: the same with at::globalContext().setUserEnabledMkldnn(false), what PyTorch's
// torch.backends.mkldnn.enabled = False calls (TorchSharp does not expose it), to show the native kernels.
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

set_num_threads(1);   // the same results at 2 threads; one keeps the run short and deterministic
var noOneDnn = args.Contains("--no-onednn");
if (noOneDnn) AtContext.SetUserEnabledMkldnn(AtContext.Global(), false);
var cpu = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").ToList() : new List<string>();
string Field(string name) => cpu.FirstOrDefault(l => l.StartsWith(name))?.Split(':', 2)[1].Trim() ?? "?";
Console.WriteLine($"CPU: {Field("model name")} (family {Field("cpu family")}, model {Field("model\t")}); " +
                  $"AVX-512 flags: {string.Join(" ", Field("flags").Split(' ').Where(f => f.StartsWith("avx512")))}");
Console.WriteLine($"libtorch {__version__}, TorchSharp {typeof(torch).Assembly.GetName().Version}, .NET {Environment.Version}, " +
                  $"threads {get_num_threads()}, ONEDNN_MAX_CPU_ISA={Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") ?? "(unset)"}, " +
                  $"oneDNN (mkldnn) {(noOneDnn ? "disabled" : "enabled")}");

// Frees NaN-filled blocks of the sizes the next tensors take, so that memory a kernel reads without
// writing it first holds NaN instead of the zeros of fresh pages.
static void DirtyHeap()
{
    for (var i = 0; i < 7; i++) full(new long[] { 256L << i }, float.NaN).Dispose();
}

// Relative max error of float32 against float64: output, input gradient, weight gradient (NaN -> +inf).
static (double Y, double Dx, double Dw) Errors(long[] xShape, long[] wShape, Func<Tensor, Tensor, Tensor> conv, bool dirty, Generator gen)
{
    using var scope = NewDisposeScope();
    var x64 = randn(xShape, ScalarType.Float64, generator: gen);
    var w64 = randn(wShape, ScalarType.Float64, generator: gen);
    Tensor? up = null;
    (Tensor Y, Tensor Dx, Tensor Dw) Run(ScalarType dt)
    {
        var x = x64.to(dt).detach().requires_grad_(true);
        var w = w64.to(dt).detach().requires_grad_(true);
        if (dt == ScalarType.Float32 && dirty) DirtyHeap();
        var y = conv(x, w);
        up ??= randn(y.shape, ScalarType.Float64, generator: gen);
        y.mul(up.to(dt)).sum().backward();
        return (y.detach(), x.grad!, w.grad!);
    }
    var r = Run(ScalarType.Float64);
    var f = Run(ScalarType.Float32);
    static double Err(Tensor a, Tensor b)
    {
        var e = a.to(ScalarType.Float64).sub(b).abs().max().item<double>() / b.abs().max().item<double>();
        return double.IsNaN(e) ? double.PositiveInfinity : e;
    }
    return (Err(f.Y, r.Y), Err(f.Dx, r.Dx), Err(f.Dw, r.Dw));
}

const double Tol = 1e-3;   // float32 rounding here is ~1e-6
static string Show(double e) => double.IsPositiveInfinity(e) ? "NaN" : e < Tol ? "ok" : e.ToString("0.0e0");

using var gen = new Generator(2024);

// 1. The named shapes.
Console.WriteLine();
Console.WriteLine("shape                                  heap   output   input grad  weight grad");
var named = new (string Name, long[] X, long[] W, Func<Tensor, Tensor, Tensor> Conv)[]
{
    ("conv1d 8->8 k3, x [4,8,32]", new long[] { 4, 8, 32 }, new long[] { 8, 8, 3 }, (x, w) => F.conv1d(x, w, padding: 1)),
    ("conv1d 16->16 k3, x [4,16,32]", new long[] { 4, 16, 32 }, new long[] { 16, 16, 3 }, (x, w) => F.conv1d(x, w, padding: 1)),
    ("conv1d 24->24 k3, x [4,24,32]", new long[] { 4, 24, 32 }, new long[] { 24, 24, 3 }, (x, w) => F.conv1d(x, w, padding: 1)),
    ("conv2d 8->8 k3, x [4,8,10,10]", new long[] { 4, 8, 10, 10 }, new long[] { 8, 8, 3, 3 }, (x, w) => F.conv2d(x, w, padding: new long[] { 1, 1 })),
    ("conv2d 20->16 k3, x [4,20,10,10]", new long[] { 4, 20, 10, 10 }, new long[] { 16, 20, 3, 3 }, (x, w) => F.conv2d(x, w, padding: new long[] { 1, 1 })),
    ("conv2d 24->24 k3, x [4,24,14,14]", new long[] { 4, 24, 14, 14 }, new long[] { 24, 24, 3, 3 }, (x, w) => F.conv2d(x, w, padding: new long[] { 1, 1 })),
    ("conv2d 40->16 k3 s2, x [4,40,10,10]", new long[] { 4, 40, 10, 10 }, new long[] { 16, 40, 3, 3 }, (x, w) => F.conv2d(x, w, strides: new long[] { 2, 2 }, padding: new long[] { 1, 1 })),
};
foreach (var (name, xs, ws, conv) in named)
    foreach (var dirty in new[] { false, true })
    {
        var (y, dx, dw) = Errors(xs, ws, conv, dirty, gen);
        Console.WriteLine($"{name,-38} {(dirty ? "dirty" : "fresh"),-6} {Show(y),-8} {Show(dx),-11} {Show(dw)}");
    }

// 2. conv1d over 12 x 12 channel counts (kernel 3, padding 1, batch 4, length 32), on a dirty heap.
var counts = new long[] { 1, 2, 3, 4, 8, 12, 16, 17, 20, 24, 32, 40 };
int wrong = 0, wrongY = 0, wrongDx = 0, wrongDw = 0, n = 0;
var ruleMisses = new List<string>();
Console.WriteLine();
Console.WriteLine("conv1d k3 on a dirty heap, rows: input channels, columns: output channels; Y = output wrong, X = input grad wrong, W = weight grad wrong");
Console.WriteLine("cin\\cout " + string.Concat(counts.Select(c => $"{c,4}")));
foreach (var cin in counts)
{
    var row = $"{cin,8} ";
    foreach (var cout in counts)
    {
        var (y, dx, dw) = Errors(new long[] { 4, cin, 32 }, new long[] { cout, cin, 3 }, (x, w) => F.conv1d(x, w, padding: 1), true, gen);
        n++;
        var mark = (y >= Tol ? "Y" : "") + (dx >= Tol ? "X" : "") + (dw >= Tol ? "W" : "");
        if (mark.Length > 0) wrong++;
        if (y >= Tol) wrongY++;
        if (dx >= Tol) wrongDx++;
        if (dw >= Tol) wrongDw++;
        // The pattern observed: forward wrong iff cin > 16 and cin % 16 != 0; input grad wrong iff cout % 16 != 0.
        if ((y >= Tol) != (cin > 16 && cin % 16 != 0) || (dx >= Tol) != (cout % 16 != 0)) ruleMisses.Add($"{cin}->{cout}: {(mark.Length > 0 ? mark : "ok")}");
        row += $"{(mark.Length > 0 ? mark : "."),4}";
    }
    Console.WriteLine(row);
}
Console.WriteLine($"{wrong} of {n} conv1d shapes wrong (output {wrongY}, input gradient {wrongDx}, weight gradient {wrongDw}).");
Console.WriteLine(ruleMisses.Count == 0
    ? "Every wrong output has input channels above 16 and not a multiple of 16; every wrong input gradient has output channels not a multiple of 16; and every such shape is wrong."
    : $"Shapes off the pattern (forward wrong iff cin > 16 and cin % 16 != 0; input grad wrong iff cout % 16 != 0): {string.Join(", ", ruleMisses)}");

// ATen's public C++ API (ATen/Context.h), as exported by libtorch_cpu.so (Itanium C++ ABI: Linux, macOS).
static class AtContext
{
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    public static extern IntPtr Global();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    public static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
}
