using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Nn;

/// <summary>Children applied in order; named "0", "1", … as in PyTorch.</summary>
public sealed class Sequential : Module
{
    readonly List<Module> layers = new();

    public Sequential(params Module[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    public Sequential Add(Module m)
    {
        RegisterModule(layers.Count.ToString(), m);
        layers.Add(m);
        return this;
    }

    public int Count => layers.Count;
    public Module this[int i] => layers[i];

    /// <summary>Applies every layer, freeing intermediates as it goes.</summary>
    public override Tensor forward(Tensor x)
    {
        if (layers.Count == 0) return x.alias();
        var h = layers[0].forward(x);
        for (var i = 1; i < layers.Count; i++)
        {
            var next = layers[i].forward(h);
            h.Dispose();
            h = next;
        }
        return h;
    }
}

/// <summary>An indexed list of children (named "0", "1", …) without a forward of its own.</summary>
public sealed class ModuleList<T> : Module where T : Module
{
    readonly List<T> items = new();

    public ModuleList(IEnumerable<T>? modules = null)
    {
        if (modules != null)
            foreach (var m in modules) Add(m);
    }

    public void Add(T m)
    {
        RegisterModule(items.Count.ToString(), m);
        items.Add(m);
    }

    public int Count => items.Count;
    public T this[int i] => items[i];
    public IEnumerable<T> Items => items;
}

public sealed class Dropout : Module
{
    readonly Generator gen;
    public double P { get; }

    /// <param name="gen">The generator the masks are drawn from (explicit, so runs repeat).</param>
    public Dropout(double p, Generator gen) => (P, this.gen) = (p, gen);
    public override Tensor forward(Tensor x) => F.dropout(x, P, training, gen);
}

public sealed class Identity : Module { public override Tensor forward(Tensor x) => x.alias(); }
public sealed class ReLU : Module { public override Tensor forward(Tensor x) => x.relu(); }
public sealed class Tanh : Module { public override Tensor forward(Tensor x) => x.tanh(); }
public sealed class Sigmoid : Module { public override Tensor forward(Tensor x) => x.sigmoid(); }
public sealed class SiLU : Module { public override Tensor forward(Tensor x) => F.silu(x); }
public sealed class GELU : Module { public override Tensor forward(Tensor x) => F.gelu(x); }

public sealed class LeakyReLU : Module
{
    public double Slope { get; }
    public LeakyReLU(double slope = 0.01) => Slope = slope;
    public override Tensor forward(Tensor x) => F.leaky_relu(x, Slope);
}

public sealed class ELU : Module
{
    public double Alpha { get; }
    public ELU(double alpha = 1.0) => Alpha = alpha;
    public override Tensor forward(Tensor x) => F.elu(x, Alpha);
}

public sealed class Flatten : Module
{
    readonly long start, end;
    public Flatten(long startDim = 1, long endDim = -1) => (start, end) = (startDim, endDim);
    public override Tensor forward(Tensor x) => x.flatten(start, end);
}
