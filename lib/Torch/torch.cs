namespace PDiff.Torch;

/// <summary>
/// Tensor factories, random draws, grad-mode and dispose scopes, threads and devices, in TorchSharp's
/// spelling (<c>torch.zeros</c>, <c>torch.randn</c>, <c>torch.no_grad()</c>).
/// </summary>
public static partial class torch
{
    public static string Version => System.Runtime.InteropServices.Marshal.PtrToStringUTF8(Native.pd_torch_version()) ?? "?";
    /// <summary>libtorch's description of its thread pools and backends (OpenMP, MKL, oneDNN).</summary>
    public static string ParallelInfo => System.Runtime.InteropServices.Marshal.PtrToStringUTF8(Native.pd_parallel_info()) ?? "";

    // ---- scopes ----
    public static DisposeScope NewDisposeScope() => new();
    public static GradModeGuard no_grad() => new(false);
    public static GradModeGuard enable_grad() => new(true);
    public static bool is_grad_enabled() => Native.pd_grad_enabled() != 0;

    // ---- threads and devices ----
    /// <summary>Intra-op threads; libtorch uses all cores unless told otherwise.</summary>
    public static int get_num_threads() => Native.pd_get_num_threads();
    public static void set_num_threads(int n)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "Thread count must be at least 1.");
        Native.pd_set_num_threads(n);
    }

    public static class cuda
    {
        public static bool is_available() => Native.pd_cuda_is_available() != 0;
        public static int device_count() => Native.pd_cuda_device_count();
    }

    /// <summary>Native tensors alive right now (handles not yet freed); for leak tests and diagnostics.</summary>
    public static long LiveTensorCount => Native.pd_live_tensors();
    /// <summary>Bytes in use on the C heap (libtorch's CPU allocator draws from it).</summary>
    public static long NativeHeapBytes => Native.pd_heap_bytes();

    // ---- from .NET data ----
    public static unsafe Tensor from_span<T>(ReadOnlySpan<T> data, long[] shape, Device? device = null) where T : unmanaged
    {
        long n = 1;
        foreach (var s in shape) n *= s;
        if (n != data.Length)
            throw new ArgumentException($"{data.Length} values cannot fill shape {TorchException.ShapeString(shape)} ({n} elements).", nameof(shape));
        var d = device ?? Device.CPU;
        fixed (T* p = data)
        fixed (long* sp = shape)
            return Tensor.Check(Native.pd_from_host(p, sp, shape.Length, (int)ScalarTypes.Of<T>(), (int)d.Type, d.Index), "tensor");
    }

    public static Tensor tensor(float[] data, params long[] shape) => from_span<float>(data, shape.Length == 0 ? new long[] { data.Length } : shape);
    public static Tensor tensor(double[] data, params long[] shape) => from_span<double>(data, shape.Length == 0 ? new long[] { data.Length } : shape);
    public static Tensor tensor(long[] data, params long[] shape) => from_span<long>(data, shape.Length == 0 ? new long[] { data.Length } : shape);
    public static Tensor tensor(int[] data, params long[] shape) => from_span<int>(data, shape.Length == 0 ? new long[] { data.Length } : shape);
    public static Tensor tensor(bool[] data, params long[] shape) => from_span<bool>(data, shape.Length == 0 ? new long[] { data.Length } : shape);
    public static Tensor tensor(byte[] data, params long[] shape) => from_span<byte>(data, shape.Length == 0 ? new long[] { data.Length } : shape);
    public static Tensor tensor(double value, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var d = device ?? Device.CPU;
        return Tensor.Check(Native.pd_scalar_tensor(value, (int)dtype, (int)d.Type, d.Index), "scalar_tensor");
    }

    // ---- filled ----

    static unsafe Tensor Make(long[] shape, ScalarType dtype, Device? device, string op, delegate*<long*, int, int, int, int, IntPtr> f)
    {
        var d = device ?? Device.CPU;
        fixed (long* p = shape) return Tensor.Check(f(p, shape.Length, (int)dtype, (int)d.Type, d.Index), op);
    }

    public static unsafe Tensor empty(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null) => Make(shape, dtype, device, "empty", &Native.pd_empty);
    public static unsafe Tensor zeros(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null) => Make(shape, dtype, device, "zeros", &Native.pd_zeros);
    public static unsafe Tensor ones(long[] shape, ScalarType dtype = ScalarType.Float32, Device? device = null) => Make(shape, dtype, device, "ones", &Native.pd_ones);
    public static Tensor zeros(params long[] shape) => zeros(shape, ScalarType.Float32);
    public static Tensor ones(params long[] shape) => ones(shape, ScalarType.Float32);

    public static unsafe Tensor full(long[] shape, double value, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var d = device ?? Device.CPU;
        fixed (long* p = shape) return Tensor.Check(Native.pd_full(p, shape.Length, value, (int)dtype, (int)d.Type, d.Index), "full");
    }

    public static Tensor zeros_like(Tensor a) => Tensor.Check(Native.pd_zeros_like(a.Handle), "zeros_like", a);
    public static Tensor ones_like(Tensor a) => Tensor.Check(Native.pd_ones_like(a.Handle), "ones_like", a);

    public static Tensor arange(double start, double end, double step = 1, ScalarType dtype = ScalarType.Int64, Device? device = null)
    {
        var d = device ?? Device.CPU;
        return Tensor.Check(Native.pd_arange(start, end, step, (int)dtype, (int)d.Type, d.Index), "arange");
    }

    public static Tensor arange(long end, ScalarType dtype = ScalarType.Int64) => arange(0, end, 1, dtype);

    public static Tensor linspace(double start, double end, long steps, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var d = device ?? Device.CPU;
        return Tensor.Check(Native.pd_linspace(start, end, steps, (int)dtype, (int)d.Type, d.Index), "linspace");
    }

    public static Tensor eye(long n, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var d = device ?? Device.CPU;
        return Tensor.Check(Native.pd_eye(n, (int)dtype, (int)d.Type, d.Index), "eye");
    }

    // ---- random (always from an explicit generator) ----
    static unsafe Tensor Random(long[] shape, Generator g, ScalarType dtype, Device? device, string op, delegate*<long*, int, IntPtr, int, int, int, IntPtr> f)
    {
        var d = device ?? Device.CPU;
        fixed (long* p = shape) return Tensor.Check(f(p, shape.Length, g.Handle, (int)dtype, (int)d.Type, d.Index), op);
    }

    /// <summary>Standard normal draws.</summary>
    public static unsafe Tensor randn(long[] shape, Generator g, ScalarType dtype = ScalarType.Float32, Device? device = null) => Random(shape, g, dtype, device, "randn", &Native.pd_randn);
    /// <summary>Uniform draws in [0, 1).</summary>
    public static unsafe Tensor rand(long[] shape, Generator g, ScalarType dtype = ScalarType.Float32, Device? device = null) => Random(shape, g, dtype, device, "rand", &Native.pd_rand);

    /// <summary>Integers uniform in [low, high), int64.</summary>
    public static unsafe Tensor randint(long low, long high, long[] shape, Generator g, Device? device = null)
    {
        var d = device ?? Device.CPU;
        fixed (long* p = shape) return Tensor.Check(Native.pd_randint(low, high, p, shape.Length, g.Handle, (int)d.Type, d.Index), "randint");
    }

    public static Tensor randperm(long n, Generator g, Device? device = null)
    {
        var d = device ?? Device.CPU;
        return Tensor.Check(Native.pd_randperm(n, g.Handle, (int)d.Type, d.Index), "randperm");
    }

    public static Tensor randn_like(Tensor a, Generator g) => randn(a.shape, g, a.dtype, a.device);
    public static Tensor rand_like(Tensor a, Generator g) => rand(a.shape, g, a.dtype, a.device);
    /// <summary>0/1 draws with probability p, shaped and typed like <paramref name="like"/>.</summary>
    public static Tensor bernoulli(Tensor like, double p, Generator g) => Tensor.Check(Native.pd_bernoulli(like.Handle, p, g.Handle), "bernoulli", like);

    // ---- combining ----
    static unsafe Tensor List(IReadOnlyList<Tensor> ts, long dim, string op, delegate*<IntPtr*, int, long, IntPtr> f)
    {
        if (ts.Count == 0) throw new ArgumentException($"{op} needs at least one tensor.");
        var hs = new IntPtr[ts.Count];
        for (var i = 0; i < hs.Length; i++) hs[i] = ts[i].Handle;
        fixed (IntPtr* p = hs) return Tensor.Check(f(p, hs.Length, dim), op, ts.ToArray());
    }

    public static unsafe Tensor cat(IReadOnlyList<Tensor> ts, long dim = 0) => List(ts, dim, "cat", &Native.pd_cat);
    public static unsafe Tensor stack(IReadOnlyList<Tensor> ts, long dim = 0) => List(ts, dim, "stack", &Native.pd_stack);
    public static Tensor where(Tensor cond, Tensor a, Tensor b) => Tensor.Check(Native.pd_where(cond.Handle, a.Handle, b.Handle), "where", cond, a, b);
    public static Tensor cdist(Tensor a, Tensor b, double p = 2) => Tensor.Check(Native.pd_cdist(a.Handle, b.Handle, p), "cdist", a, b);
    public static Tensor outer(Tensor a, Tensor b) => Tensor.Check(Native.pd_outer(a.Handle, b.Handle), "outer", a, b);
    public static Tensor matmul(Tensor a, Tensor b) => a.matmul(b);
    public static Tensor one_hot(Tensor a, long classes) => Tensor.Check(Native.pd_one_hot(a.Handle, classes), "one_hot", a);
}
