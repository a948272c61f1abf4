using PDiff.Torch;
using F = PDiff.Torch.torch.nn.functional;

namespace PDiff.Nn;

/// <summary>1-D convolution, weight [out, in/groups, k]; PyTorch's default init (fan_in = in/groups·k).</summary>
public sealed class Conv1d : Module
{
    public long Stride { get; }
    public long Padding { get; }
    public long Dilation { get; }
    public long Groups { get; }

    public Conv1d(long inChannels, long outChannels, long kernel, Generator gen, long stride = 1, long padding = 0,
        long dilation = 1, long groups = 1, bool bias = true)
    {
        (Stride, Padding, Dilation, Groups) = (stride, padding, dilation, groups);
        var fanIn = inChannels / groups * kernel;
        Init.UniformFanIn(RegisterParameter("weight", torch.empty(new[] { outChannels, inChannels / groups, kernel }))!, fanIn, gen);
        if (bias) Init.UniformFanIn(RegisterParameter("bias", torch.empty(new[] { outChannels }))!, fanIn, gen);
        else RegisterParameter("bias", null);
    }

    public Tensor weight => Param("weight")!;
    public Tensor? bias => Param("bias");
    public override Tensor forward(Tensor x) => F.conv1d(x, weight, bias, Stride, Padding, Dilation, Groups);
}

/// <summary>2-D convolution with square kernels, weight [out, in/groups, k, k].</summary>
public sealed class Conv2d : Module
{
    public long Stride { get; }
    public long Padding { get; }
    public long Groups { get; }

    public Conv2d(long inChannels, long outChannels, long kernel, Generator gen, long stride = 1, long padding = 0,
        long groups = 1, bool bias = true)
    {
        (Stride, Padding, Groups) = (stride, padding, groups);
        var fanIn = inChannels / groups * kernel * kernel;
        Init.UniformFanIn(RegisterParameter("weight", torch.empty(new[] { outChannels, inChannels / groups, kernel, kernel }))!, fanIn, gen);
        if (bias) Init.UniformFanIn(RegisterParameter("bias", torch.empty(new[] { outChannels }))!, fanIn, gen);
        else RegisterParameter("bias", null);
    }

    public Tensor weight => Param("weight")!;
    public Tensor? bias => Param("bias");
    public override Tensor forward(Tensor x) => F.conv2d(x, weight, bias, Stride, Padding, 1, Groups);
}

/// <summary>
/// Transposed 1-D convolution, weight [in, out/groups, k]. PyTorch computes its init fan_in from weight
/// dim 1, i.e. out/groups·k (reference §0), which we reproduce.
/// </summary>
public sealed class ConvTranspose1d : Module
{
    public long Stride { get; }
    public long Padding { get; }
    public long OutputPadding { get; }
    public long Groups { get; }

    public ConvTranspose1d(long inChannels, long outChannels, long kernel, Generator gen, long stride = 1, long padding = 0,
        long outputPadding = 0, long groups = 1, bool bias = true)
    {
        (Stride, Padding, OutputPadding, Groups) = (stride, padding, outputPadding, groups);
        var fanIn = outChannels / groups * kernel;
        Init.UniformFanIn(RegisterParameter("weight", torch.empty(new[] { inChannels, outChannels / groups, kernel }))!, fanIn, gen);
        if (bias) Init.UniformFanIn(RegisterParameter("bias", torch.empty(new[] { outChannels }))!, fanIn, gen);
        else RegisterParameter("bias", null);
    }

    public Tensor weight => Param("weight")!;
    public Tensor? bias => Param("bias");

    /// <summary>
    /// Use libtorch's own transposed convolution instead of the equal-valued, faster conv1d form
    /// (<see cref="ConvTransposePolyphase"/>); groups &gt; 1 always use the native op.
    /// </summary>
    public bool UseNative { get; set; }

    public override Tensor forward(Tensor x) =>
        UseNative || !ConvTransposePolyphase.Supports(Groups, 1)
            ? F.conv_transpose1d(x, weight, bias, Stride, Padding, OutputPadding, Groups)
            : ConvTransposePolyphase.Forward(x, weight, bias, Stride, Padding, OutputPadding);
}
