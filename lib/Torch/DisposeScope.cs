namespace PDiff.Torch;

/// <summary>
/// Frees every tensor created while it is the current scope, when it is disposed (TorchSharp's model).
/// A training step wrapped in one holds flat native memory however many temporaries it makes; what
/// must outlive the step is moved out with <see cref="Tensor.MoveToOuterDisposeScope"/> or detached
/// with <see cref="Tensor.DetachFromDisposeScope"/>. Scopes nest per thread and are not shared
/// between threads.
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] static DisposeScope? current;

    readonly DisposeScope? outer;
    readonly int thread = Environment.CurrentManagedThreadId;
    // A list with each tensor's index stored in the tensor: adding and removing are O(1) with no hashing.
    readonly List<Tensor> owned = new();
    bool disposed;

    internal DisposeScope()
    {
        outer = current;
        current = this;
    }

    // Safety net for a scope that was never disposed (its thread ended inside it, say). Every tensor it
    // owns points back at it, so when the scope is unreachable its tensors are too.
    ~DisposeScope()
    {
        foreach (var t in owned) t.FreeFromScopeFinalizer();
    }

    /// <summary>
    /// The innermost scope still alive on this thread. Scopes that already ended are skipped: one ended
    /// out of order (by hand, or on another thread after an await) must not keep collecting tensors it
    /// will never free.
    /// </summary>
    public static DisposeScope? Current
    {
        get
        {
            var c = current;
            if (c is { disposed: true }) current = c = LiveFrom(c);
            return c;
        }
    }

    static DisposeScope? LiveFrom(DisposeScope? s)
    {
        while (s is { disposed: true }) s = s.outer;
        return s;
    }
    public int Count => owned.Count;

    internal void Add(Tensor t)
    {
        t.Scope = this;
        t.ScopeIndex = owned.Count;
        owned.Add(t);
    }

    void Unlink(Tensor t)
    {
        var i = t.ScopeIndex;
        var last = owned[^1];
        owned[i] = last;
        last.ScopeIndex = i;
        owned.RemoveAt(owned.Count - 1);
        t.Scope = null;
    }

    internal void Remove(Tensor t)
    {
        Unlink(t);
        t.Unowned();
    }

    /// <summary>A tensor disposed early leaves its scope, so a long-lived scope does not grow.</summary>
    internal void Forget(Tensor t)
    {
        if (thread == Environment.CurrentManagedThreadId && !disposed) Unlink(t);
    }

    internal void MoveToOuter(Tensor t)
    {
        Unlink(t);
        var o = LiveFrom(outer);
        if (o != null) o.Add(t);
        else t.Unowned();
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        GC.SuppressFinalize(this);
        foreach (var t in owned)
        {
            t.Scope = null;
            t.Dispose();
        }
        owned.Clear();
        // Scopes must end in the reverse order of creation; restore whatever was outside this one.
        if (current == this) current = LiveFrom(outer);
    }
}

/// <summary>Restores the previous grad mode when disposed; see <see cref="torch.no_grad"/>.</summary>
public readonly struct GradModeGuard : IDisposable
{
    readonly bool previous;

    internal GradModeGuard(bool enabled)
    {
        previous = Native.pd_grad_enabled() != 0;
        Native.pd_set_grad_enabled(enabled ? 1 : 0);
    }

    public void Dispose() => Native.pd_set_grad_enabled(previous ? 1 : 0);
}
