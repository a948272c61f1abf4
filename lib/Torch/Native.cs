using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PDiff.Torch;

/// <summary>
/// P/Invoke declarations of the C ABI in lib/native/. Every entry either returns a handle (zero on
/// failure) or an int status (-1 on failure); <see cref="Check"/> turns failures into
/// <see cref="TorchException"/> with libtorch's message.
/// </summary>
internal static unsafe partial class Native
{
    internal const string Lib = "pdiff_native";

    [ModuleInitializer]
    internal static void RegisterResolver() =>
        NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, Resolve);

    /// <summary>
    /// Finds libpdiff_native.so next to PDiff.Lib.dll (where the build copies it), then in
    /// PDIFF_NATIVE_LIB, then in the source tree's lib/native/build: no LD_LIBRARY_PATH needed, and a
    /// notebook that #r's the dll from anywhere still finds its shim.
    /// </summary>
    static IntPtr Resolve(string name, Assembly asm, DllImportSearchPath? path)
    {
        if (name != Lib) return IntPtr.Zero;
        foreach (var candidate in Candidates(asm))
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out var h)) return h;
        throw new DllNotFoundException(
            "libpdiff_native.so (the libtorch shim) was not found. Looked in: " + string.Join(", ", Candidates(asm)) +
            ". Build it with `dotnet build PDiff.Lib.csproj` (needs libtorch-dev, cmake and g++: run scripts/setup.sh), " +
            "or point PDIFF_NATIVE_LIB at the built file.");
    }

    static IEnumerable<string> Candidates(Assembly asm)
    {
        var env = Environment.GetEnvironmentVariable("PDIFF_NATIVE_LIB");
        if (!string.IsNullOrEmpty(env)) yield return env;
        var dir = string.IsNullOrEmpty(asm.Location) ? null : Path.GetDirectoryName(asm.Location);
        if (dir != null)
        {
            yield return Path.Combine(dir, "libpdiff_native.so");
            // bin/<cfg>/<tfm>/ of the root project sits three levels under the repository root.
            for (var d = new DirectoryInfo(dir); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "PDiff.Lib.csproj")))
                {
                    yield return Path.Combine(d.FullName, "lib", "native", "build", "libpdiff_native.so");
                    break;
                }
        }
        yield return Path.Combine(AppContext.BaseDirectory, "libpdiff_native.so");
    }

    internal static string LastError() => Marshal.PtrToStringUTF8(pd_last_error()) ?? "";

    // ---- lifetime, host copies, metadata ----
    [DllImport(Lib)] internal static extern IntPtr pd_last_error();
    [DllImport(Lib)] internal static extern void pd_free(IntPtr t);
    [DllImport(Lib)] internal static extern long pd_live_tensors();
    [DllImport(Lib)] internal static extern long pd_heap_bytes();
    [DllImport(Lib)] internal static extern IntPtr pd_from_host(void* data, long* shape, int ndim, int dtype, int devType, int devIndex);
    [DllImport(Lib)] internal static extern int pd_to_host(IntPtr t, void* dst, long nbytes);
    [DllImport(Lib)] internal static extern double pd_item(IntPtr t, out int ok);
    [DllImport(Lib)] internal static extern int pd_ndim(IntPtr t);
    [DllImport(Lib)] internal static extern void pd_shape(IntPtr t, long* shape);
    [DllImport(Lib)] internal static extern long pd_numel(IntPtr t);
    [DllImport(Lib)] internal static extern int pd_dtype(IntPtr t);
    [DllImport(Lib)] internal static extern int pd_device_type(IntPtr t);
    [DllImport(Lib)] internal static extern int pd_device_index(IntPtr t);
    [DllImport(Lib)] internal static extern int pd_is_contiguous(IntPtr t);
    [DllImport(Lib)] internal static extern IntPtr pd_empty(long* shape, int ndim, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_zeros(long* shape, int ndim, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_ones(long* shape, int ndim, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_full(long* shape, int ndim, double value, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_scalar_tensor(double value, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_arange(double start, double end, double step, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_linspace(double start, double end, long steps, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_eye(long n, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_zeros_like(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_ones_like(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_to_dtype(IntPtr a, int dtype);
    [DllImport(Lib)] internal static extern IntPtr pd_to_device(IntPtr a, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_clone(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_contiguous(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_alias(IntPtr a);
    [DllImport(Lib)] internal static extern void pd_set_num_threads(int n);
    [DllImport(Lib)] internal static extern int pd_get_num_threads();
    [DllImport(Lib)] internal static extern int pd_cuda_is_available();
    [DllImport(Lib)] internal static extern int pd_cuda_device_count();
    [DllImport(Lib)] internal static extern void pd_manual_seed(ulong seed);
    [DllImport(Lib)] internal static extern IntPtr pd_torch_version();
    [DllImport(Lib)] internal static extern IntPtr pd_parallel_info();

    // ---- generators and random ----
    [DllImport(Lib)] internal static extern IntPtr pd_generator_new(ulong seed);
    [DllImport(Lib)] internal static extern void pd_generator_free(IntPtr g);
    [DllImport(Lib)] internal static extern void pd_generator_set_seed(IntPtr g, ulong seed);
    [DllImport(Lib)] internal static extern IntPtr pd_generator_get_state(IntPtr g);
    [DllImport(Lib)] internal static extern int pd_generator_set_state(IntPtr g, IntPtr state);
    [DllImport(Lib)] internal static extern IntPtr pd_randn(long* shape, int ndim, IntPtr g, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_rand(long* shape, int ndim, IntPtr g, int dtype, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_randint(long low, long high, long* shape, int ndim, IntPtr g, int dt, int di);
    [DllImport(Lib)] internal static extern IntPtr pd_randperm(long n, IntPtr g, int dt, int di);
    [DllImport(Lib)] internal static extern int pd_uniform_(IntPtr a, double from, double to, IntPtr g);
    [DllImport(Lib)] internal static extern int pd_normal_(IntPtr a, double mean, double std, IntPtr g);
    [DllImport(Lib)] internal static extern IntPtr pd_bernoulli(IntPtr a, double p, IntPtr g);

    // ---- arithmetic ----
    [DllImport(Lib)] internal static extern IntPtr pd_add(IntPtr a, IntPtr b, double alpha);
    [DllImport(Lib)] internal static extern IntPtr pd_sub(IntPtr a, IntPtr b, double alpha);
    [DllImport(Lib)] internal static extern IntPtr pd_mul(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_div(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_add_scalar(IntPtr a, double s);
    [DllImport(Lib)] internal static extern IntPtr pd_mul_scalar(IntPtr a, double s);
    [DllImport(Lib)] internal static extern IntPtr pd_div_scalar(IntPtr a, double s);
    [DllImport(Lib)] internal static extern IntPtr pd_rsub_scalar(IntPtr a, double s);
    [DllImport(Lib)] internal static extern IntPtr pd_pow_scalar(IntPtr a, double e);
    [DllImport(Lib)] internal static extern IntPtr pd_pow(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_addcmul(IntPtr a, IntPtr b, IntPtr c, double v);
    [DllImport(Lib)] internal static extern IntPtr pd_lerp(IntPtr a, IntPtr b, double w);
    [DllImport(Lib)] internal static extern IntPtr pd_where(IntPtr cond, IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_masked_fill(IntPtr a, IntPtr mask, double v);
    [DllImport(Lib)] internal static extern IntPtr pd_clamp(IntPtr a, double lo, double hi, int hasLo, int hasHi);
    [DllImport(Lib)] internal static extern int pd_add_(IntPtr a, IntPtr b, double alpha);
    [DllImport(Lib)] internal static extern int pd_sub_(IntPtr a, IntPtr b, double alpha);
    [DllImport(Lib)] internal static extern int pd_mul_(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern int pd_div_(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern int pd_add_scalar_(IntPtr a, double s);
    [DllImport(Lib)] internal static extern int pd_mul_scalar_(IntPtr a, double s);
    [DllImport(Lib)] internal static extern int pd_addcmul_(IntPtr a, IntPtr b, IntPtr c, double v);
    [DllImport(Lib)] internal static extern int pd_addcdiv_(IntPtr a, IntPtr b, IntPtr c, double v);
    [DllImport(Lib)] internal static extern int pd_lerp_(IntPtr a, IntPtr b, double w);
    [DllImport(Lib)] internal static extern int pd_copy_(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern int pd_fill_(IntPtr a, double v);
    [DllImport(Lib)] internal static extern int pd_zero_(IntPtr a);
    [DllImport(Lib)] internal static extern int pd_clamp_(IntPtr a, double lo, double hi);
    [DllImport(Lib)] internal static extern int pd_sqrt_(IntPtr a);

    // ---- unary ----
    [DllImport(Lib)] internal static extern IntPtr pd_neg(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_abs(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_exp(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_log(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_sqrt(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_rsqrt(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_sign(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_sin(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_cos(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_square(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_floor(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_round(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_isnan(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_logical_not(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_detach(IntPtr a);

    // ---- comparisons, reductions ----
    [DllImport(Lib)] internal static extern IntPtr pd_compare(IntPtr a, IntPtr b, int op);
    [DllImport(Lib)] internal static extern IntPtr pd_compare_scalar(IntPtr a, double s, int op);
    [DllImport(Lib)] internal static extern IntPtr pd_logical_and(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_logical_or(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern int pd_allclose(IntPtr a, IntPtr b, double rtol, double atol);
    [DllImport(Lib)] internal static extern IntPtr pd_sum(IntPtr a, long* dims, int nd, int keepdim);
    [DllImport(Lib)] internal static extern IntPtr pd_mean(IntPtr a, long* dims, int nd, int keepdim);
    [DllImport(Lib)] internal static extern IntPtr pd_var(IntPtr a, long* dims, int nd, int unbiased, int keepdim);
    [DllImport(Lib)] internal static extern IntPtr pd_std(IntPtr a, long* dims, int nd, int unbiased, int keepdim);
    [DllImport(Lib)] internal static extern IntPtr pd_prod(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_cumprod(IntPtr a, long dim);
    [DllImport(Lib)] internal static extern IntPtr pd_cumsum(IntPtr a, long dim);
    [DllImport(Lib)] internal static extern IntPtr pd_max_all(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_min_all(IntPtr a);
    [DllImport(Lib)] internal static extern int pd_max_dim(IntPtr a, long dim, int keepdim, out IntPtr values, out IntPtr indices);
    [DllImport(Lib)] internal static extern int pd_min_dim(IntPtr a, long dim, int keepdim, out IntPtr values, out IntPtr indices);
    [DllImport(Lib)] internal static extern IntPtr pd_argmax(IntPtr a, long dim, int keepdim);
    [DllImport(Lib)] internal static extern IntPtr pd_argmin(IntPtr a, long dim, int keepdim);
    [DllImport(Lib)] internal static extern int pd_topk(IntPtr a, long k, long dim, int largest, out IntPtr values, out IntPtr indices);
    [DllImport(Lib)] internal static extern int pd_sort(IntPtr a, long dim, int descending, out IntPtr values, out IntPtr indices);
    [DllImport(Lib)] internal static extern IntPtr pd_norm(IntPtr a, double p);

    // ---- linear algebra, shape, indexing ----
    [DllImport(Lib)] internal static extern IntPtr pd_matmul(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_mm(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_bmm(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_cdist(IntPtr a, IntPtr b, double p);
    [DllImport(Lib)] internal static extern IntPtr pd_outer(IntPtr a, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_reshape(IntPtr a, long* s, int n);
    [DllImport(Lib)] internal static extern IntPtr pd_view(IntPtr a, long* s, int n);
    [DllImport(Lib)] internal static extern IntPtr pd_permute(IntPtr a, long* s, int n);
    [DllImport(Lib)] internal static extern IntPtr pd_expand(IntPtr a, long* s, int n);
    [DllImport(Lib)] internal static extern IntPtr pd_repeat(IntPtr a, long* s, int n);
    [DllImport(Lib)] internal static extern IntPtr pd_transpose(IntPtr a, long d0, long d1);
    [DllImport(Lib)] internal static extern IntPtr pd_flatten(IntPtr a, long start, long end);
    [DllImport(Lib)] internal static extern IntPtr pd_unsqueeze(IntPtr a, long d);
    [DllImport(Lib)] internal static extern IntPtr pd_squeeze(IntPtr a, long d);
    [DllImport(Lib)] internal static extern IntPtr pd_squeeze_all(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_flip(IntPtr a, long* s, int n);
    [DllImport(Lib)] internal static extern IntPtr pd_cat(IntPtr* ts, int n, long dim);
    [DllImport(Lib)] internal static extern IntPtr pd_stack(IntPtr* ts, int n, long dim);
    [DllImport(Lib)] internal static extern int pd_chunk(IntPtr a, long chunks, long dim, IntPtr* outp, int cap);
    [DllImport(Lib)] internal static extern int pd_split(IntPtr a, long size, long dim, IntPtr* outp, int cap);
    [DllImport(Lib)] internal static extern IntPtr pd_pad(IntPtr a, long* p, int n, double value);
    [DllImport(Lib)] internal static extern IntPtr pd_slice(IntPtr a, long dim, long start, long end, long step);
    [DllImport(Lib)] internal static extern IntPtr pd_select(IntPtr a, long dim, long index);
    [DllImport(Lib)] internal static extern IntPtr pd_narrow(IntPtr a, long dim, long start, long len);
    [DllImport(Lib)] internal static extern IntPtr pd_index_select(IntPtr a, long dim, IntPtr idx);
    [DllImport(Lib)] internal static extern IntPtr pd_gather(IntPtr a, long dim, IntPtr idx);
    [DllImport(Lib)] internal static extern IntPtr pd_masked_select(IntPtr a, IntPtr mask);
    [DllImport(Lib)] internal static extern IntPtr pd_index_put(IntPtr a, IntPtr idx, IntPtr values);
    [DllImport(Lib)] internal static extern IntPtr pd_scatter(IntPtr a, long dim, IntPtr idx, IntPtr src);
    [DllImport(Lib)] internal static extern IntPtr pd_one_hot(IntPtr a, long classes);

    // ---- nn ----
    [DllImport(Lib)] internal static extern IntPtr pd_linear(IntPtr x, IntPtr w, IntPtr b);
    [DllImport(Lib)] internal static extern IntPtr pd_conv1d(IntPtr x, IntPtr w, IntPtr b, long stride, long padding, long dilation, long groups);
    [DllImport(Lib)] internal static extern IntPtr pd_conv2d(IntPtr x, IntPtr w, IntPtr b, long* stride, long* padding, long* dilation, long groups);
    [DllImport(Lib)] internal static extern IntPtr pd_conv_transpose1d(IntPtr x, IntPtr w, IntPtr b, long stride, long padding, long outputPadding, long groups, long dilation);
    [DllImport(Lib)] internal static extern IntPtr pd_max_pool1d(IntPtr x, long k, long s, long p);
    [DllImport(Lib)] internal static extern IntPtr pd_avg_pool1d(IntPtr x, long k, long s, long p);
    [DllImport(Lib)] internal static extern IntPtr pd_max_pool2d(IntPtr x, long* k, long* s, long* p);
    [DllImport(Lib)] internal static extern IntPtr pd_avg_pool2d(IntPtr x, long* k, long* s, long* p);
    [DllImport(Lib)] internal static extern IntPtr pd_adaptive_avg_pool1d(IntPtr x, long output);
    [DllImport(Lib)] internal static extern IntPtr pd_adaptive_avg_pool2d(IntPtr x, long* output);
    [DllImport(Lib)] internal static extern IntPtr pd_batch_norm(IntPtr x, IntPtr w, IntPtr b, IntPtr rm, IntPtr rv, int training, double momentum, double eps);
    [DllImport(Lib)] internal static extern IntPtr pd_instance_norm(IntPtr x, IntPtr w, IntPtr b, IntPtr rm, IntPtr rv, int useInputStats, double momentum, double eps);
    [DllImport(Lib)] internal static extern IntPtr pd_group_norm(IntPtr x, long groups, IntPtr w, IntPtr b, double eps);
    [DllImport(Lib)] internal static extern IntPtr pd_layer_norm(IntPtr x, long* shape, int n, IntPtr w, IntPtr b, double eps);
    [DllImport(Lib)] internal static extern IntPtr pd_relu(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_leaky_relu(IntPtr a, double slope);
    [DllImport(Lib)] internal static extern IntPtr pd_elu(IntPtr a, double alpha);
    [DllImport(Lib)] internal static extern IntPtr pd_gelu(IntPtr a, int tanhApprox);
    [DllImport(Lib)] internal static extern IntPtr pd_silu(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_tanh(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_sigmoid(IntPtr a);
    [DllImport(Lib)] internal static extern IntPtr pd_softmax(IntPtr a, long dim);
    [DllImport(Lib)] internal static extern IntPtr pd_log_softmax(IntPtr a, long dim);
    [DllImport(Lib)] internal static extern IntPtr pd_cross_entropy(IntPtr logits, IntPtr target, int reduction, double labelSmoothing);
    [DllImport(Lib)] internal static extern IntPtr pd_nll_loss(IntPtr logp, IntPtr target, int reduction);
    [DllImport(Lib)] internal static extern IntPtr pd_mse_loss(IntPtr a, IntPtr b, int reduction);
    [DllImport(Lib)] internal static extern IntPtr pd_embedding(IntPtr weight, IntPtr idx);

    // ---- autograd ----
    [DllImport(Lib)] internal static extern int pd_set_requires_grad(IntPtr a, int on);
    [DllImport(Lib)] internal static extern int pd_requires_grad(IntPtr a);
    [DllImport(Lib)] internal static extern int pd_is_leaf(IntPtr a);
    [DllImport(Lib)] internal static extern int pd_backward(IntPtr a, IntPtr grad, int retainGraph);
    [DllImport(Lib)] internal static extern IntPtr pd_grad(IntPtr a);
    [DllImport(Lib)] internal static extern int pd_set_grad(IntPtr a, IntPtr g);
    [DllImport(Lib)] internal static extern int pd_zero_grad(IntPtr a);
    [DllImport(Lib)] internal static extern int pd_grad_enabled();
    [DllImport(Lib)] internal static extern void pd_set_grad_enabled(int on);

    // ---- optimizers ----
    [DllImport(Lib)] internal static extern IntPtr pd_sgd_new(IntPtr* ps, int n, double lr, double momentum, double dampening, double wd, int nesterov);
    [DllImport(Lib)] internal static extern IntPtr pd_adam_new(IntPtr* ps, int n, double lr, double b1, double b2, double eps, double wd, int amsgrad);
    [DllImport(Lib)] internal static extern IntPtr pd_adamw_new(IntPtr* ps, int n, double lr, double b1, double b2, double eps, double wd, int amsgrad);
    [DllImport(Lib)] internal static extern void pd_optim_free(IntPtr o);
    [DllImport(Lib)] internal static extern int pd_optim_step(IntPtr o);
    [DllImport(Lib)] internal static extern int pd_optim_set_lr(IntPtr o, double lr);
    [DllImport(Lib)] internal static extern double pd_optim_get_lr(IntPtr o);
    [DllImport(Lib, CharSet = CharSet.Ansi)] internal static extern int pd_optim_save(IntPtr o, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);
    [DllImport(Lib, CharSet = CharSet.Ansi)] internal static extern int pd_optim_load(IntPtr o, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);
}
