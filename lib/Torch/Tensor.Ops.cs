namespace PDiff.Torch;

// Tensor methods in PyTorch's spelling; a trailing underscore marks an in-place op, as in PyTorch.
public sealed partial class Tensor
{
    // ---- conversion ----
    public Tensor to(ScalarType t) => Check(Native.pd_to_dtype(Handle, (int)t), "to", this);
    public Tensor to(Device d) => Check(Native.pd_to_device(Handle, (int)d.Type, d.Index), "to", this);
    public Tensor to(string device) => to(Device.Parse(device));
    public Tensor cpu() => to(Device.CPU);
    public Tensor @float() => to(ScalarType.Float32);
    public Tensor @double() => to(ScalarType.Float64);
    public Tensor @long() => to(ScalarType.Int64);
    public Tensor clone() => Check(Native.pd_clone(Handle), "clone", this);
    public Tensor contiguous() => Check(Native.pd_contiguous(Handle), "contiguous", this);
    /// <summary>A second .NET handle on the same native tensor (same storage, same autograd identity).</summary>
    public Tensor alias() => Check(Native.pd_alias(Handle), "alias", this);
    public Tensor detach() => Check(Native.pd_detach(Handle), "detach", this);

    // ---- arithmetic ----
    public Tensor add(Tensor o, double alpha = 1) => Check(Native.pd_add(Handle, o.Handle, alpha), "add", this, o);
    public Tensor sub(Tensor o, double alpha = 1) => Check(Native.pd_sub(Handle, o.Handle, alpha), "sub", this, o);
    public Tensor mul(Tensor o) => Check(Native.pd_mul(Handle, o.Handle), "mul", this, o);
    public Tensor div(Tensor o) => Check(Native.pd_div(Handle, o.Handle), "div", this, o);
    public Tensor add(double s) => Check(Native.pd_add_scalar(Handle, s), "add", this);
    public Tensor mul(double s) => Check(Native.pd_mul_scalar(Handle, s), "mul", this);
    public Tensor div(double s) => Check(Native.pd_div_scalar(Handle, s), "div", this);
    public Tensor rsub(double s) => Check(Native.pd_rsub_scalar(Handle, s), "rsub", this);
    public Tensor pow(double e) => Check(Native.pd_pow_scalar(Handle, e), "pow", this);
    public Tensor pow(Tensor e) => Check(Native.pd_pow(Handle, e.Handle), "pow", this, e);
    public Tensor addcmul(Tensor a, Tensor b, double value = 1) => Check(Native.pd_addcmul(Handle, a.Handle, b.Handle, value), "addcmul", this, a, b);
    public Tensor lerp(Tensor end, double weight) => Check(Native.pd_lerp(Handle, end.Handle, weight), "lerp", this, end);
    public Tensor masked_fill(Tensor mask, double value) => Check(Native.pd_masked_fill(Handle, mask.Handle, value), "masked_fill", this, mask);
    public Tensor clamp(double? min = null, double? max = null) =>
        Check(Native.pd_clamp(Handle, min ?? 0, max ?? 0, min.HasValue ? 1 : 0, max.HasValue ? 1 : 0), "clamp", this);

