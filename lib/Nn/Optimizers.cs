using PDiff.Torch;

namespace PDiff.Nn;

/// <summary>
/// libtorch's own optimizers (torch::optim), so the update rules are exactly PyTorch's: SGD with momentum,
/// dampening, Nesterov and L2 weight decay; Adam (L2 weight decay); AdamW (decoupled weight decay).
/// The optimizer updates the very tensors it was given, in place.
/// </summary>
public abstract class Optimizer : IDisposable
{
    IntPtr handle;
    readonly Tensor[] parameters;

    private protected unsafe Optimizer(IEnumerable<Tensor> parameters, Func<IntPtr[], IntPtr> create, string name)
    {
        this.parameters = parameters.ToArray();
        if (this.parameters.Length == 0) throw new ArgumentException($"{name}: no parameters to optimise.");
        foreach (var p in this.parameters)
            if (!p.requires_grad) throw new ArgumentException($"{name}: a parameter of shape [{string.Join(", ", p.shape)}] does not require grad; pass only trainable tensors.");
        handle = create(this.parameters.Select(p => p.Handle).ToArray());
        if (handle == IntPtr.Zero) throw new TorchException(name, $"{this.parameters.Length} parameters", Native.LastError());
    }

    IntPtr Handle => handle != IntPtr.Zero ? handle : throw new ObjectDisposedException(GetType().Name);

    public IReadOnlyList<Tensor> Parameters => parameters;

    /// <summary>The learning rate of every parameter group.</summary>
    public double LearningRate
    {
        get => Native.pd_optim_get_lr(Handle);
        set
        {
            if (Native.pd_optim_set_lr(Handle, value) != 0) throw new TorchException("set_lr", value.ToString(), Native.LastError());
        }
    }

    public void step()
    {
        if (Native.pd_optim_step(Handle) != 0) throw new TorchException($"{GetType().Name}.step", "", Native.LastError());
    }

    /// <summary>Drops the gradients (set_to_none, PyTorch 2's default), so frozen tensors really stay fixed.</summary>
    public void zero_grad()
    {
        foreach (var p in parameters) p.zero_grad();
    }

    /// <summary>Writes the optimizer state (moments, step counts) for resume, in libtorch's archive format.</summary>
    public void Save(string path)
    {
        if (Native.pd_optim_save(Handle, path) != 0) throw new IOException($"Could not save optimizer state to {path}: {Native.LastError()}");
    }

    public void Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Optimizer state file not found: {path}", path);
        if (Native.pd_optim_load(Handle, path) != 0) throw new InvalidDataException($"Could not load optimizer state from {path}: {Native.LastError()}");
    }

    ~Optimizer() => Free();

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    void Free()
    {
        var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
        if (h != IntPtr.Zero) Native.pd_optim_free(h);
    }
}

public sealed class SGD : Optimizer
{
    public unsafe SGD(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double weightDecay = 0, double dampening = 0, bool nesterov = false)
        : base(parameters, hs => { fixed (IntPtr* p = hs) return Native.pd_sgd_new(p, hs.Length, lr, momentum, dampening, weightDecay, nesterov ? 1 : 0); }, "SGD") { }
}

public sealed class Adam : Optimizer
{
    public unsafe Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0, bool amsgrad = false)
        : base(parameters, hs => { fixed (IntPtr* p = hs) return Native.pd_adam_new(p, hs.Length, lr, beta1, beta2, eps, weightDecay, amsgrad ? 1 : 0); }, "Adam") { }
}

/// <summary>AdamW; note PyTorch's default weight decay is 0.01.</summary>
public sealed class AdamW : Optimizer
{
    public unsafe AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2, bool amsgrad = false)
        : base(parameters, hs => { fixed (IntPtr* p = hs) return Native.pd_adamw_new(p, hs.Length, lr, beta1, beta2, eps, weightDecay, amsgrad ? 1 : 0); }, "AdamW") { }
}
