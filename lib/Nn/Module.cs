using PDiff.Torch;

namespace PDiff.Nn;

/// <summary>
/// A network component with named parameters, buffers and children, PyTorch-style: dotted names
/// (<c>layer4.1.bn1.weight</c>), train/eval mode, state dicts, parameter counts. Parameters and buffers
/// are owned by the module (never by a dispose scope) and freed by <see cref="Dispose"/>.
/// </summary>
public abstract class Module : IDisposable
{
    // Registration order is kept: it defines the order of named_parameters() and state_dict(), as in PyTorch.
    readonly List<string> paramNames = new();
    readonly Dictionary<string, Tensor?> paramValues = new();
    readonly List<string> bufferNames = new();
    readonly Dictionary<string, Tensor?> bufferValues = new();
    readonly List<(string Name, Module Module)> children = new();

    public bool training { get; private set; } = true;

    /// <summary>Computes the module's output; modules with other signatures add their own methods.</summary>
    public virtual Tensor forward(Tensor input) =>
        throw new NotSupportedException($"{GetType().Name} has no single-tensor forward.");

    public Tensor call(Tensor input) => forward(input);

    // ---- registration ----
    protected Tensor? RegisterParameter(string name, Tensor? value)
    {
        CheckName(name);
        if (value is not null)
        {
            value.DetachFromDisposeScope();
            value.requires_grad = true;
        }
        paramNames.Add(name);
        paramValues[name] = value;
        return value;
    }

    protected Tensor? RegisterBuffer(string name, Tensor? value)
    {
        CheckName(name);
        value?.DetachFromDisposeScope();
        bufferNames.Add(name);
        bufferValues[name] = value;
        return value;
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        children.Add((name, module));
        return module;
    }

