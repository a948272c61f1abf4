using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace PDiff.Torch;

/// <summary>
/// A libtorch tensor owned by .NET. It is freed by <see cref="Dispose"/>, by the dispose scope that was
/// current when it was made, or (as a safety net only) by the garbage collector.
/// </summary>
/// <remarks>
/// Only tensors that no scope owns carry a finalizer (a small <see cref="HandleGuard"/>): registering
/// an object for finalization costs about as much as the managed side of a small op, and a scope frees
/// its tensors anyway (or, if it is never disposed, its own finalizer does).
/// </remarks>
public sealed partial class Tensor : IDisposable
{
    IntPtr handle;
    HandleGuard? guard;

    internal Tensor(IntPtr handle)
    {
        this.handle = handle;
        var scope = DisposeScope.Current;
        if (scope != null) scope.Add(this);
        else guard = new HandleGuard(handle);
    }

    internal DisposeScope? Scope { get; set; }
    /// <summary>Position in <see cref="Scope"/>'s list, for O(1) removal.</summary>
    internal int ScopeIndex { get; set; }

    internal IntPtr Handle
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => handle != IntPtr.Zero ? handle : throw Disposed();
    }

    static ObjectDisposedException Disposed() => new(nameof(Tensor),
        "This tensor was already disposed (by Dispose() or by the end of its dispose scope). " +
        "Keep a tensor beyond its scope with MoveToOuterDisposeScope() or DetachFromDisposeScope().");

    public bool IsDisposed => handle == IntPtr.Zero;

    // ---- results of native calls ----
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Tensor Check(IntPtr h, string op) => h != IntPtr.Zero ? new Tensor(h) : throw TorchException.From(op);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Tensor Check(IntPtr h, string op, Tensor a) => h != IntPtr.Zero ? new Tensor(h) : throw TorchException.From(op, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Tensor Check(IntPtr h, string op, Tensor a, Tensor? b) => h != IntPtr.Zero ? new Tensor(h) : throw TorchException.From(op, a, b);
    internal static Tensor Check(IntPtr h, string op, params Tensor?[] inputs) => h != IntPtr.Zero ? new Tensor(h) : throw TorchException.From(op, inputs);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Check(int status, string op, Tensor a, Tensor? b = null)
    {
        if (status != 0) throw TorchException.From(op, a, b);
    }

    // ---- lifetime ----
    public void Dispose()
    {
        var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
        if (h == IntPtr.Zero) return;
        guard?.Cancel();
        Scope?.Forget(this);
        Native.pd_free(h);
    }

    /// <summary>Frees the handle from a dispose scope's finalizer, when the scope was never disposed.</summary>
    internal void FreeFromScopeFinalizer()
    {
        var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
        if (h != IntPtr.Zero) Native.pd_free(h);
    }

    /// <summary>Called when no scope owns this tensor any more: from now on the GC is its safety net.</summary>
    internal void Unowned()
    {
        if (guard == null && handle != IntPtr.Zero) guard = new HandleGuard(handle);
    }

    /// <summary>Hands this tensor to the enclosing dispose scope (or to no scope at the outermost level).</summary>
    public Tensor MoveToOuterDisposeScope()
    {
        Scope?.MoveToOuter(this);
        return this;
    }

    /// <summary>Takes this tensor out of every dispose scope: the caller now owns it.</summary>
    public Tensor DetachFromDisposeScope()
    {
        Scope?.Remove(this);
        return this;
    }

    // ---- metadata ----
    public long[] shape
    {
        get
        {
            var h = Handle;
            var n = Native.pd_ndim(h);
            var s = new long[n];
            unsafe { fixed (long* p = s) Native.pd_shape(h, p); }
            return s;
        }
    }

    public int dim() => Native.pd_ndim(Handle);
    public long size(int d)
    {
        var s = shape;
        var i = d < 0 ? d + s.Length : d;
        if (i < 0 || i >= s.Length)
            throw new ArgumentOutOfRangeException(nameof(d), d, $"Dimension {d} is out of range for a tensor of shape {TorchException.ShapeString(s)}.");
        return s[i];
    }
    public long numel() => Native.pd_numel(Handle);
    public ScalarType dtype => (ScalarType)Native.pd_dtype(Handle);
    public Device device => new((DeviceType)Native.pd_device_type(Handle), Native.pd_device_index(Handle));
    public bool is_contiguous() => Native.pd_is_contiguous(Handle) != 0;

    // ---- host copies (no per-element loops: one memcpy in native code) ----
    /// <summary>The elements in row-major order; <typeparamref name="T"/> must match the dtype.</summary>
    public T[] data<T>() where T : unmanaged
    {
        var result = new T[numel()];
        CopyTo<T>(result);
        return result;
    }

    public T[] ToArray<T>() where T : unmanaged => data<T>();

    public unsafe void CopyTo<T>(Span<T> destination) where T : unmanaged
    {
        var want = ScalarTypes.Of<T>();
        if (want != dtype)
            throw new InvalidOperationException($"Tensor holds {dtype.Name()}, not {want.Name()} ({typeof(T).Name}); convert first with .to(ScalarType.{want}).");
        if (destination.Length != numel())
            throw new ArgumentException($"Destination has {destination.Length} elements; the tensor {TorchException.ShapeString(shape)} has {numel()}.", nameof(destination));
        fixed (T* p = destination)
            if (Native.pd_to_host(Handle, p, (long)destination.Length * sizeof(T)) != 0) throw TorchException.From("to_host", this);
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public unsafe T item<T>() where T : unmanaged
    {
        // An int64 read through a double loses every value beyond 2^53 (seeds, counters): copy its bits.
        if (typeof(T) == typeof(long) && dtype == ScalarType.Int64 && numel() == 1)
        {
            long bits;
            if (Native.pd_to_host(Handle, &bits, sizeof(long)) != 0) throw TorchException.From("item", this);
            return (T)(object)bits;
        }
        var v = Native.pd_item(Handle, out var ok);
        if (ok == 0) throw TorchException.From("item", this);
        if (typeof(T) == typeof(bool)) return (T)(object)(v != 0);
        // Integers truncate toward zero as libtorch's item<int64_t>() does (Convert alone would round 2.7 to 3).
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double)) v = Math.Truncate(v);
        return (T)Convert.ChangeType(v, typeof(T), CultureInfo.InvariantCulture);
    }

    public double ToDouble() => item<double>();
    public float ToSingle() => item<float>();

    public override string ToString() => ToString(6);

    /// <summary>Shape, dtype, device and the first <paramref name="maxValues"/> values.</summary>
    public string ToString(int maxValues)
    {
        if (IsDisposed) return "Tensor(<disposed>)";
        var sb = new StringBuilder();
        sb.Append("Tensor").Append(TorchException.ShapeString(shape)).Append(' ').Append(dtype.Name());
        if (device != Device.CPU) sb.Append(' ').Append(device);
        if (requires_grad) sb.Append(" requires_grad");
        var n = numel();
        if (n == 0) return sb.Append(" []").ToString();
        using (torch.no_grad())
        {
            var shown = (int)Math.Min(n, maxValues);
            using var flat = reshape(-1);
            using var head = flat.slice(0, 0, shown);
            using var asDouble = head.to(ScalarType.Float64);
            var vals = asDouble.data<double>();
            sb.Append(" [").Append(string.Join(", ", vals.Select(v => v.ToString("G5", CultureInfo.InvariantCulture))));
            if (n > shown) sb.Append(", …");
            sb.Append(']');
        }
        return sb.ToString();
    }
}

/// <summary>
/// Frees a native tensor when the <see cref="Tensor"/> that owns it is collected without having been
/// disposed. Kept separate from Tensor so that tensors owned by a scope are not finalizable objects.
/// </summary>
internal sealed class HandleGuard(IntPtr handle)
{
    IntPtr handle = handle;

    ~HandleGuard()
    {
        var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
        if (h != IntPtr.Zero) Native.pd_free(h);
    }

    public void Cancel()
    {
        handle = IntPtr.Zero;
        GC.SuppressFinalize(this);
    }
}