    public static Tensor operator +(Tensor a, Tensor b) => a.add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.mul(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.div(b);
    public static Tensor operator +(Tensor a, double s) => a.add(s);
    public static Tensor operator +(double s, Tensor a) => a.add(s);
    public static Tensor operator -(Tensor a, double s) => a.add(-s);
    public static Tensor operator -(double s, Tensor a) => a.rsub(s);
    public static Tensor operator *(Tensor a, double s) => a.mul(s);
    public static Tensor operator *(double s, Tensor a) => a.mul(s);
    public static Tensor operator /(Tensor a, double s) => a.div(s);
    public static Tensor operator -(Tensor a) => a.neg();

    // ---- in place (return this, as PyTorch does) ----
    public Tensor add_(Tensor o, double alpha = 1) { Check(Native.pd_add_(Handle, o.Handle, alpha), "add_", this, o); return this; }
    public Tensor sub_(Tensor o, double alpha = 1) { Check(Native.pd_sub_(Handle, o.Handle, alpha), "sub_", this, o); return this; }
    public Tensor mul_(Tensor o) { Check(Native.pd_mul_(Handle, o.Handle), "mul_", this, o); return this; }
    public Tensor div_(Tensor o) { Check(Native.pd_div_(Handle, o.Handle), "div_", this, o); return this; }
    public Tensor add_(double s) { Check(Native.pd_add_scalar_(Handle, s), "add_", this); return this; }
    public Tensor mul_(double s) { Check(Native.pd_mul_scalar_(Handle, s), "mul_", this); return this; }
    public Tensor addcmul_(Tensor a, Tensor b, double value = 1) { Check(Native.pd_addcmul_(Handle, a.Handle, b.Handle, value), "addcmul_", this, a); return this; }
    public Tensor addcdiv_(Tensor a, Tensor b, double value = 1) { Check(Native.pd_addcdiv_(Handle, a.Handle, b.Handle, value), "addcdiv_", this, a); return this; }
    public Tensor lerp_(Tensor end, double weight) { Check(Native.pd_lerp_(Handle, end.Handle, weight), "lerp_", this, end); return this; }
    public Tensor copy_(Tensor src) { Check(Native.pd_copy_(Handle, src.Handle), "copy_", this, src); return this; }
    public Tensor fill_(double v) { Check(Native.pd_fill_(Handle, v), "fill_", this); return this; }
    public Tensor zero_() { Check(Native.pd_zero_(Handle), "zero_", this); return this; }
    public Tensor clamp_(double min, double max) { Check(Native.pd_clamp_(Handle, min, max), "clamp_", this); return this; }
    public Tensor sqrt_() { Check(Native.pd_sqrt_(Handle), "sqrt_", this); return this; }
    public Tensor uniform_(double from, double to, Generator g) { Check(Native.pd_uniform_(Handle, from, to, g.Handle), "uniform_", this); return this; }
    public Tensor normal_(double mean, double std, Generator g) { Check(Native.pd_normal_(Handle, mean, std, g.Handle), "normal_", this); return this; }

    // ---- unary ----
    public Tensor neg() => Check(Native.pd_neg(Handle), "neg", this);
    public Tensor abs() => Check(Native.pd_abs(Handle), "abs", this);
    public Tensor exp() => Check(Native.pd_exp(Handle), "exp", this);
    public Tensor log() => Check(Native.pd_log(Handle), "log", this);
    public Tensor sqrt() => Check(Native.pd_sqrt(Handle), "sqrt", this);
    public Tensor rsqrt() => Check(Native.pd_rsqrt(Handle), "rsqrt", this);
    public Tensor sign() => Check(Native.pd_sign(Handle), "sign", this);
    public Tensor sin() => Check(Native.pd_sin(Handle), "sin", this);
    public Tensor cos() => Check(Native.pd_cos(Handle), "cos", this);
    public Tensor square() => Check(Native.pd_square(Handle), "square", this);
    public Tensor floor() => Check(Native.pd_floor(Handle), "floor", this);
    public Tensor round() => Check(Native.pd_round(Handle), "round", this);
    public Tensor isnan() => Check(Native.pd_isnan(Handle), "isnan", this);
    public Tensor logical_not() => Check(Native.pd_logical_not(Handle), "logical_not", this);
    public Tensor relu() => Check(Native.pd_relu(Handle), "relu", this);
    public Tensor tanh() => Check(Native.pd_tanh(Handle), "tanh", this);
    public Tensor sigmoid() => Check(Native.pd_sigmoid(Handle), "sigmoid", this);
    public Tensor softmax(long dim) => Check(Native.pd_softmax(Handle, dim), "softmax", this);
    public Tensor log_softmax(long dim) => Check(Native.pd_log_softmax(Handle, dim), "log_softmax", this);

    // ---- comparisons (bool results) ----
    Tensor Compare(Tensor o, int op, string name) => Check(Native.pd_compare(Handle, o.Handle, op), name, this, o);
    Tensor Compare(double s, int op, string name) => Check(Native.pd_compare_scalar(Handle, s, op), name, this);
    public Tensor eq(Tensor o) => Compare(o, 0, "eq");
    public Tensor ne(Tensor o) => Compare(o, 1, "ne");
    public Tensor lt(Tensor o) => Compare(o, 2, "lt");
    public Tensor le(Tensor o) => Compare(o, 3, "le");
    public Tensor gt(Tensor o) => Compare(o, 4, "gt");
    public Tensor ge(Tensor o) => Compare(o, 5, "ge");
    public Tensor eq(double s) => Compare(s, 0, "eq");
    public Tensor ne(double s) => Compare(s, 1, "ne");
    public Tensor lt(double s) => Compare(s, 2, "lt");
    public Tensor le(double s) => Compare(s, 3, "le");
    public Tensor gt(double s) => Compare(s, 4, "gt");
    public Tensor ge(double s) => Compare(s, 5, "ge");
    public Tensor logical_and(Tensor o) => Check(Native.pd_logical_and(Handle, o.Handle), "logical_and", this, o);
    public Tensor logical_or(Tensor o) => Check(Native.pd_logical_or(Handle, o.Handle), "logical_or", this, o);
    public bool allclose(Tensor o, double rtol = 1e-5, double atol = 1e-8)
    {
        var r = Native.pd_allclose(Handle, o.Handle, rtol, atol);
        return r >= 0 ? r == 1 : throw TorchException.From("allclose", this, o);
    }

    // ---- reductions (no dims: over all elements) ----
    unsafe Tensor Reduce(long[]? dims, bool keepdim, string name, delegate*<IntPtr, long*, int, int, IntPtr> f)
    {
        dims ??= Array.Empty<long>();
        fixed (long* p = dims) return Check(f(Handle, p, dims.Length, keepdim ? 1 : 0), name, this);
    }

    public unsafe Tensor sum(long[]? dims = null, bool keepdim = false) => Reduce(dims, keepdim, "sum", &Native.pd_sum);
    public unsafe Tensor mean(long[]? dims = null, bool keepdim = false) => Reduce(dims, keepdim, "mean", &Native.pd_mean);
    public Tensor sum(long dim, bool keepdim = false) => sum(new[] { dim }, keepdim);
    public Tensor mean(long dim, bool keepdim = false) => mean(new[] { dim }, keepdim);

    /// <summary>Variance; <paramref name="unbiased"/> true divides by n−1 (PyTorch's default).</summary>
    public unsafe Tensor var(long[]? dims = null, bool unbiased = true, bool keepdim = false)
    {
        dims ??= Array.Empty<long>();
        fixed (long* p = dims) return Check(Native.pd_var(Handle, p, dims.Length, unbiased ? 1 : 0, keepdim ? 1 : 0), "var", this);
    }

    /// <summary>Standard deviation; <paramref name="unbiased"/> true divides by n−1 (PyTorch's default).</summary>
    public unsafe Tensor std(long[]? dims = null, bool unbiased = true, bool keepdim = false)
    {
        dims ??= Array.Empty<long>();
        fixed (long* p = dims) return Check(Native.pd_std(Handle, p, dims.Length, unbiased ? 1 : 0, keepdim ? 1 : 0), "std", this);
    }

    public Tensor prod() => Check(Native.pd_prod(Handle), "prod", this);
    public Tensor cumprod(long dim) => Check(Native.pd_cumprod(Handle, dim), "cumprod", this);
    public Tensor cumsum(long dim) => Check(Native.pd_cumsum(Handle, dim), "cumsum", this);
    public Tensor max() => Check(Native.pd_max_all(Handle), "max", this);
    public Tensor min() => Check(Native.pd_min_all(Handle), "min", this);

    public (Tensor values, Tensor indices) max(long dim, bool keepdim = false)
    {
        if (Native.pd_max_dim(Handle, dim, keepdim ? 1 : 0, out var v, out var i) != 0) throw TorchException.From("max", this);
        return (new Tensor(v), new Tensor(i));
    }

    public (Tensor values, Tensor indices) min(long dim, bool keepdim = false)
    {
        if (Native.pd_min_dim(Handle, dim, keepdim ? 1 : 0, out var v, out var i) != 0) throw TorchException.From("min", this);
        return (new Tensor(v), new Tensor(i));
    }

    public Tensor argmax(long dim, bool keepdim = false) => Check(Native.pd_argmax(Handle, dim, keepdim ? 1 : 0), "argmax", this);
    public Tensor argmin(long dim, bool keepdim = false) => Check(Native.pd_argmin(Handle, dim, keepdim ? 1 : 0), "argmin", this);

    public (Tensor values, Tensor indices) topk(long k, long dim = -1, bool largest = true)
    {
        if (Native.pd_topk(Handle, k, dim, largest ? 1 : 0, out var v, out var i) != 0) throw TorchException.From("topk", this);
        return (new Tensor(v), new Tensor(i));
    }

    public (Tensor values, Tensor indices) sort(long dim = -1, bool descending = false)
    {
        if (Native.pd_sort(Handle, dim, descending ? 1 : 0, out var v, out var i) != 0) throw TorchException.From("sort", this);
        return (new Tensor(v), new Tensor(i));
    }

    public Tensor norm(double p = 2) => Check(Native.pd_norm(Handle, p), "norm", this);

    // ---- linear algebra ----
    public Tensor matmul(Tensor o) => Check(Native.pd_matmul(Handle, o.Handle), "matmul", this, o);
    public Tensor mm(Tensor o) => Check(Native.pd_mm(Handle, o.Handle), "mm", this, o);
    public Tensor bmm(Tensor o) => Check(Native.pd_bmm(Handle, o.Handle), "bmm", this, o);

    // ---- shape ----
    unsafe Tensor WithInts(long[] s, string name, delegate*<IntPtr, long*, int, IntPtr> f)
    {
        fixed (long* p = s) return Check(f(Handle, p, s.Length), name, this);
    }

    public unsafe Tensor reshape(params long[] shape) => WithInts(shape, "reshape", &Native.pd_reshape);
    public unsafe Tensor view(params long[] shape) => WithInts(shape, "view", &Native.pd_view);
    public unsafe Tensor permute(params long[] dims) => WithInts(dims, "permute", &Native.pd_permute);
    public unsafe Tensor expand(params long[] shape) => WithInts(shape, "expand", &Native.pd_expand);
    public unsafe Tensor repeat(params long[] times) => WithInts(times, "repeat", &Native.pd_repeat);
    public unsafe Tensor flip(params long[] dims) => WithInts(dims, "flip", &Native.pd_flip);
    public Tensor transpose(long d0, long d1) => Check(Native.pd_transpose(Handle, d0, d1), "transpose", this);
    public Tensor t() => transpose(0, 1);
    public Tensor flatten(long start = 0, long end = -1) => Check(Native.pd_flatten(Handle, start, end), "flatten", this);
    public Tensor unsqueeze(long d) => Check(Native.pd_unsqueeze(Handle, d), "unsqueeze", this);
    public Tensor squeeze(long d) => Check(Native.pd_squeeze(Handle, d), "squeeze", this);
    public Tensor squeeze() => Check(Native.pd_squeeze_all(Handle), "squeeze", this);

    public unsafe Tensor[] chunk(long chunks, long dim = 0)
    {
        var buf = new IntPtr[Math.Max(1, chunks)];
        int n;
        fixed (IntPtr* p = buf) n = Native.pd_chunk(Handle, chunks, dim, p, buf.Length);
        if (n < 0) throw TorchException.From("chunk", this);
        return buf.Take(n).Select(h => new Tensor(h)).ToArray();
    }

    public unsafe Tensor[] split(long splitSize, long dim = 0)
    {
        var len = splitSize > 0 ? (size((int)dim) + splitSize - 1) / splitSize : 0;
        var buf = new IntPtr[Math.Max(1, len)];
        int n;
        fixed (IntPtr* p = buf) n = Native.pd_split(Handle, splitSize, dim, p, buf.Length);
        if (n < 0) throw TorchException.From("split", this);
        return buf.Take(n).Select(h => new Tensor(h)).ToArray();
    }

    // ---- indexing ----
    /// <summary>Elements start..end (exclusive) with a step along one dim, as a view (Python's a[s:e:k]).</summary>
    public Tensor slice(long dim, long start, long end, long step = 1) => Check(Native.pd_slice(Handle, dim, start, end, step), "slice", this);
    public Tensor select(long dim, long index) => Check(Native.pd_select(Handle, dim, index), "select", this);
    public Tensor narrow(long dim, long start, long length) => Check(Native.pd_narrow(Handle, dim, start, length), "narrow", this);
    public Tensor index_select(long dim, Tensor index) => Check(Native.pd_index_select(Handle, dim, index.Handle), "index_select", this, index);
    public Tensor gather(long dim, Tensor index) => Check(Native.pd_gather(Handle, dim, index.Handle), "gather", this, index);
    public Tensor masked_select(Tensor mask) => Check(Native.pd_masked_select(Handle, mask.Handle), "masked_select", this, mask);
    public Tensor index_put(Tensor index, Tensor values) => Check(Native.pd_index_put(Handle, index.Handle, values.Handle), "index_put", this, index, values);
    public Tensor scatter(long dim, Tensor index, Tensor src) => Check(Native.pd_scatter(Handle, dim, index.Handle, src.Handle), "scatter", this, index, src);
    public Tensor this[long i] => select(0, i);

    // ---- autograd ----
    public bool requires_grad
    {
        get => Native.pd_requires_grad(Handle) != 0;
        set => Check(Native.pd_set_requires_grad(Handle, value ? 1 : 0), "requires_grad_", this);
    }

    public Tensor requires_grad_(bool on = true)
    {
        requires_grad = on;
        return this;
    }

    public bool is_leaf => Native.pd_is_leaf(Handle) != 0;

    public void backward(Tensor? gradient = null, bool retainGraph = false) =>
        Check(Native.pd_backward(Handle, gradient?.Handle ?? IntPtr.Zero, retainGraph ? 1 : 0), "backward", this, gradient);

    /// <summary>The accumulated gradient (a new handle on it each call), or null before any backward.</summary>
    public Tensor? grad
    {
        get
        {
            var h = Native.pd_grad(Handle);
            if (h != IntPtr.Zero) return new Tensor(h);
            var err = Native.LastError();
            return err.Length == 0 ? null : throw new TorchException("grad", dtype.Name(), err);
        }
        set => Check(Native.pd_set_grad(Handle, value?.Handle ?? IntPtr.Zero), "set_grad", this, value);
    }

    /// <summary>Drops the gradient (PyTorch's zero_grad(set_to_none=True)).</summary>
    public void zero_grad() => Check(Native.pd_zero_grad(Handle), "zero_grad", this);
}