    void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"Invalid member name '{name}': names are non-empty and hold no dots.", nameof(name));
        if (paramValues.ContainsKey(name) || bufferValues.ContainsKey(name) || children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name} already has a member named '{name}'.", nameof(name));
    }

    /// <summary>The parameter registered under <paramref name="name"/> (null for an absent optional one).</summary>
    protected Tensor? Param(string name) => paramValues[name];
    protected Tensor? Buffer(string name) => bufferValues[name];

    /// <summary>Replaces a buffer's tensor (e.g. a counter recomputed out of place); frees the old one.</summary>
    protected void SetBuffer(string name, Tensor value)
    {
        if (!bufferValues.ContainsKey(name)) throw new KeyNotFoundException($"{GetType().Name} has no buffer '{name}'.");
        var old = bufferValues[name];
        value.DetachFromDisposeScope();
        bufferValues[name] = value;
        if (!ReferenceEquals(old, value)) old?.Dispose();
    }

    // ---- traversal ----
    public IEnumerable<(string Name, Module Module)> named_children() => children;

    public IEnumerable<(string Name, Module Module)> named_modules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (n, c) in children)
            foreach (var x in c.named_modules(Join(prefix, n))) yield return x;
    }

    public IEnumerable<(string Name, Tensor Parameter)> named_parameters(string prefix = "")
    {
        foreach (var n in paramNames)
            if (paramValues[n] is { } p) yield return (Join(prefix, n), p);
        foreach (var (n, c) in children)
            foreach (var x in c.named_parameters(Join(prefix, n))) yield return x;
    }

    public IEnumerable<Tensor> parameters() => named_parameters().Select(p => p.Parameter);

    public IEnumerable<(string Name, Tensor Buffer)> named_buffers(string prefix = "")
    {
        foreach (var n in bufferNames)
            if (bufferValues[n] is { } b) yield return (Join(prefix, n), b);
        foreach (var (n, c) in children)
            foreach (var x in c.named_buffers(Join(prefix, n))) yield return x;
    }

    static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>Number of parameter elements (optionally only those that require grad).</summary>
    public long parameter_count(bool trainableOnly = false) =>
        parameters().Where(p => !trainableOnly || p.requires_grad).Sum(p => p.numel());

    // ---- modes ----
    public virtual Module train(bool on = true)
    {
        training = on;
        foreach (var (_, c) in children) c.train(on);
        return this;
    }

    public Module eval() => train(false);

    /// <summary>Sets requires_grad on every parameter (freezing or unfreezing the whole module).</summary>
    public Module requires_grad_(bool on)
    {
        foreach (var p in parameters()) p.requires_grad = on;
        return this;
    }

    public void zero_grad()
    {
        foreach (var p in parameters()) p.zero_grad();
    }

    // ---- state dicts ----
    /// <summary>
    /// Parameters and buffers by dotted name, in PyTorch's order (each module's own parameters, then its
    /// buffers, then its children). The tensors are the module's own (not copies): clone to keep a snapshot.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, Tensor>> state_dict(string prefix = "")
    {
        var result = new List<KeyValuePair<string, Tensor>>();
        CollectState(prefix, result);
        return result;
    }

    void CollectState(string prefix, List<KeyValuePair<string, Tensor>> into)
    {
        foreach (var n in paramNames)
            if (paramValues[n] is { } p) into.Add(new(Join(prefix, n), p));
        foreach (var n in bufferNames)
            if (bufferValues[n] is { } b) into.Add(new(Join(prefix, n), b));
        foreach (var (n, c) in children) c.CollectState(Join(prefix, n), into);
    }

    /// <summary>
    /// Copies values into this module's tensors (in place, so optimizers keep working). Strict mode demands
    /// exactly the module's keys; non-strict loads the keys present and reports the rest. A shape mismatch
    /// is always an error naming the key and both shapes.
    /// </summary>
    public LoadStateResult load_state_dict(IEnumerable<KeyValuePair<string, Tensor>> source, bool strict = true)
    {
        var mine = state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        var given = source.ToList();
        var unexpected = given.Select(kv => kv.Key).Where(k => !mine.ContainsKey(k)).ToList();
        var missing = mine.Keys.Where(k => given.All(kv => kv.Key != k)).ToList();
        if (strict && (unexpected.Count > 0 || missing.Count > 0))
            throw new KeyNotFoundException(
                $"load_state_dict into {GetType().Name} (strict): " +
                (missing.Count > 0 ? $"missing keys [{string.Join(", ", missing)}]" : "") +
                (missing.Count > 0 && unexpected.Count > 0 ? "; " : "") +
                (unexpected.Count > 0 ? $"unexpected keys [{string.Join(", ", unexpected)}]" : "") +
                ". Pass strict: false to load the keys that match.");
        foreach (var (key, value) in given)
        {
            if (!mine.TryGetValue(key, out var target)) continue;
            var (ts, vs) = (target.shape, value.shape);
            if (!ts.SequenceEqual(vs))
                throw new ArgumentException($"load_state_dict: '{key}' has shape [{string.Join(", ", vs)}] but the module expects [{string.Join(", ", ts)}].");
        }
        using (torch.no_grad())
            foreach (var (key, value) in given)
                if (mine.TryGetValue(key, out var target))
                {
                    using var v = value.dtype == target.dtype && value.device == target.device ? value.alias() : value.to(target.dtype).to(target.device);
                    target.copy_(v);
                }
        return new LoadStateResult(missing, unexpected);
    }

    // ---- devices and dtypes ----
    /// <summary>Moves (or casts) every parameter and buffer; parameters stay leaves that require grad as before.</summary>
    public Module to(Device device) => Convert(t => t.to(device));
    public Module to(ScalarType dtype) => Convert(t => t.dtype.IsFloatingPoint() ? t.to(dtype) : t.alias());

    Module Convert(Func<Tensor, Tensor> f)
    {
        foreach (var n in paramNames)
            if (paramValues[n] is { } p)
            {
                var wasTrainable = p.requires_grad;
                Tensor moved;
                using (torch.no_grad()) moved = f(p).detach();
                moved.DetachFromDisposeScope();
                moved.requires_grad = wasTrainable;
                paramValues[n] = moved;
                p.Dispose();
            }
        foreach (var n in bufferNames)
            if (bufferValues[n] is { } b)
            {
                Tensor moved;
                using (torch.no_grad()) moved = f(b);
                moved.DetachFromDisposeScope();
                bufferValues[n] = moved;
                b.Dispose();
            }
        foreach (var (_, c) in children) c.Convert(f);
        return this;
    }

    public virtual void Dispose()
    {
        foreach (var p in paramValues.Values) p?.Dispose();
        foreach (var b in bufferValues.Values) b?.Dispose();
        foreach (var (_, c) in children) c.Dispose();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => $"{GetType().Name}({parameter_count():N0} parameters)";
}

/// <summary>Keys that a non-strict load_state_dict skipped.</summary>
public sealed record LoadStateResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);
