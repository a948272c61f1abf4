using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.TorchFixes;

/// <summary>
/// Convolutions routed around wrong results of libtorch 2.10's float32 oneDNN kernels on our CPU (AMD EPYC,
/// AVX-512; lower <c>ONEDNN_MAX_CPU_ISA</c> levels down to AVX fail other shapes, docs/upstream/onednn-conv-avx512).
/// Measured against float64 (which
/// does not use oneDNN) over channels 1–33 (and up to 140), kernels 1/3/7, strides 1/2, batch 1/4, sizes
/// 4–32, 1-D and 2-D (<c>SafeConvTests</c>), for a convolution in [B, C, L] / [B, C, H, W] layout:
/// <list type="bullet">
/// <item>the forward is wrong or NaN when the input channels are above 16 and not a multiple of 16;</item>
/// <item>the input gradient is wrong or NaN when the output channels are not a multiple of 16 (stride 1;
/// strided: with at most 4 input channels), and, strided, when the input channels round up to an odd
/// number (3 or more) of blocks of 16, whatever the output channels;</item>
/// <item>a transposed convolution is the same kernels with the roles swapped (its forward is a
/// convolution's input gradient, its input gradient a convolution's forward).</item>
/// </list>
/// Weight gradients were always right, and so were 1×1 kernels on [B, C, H, W] memory and channels-last
/// activations with more than one channel and kernels wider than 1 (inference over channels 2–40, kernels
/// 3/5/7, strides 1/2, batch 1/4/32). A 1×1 kernel on channels-last activations was wrong in inference for
/// many output counts above 32 (33–45, 65–80, 97–112, …): those run on [B, C, H, W] memory.
/// The wrong kernels read memory they did not write: on fresh (zeroed) memory they are
/// often right by luck, after freed NaN-filled blocks always wrong (<see cref="ConvCheck.DirtyHeap"/>).
/// A convolution at risk runs with zero channels added to its kernel (and, for input channels, to its
/// input) up to a safe count, and the extra outputs dropped: values and gradients are the same numbers.
/// Padding is conservative (a strided convolution's output channels are padded even where only small
/// inputs failed). A stride-1 transposed convolution runs as the convolution with the flipped kernel.
/// Groups other than 1 run unchanged (not measured; none of our layers use them).
/// The rule was measured on one CPU at its full instruction set: every convolution first asks
/// <see cref="ConvCheck.EnsureSafeConvExact"/>, which probes it once per process and, where it does not
/// hold, switches oneDNN off for the process or refuses.
/// </summary>
public static class SafeConv
{
    const long Block = 16;

    [ThreadStatic] static int bfloat16Scopes;

    /// <summary>
    /// Until the result is disposed, convolutions on this thread compute in bfloat16 and return bfloat16, as in PyTorch's
    /// CPU autocast (the reference V2 trains and samples under bf16 autocast, pdiff-reference §3.2): float32 or bfloat16
    /// input, the kernel and bias cast to bfloat16, gradients reaching the float32 weights through the casts. The caller
    /// keeps what follows in bfloat16 or casts back (the V2 denoiser, `OneDimCNN`, does both: norms and
    /// activations on bfloat16, its output float32): on CPUs with AVX-512-BF16 this trains and samples the denoiser
    /// markedly faster than float32, while casting back to float32 after every convolution instead gains much less
    /// (measured in docs/design-notes.md, "bfloat16 autocast is an option"). Scopes nest.
    /// </summary>
    public static IDisposable BFloat16Scope()
    {
        bfloat16Scopes++;
        return new ScopeExit();
    }

    /// <summary>Whether a <see cref="BFloat16Scope"/> is open on this thread.</summary>
    public static bool InBFloat16Scope => bfloat16Scopes > 0;

    sealed class ScopeExit : IDisposable
    {
        bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            bfloat16Scopes--;
        }
    }

    /// <summary>
    /// <paramref name="run"/> on bfloat16 operands inside a <see cref="BFloat16Scope"/> (float32 or bfloat16 input; the
    /// result is bfloat16), as is otherwise.
    /// </summary>
    static Tensor Autocast(Tensor x, Tensor weight, Tensor? bias, Func<Tensor, Tensor, Tensor?, Tensor> run)
    {
        if (bfloat16Scopes == 0 || x.dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || weight.dtype == ScalarType.BFloat16)
            return run(x, weight, bias);
        using var scope = NewDisposeScope();
        return run(x.to(ScalarType.BFloat16), weight.to(ScalarType.BFloat16), bias?.to(ScalarType.BFloat16)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Channel counts a convolution (groups 1) should run with so that no measured failure applies:
    /// (input, output), equal to the given ones when nothing is at risk. <paramref name="inputGrad"/>: the
    /// input's gradient will be computed; <paramref name="strided"/>: a stride (or dilation) above 1.
    /// </summary>
    public static (long In, long Out) SafeChannels(long cin, long cout, bool pointwise, bool strided, bool inputGrad)
    {
        if (pointwise) return (cin, cout);
        var cinSafe = cin > Block ? RoundUp(cin) : cin;
        if (inputGrad && strided && cinSafe > 2 * Block && cinSafe / Block % 2 == 1) cinSafe += Block;
        var coutSafe = inputGrad ? RoundUp(cout) : cout;
        return (cinSafe, coutSafe);
    }

    static long RoundUp(long c) => (c + Block - 1) / Block * Block;

    static bool NeedsInputGrad(Tensor x) => x.requires_grad && is_grad_enabled();

    /// <summary>Conv1d's forward on [B, C, L], or on [B, C, 1, L] (see <see cref="ChannelsLast"/>).</summary>
    public static Tensor Conv(Tensor x, Conv1d conv)
    {
        CheckInput(x, conv, "Conv1d", (x.dim() == 3 || (x.dim() == 4 && x.size(2) == 1)) && x.size(1) == conv.in_channels,
            $"[B, {conv.in_channels}, L] or [B, {conv.in_channels}, 1, L]");
        return Conv(x, conv.weight, conv.bias, conv.stride[0], conv.padding![0], conv.dilation[0], conv.groups);
    }

    /// <summary>Conv2d's forward on [B, C, H, W]; the module only holds the parameters (and their names).</summary>
    public static Tensor Conv(Tensor x, Conv2d conv)
    {
        CheckInput(x, conv, "Conv2d", x.dim() == 4 && x.size(1) == conv.in_channels, $"[B, {conv.in_channels}, H, W]");
        return Conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding!, conv.dilation, conv.groups);
    }

    /// <summary>ConvTranspose1d's forward on [B, C, L], or on [B, C, 1, L].</summary>
    public static Tensor ConvTranspose(Tensor x, ConvTranspose1d ct)
    {
        CheckInput(x, ct, "ConvTranspose1d", (x.dim() == 3 || (x.dim() == 4 && x.size(2) == 1)) && x.size(1) == ct.in_channels,
            $"[B, {ct.in_channels}, L] or [B, {ct.in_channels}, 1, L]");
        return ConvTranspose(x, ct.weight, ct.bias, ct.stride[0], ct.padding![0], ct.output_padding[0], ct.dilation[0], ct.groups);
    }

    /// <summary>F.conv2d on [B, C, H, W] with <paramref name="weight"/> [out, in, kh, kw].</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        ConvCheck.EnsureSafeConvExact();
        return Autocast(x, weight, bias, (x, weight, bias) => Conv2dAs(x, weight, bias, stride, padding, dilation, groups));
    }

    static Tensor Conv2dAs(Tensor x, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        var (cin, cout) = (weight.size(1), weight.size(0));
        // Inference (no gradients) on float32 activations with more than one channel runs channels-last: every measured
        // case with a kernel wider than 1 was right there, and oneDNN is far faster on that layout at small maps (ConvNet-3's 3×3 conv on 7×7 maps;
        // measured in bench/README.md, "Scoring subset vectors"). The output stays channels-last, and so do the batch
        // norms, activations and pools after it, so the next convolution's input needs no copy. Not in training: a
        // float32 channels-last backward corrupted the heap in libtorch 2.10 here ("free(): invalid next size", the
        // gradient-exactness tests), and not for float64, which oneDNN does not serve. Not for 1×1 kernels, which
        // were wrong there (see the class summary).
        var pointwise = weight.size(2) == 1 && weight.size(3) == 1;
        if (groups == 1 && cin > 1 && !pointwise && x.dim() == 4 && x.dtype == ScalarType.Float32 && !is_grad_enabled())
        {
            using var nhwc = ChannelsLast.Contiguous(x);   // a view, no copy, when x already is (the next layers' inputs)
            return F.conv2d(nhwc, weight, bias, stride, padding, dilation, groups);
        }
        using var scope = NewDisposeScope();
        // The rule below was measured on [B, C, H, W] memory; libtorch would run a channels-last input channels-last.
        if (ChannelsLast.IsChannelsLast(x)) x = x.contiguous();
        var strided = stride.Any(s => s > 1) || dilation.Any(d => d > 1);
        var (inSafe, outSafe) = groups == 1 ? SafeChannels(cin, cout, pointwise, strided, NeedsInputGrad(x)) : (cin, cout);
        if ((inSafe, outSafe) == (cin, cout)) return F.conv2d(x, weight, bias, stride, padding, dilation, groups).MoveToOuterDisposeScope();
        var (xs, w, b) = Padded(x, weight, bias, inSafe - cin, outSafe - cout);
        return F.conv2d(xs, w, b, stride, padding, dilation, 1).narrow(1, 0, cout).MoveToOuterDisposeScope();
    }

    /// <param name="weight">[out, in/groups, k], as Conv1d's.</param>
    public static Tensor Conv(Tensor x, Tensor weight, Tensor? bias, long stride, long padding, long dilation, long groups)
    {
        ConvCheck.EnsureSafeConvExact();
        return Autocast(x, weight, bias, (x, weight, bias) => ConvAs(x, weight, bias, stride, padding, dilation, groups));
    }

    static Tensor ConvAs(Tensor x, Tensor weight, Tensor? bias, long stride, long padding, long dilation, long groups)
    {
        var (cin, cout) = (weight.size(1), weight.size(0));
        if (x.dim() == 4 && weight.size(2) == 1)
        {
            // A 1×1 kernel does not run channels-last (wrong there in inference): as [B, C, L], back to [B, C, 1, L].
            using var flat = NewDisposeScope();
            return ChannelsLast.From3d(ConvAs(x.squeeze(2).contiguous(), weight, bias, stride, padding, dilation, groups)).MoveToOuterDisposeScope();
        }
        // [B, C, 1, L] activations run channels-last, where only a single input channel (which libtorch
        // cannot tell from [B, C, H, W]) failed, as in [B, C, L] layout.
        var nchw = x.dim() == 3 || cin == 1;
        var (inSafe, outSafe) = groups == 1 && nchw
            ? SafeChannels(cin, cout, weight.size(2) == 1, stride > 1 || dilation > 1, NeedsInputGrad(x))
            : (cin, cout);
        if ((inSafe, outSafe) == (cin, cout)) return Raw(x, weight, bias, stride, padding, dilation, groups);
        using var scope = NewDisposeScope();
        var (xs, w, b) = Padded(x, weight, bias, inSafe - cin, outSafe - cout);
        return Raw(xs, w, b, stride, padding, dilation, 1).narrow(1, 0, cout).MoveToOuterDisposeScope();
    }

    /// <param name="weight">[in, out/groups, k], as ConvTranspose1d's.</param>
    public static Tensor ConvTranspose(Tensor x, Tensor weight, Tensor? bias, long stride, long padding, long outputPadding, long dilation, long groups)
    {
        ConvCheck.EnsureSafeConvExact();
        return Autocast(x, weight, bias, (x, weight, bias) => ConvTransposeAs(x, weight, bias, stride, padding, outputPadding, dilation, groups));
    }

    static Tensor ConvTransposeAs(Tensor x, Tensor weight, Tensor? bias, long stride, long padding, long outputPadding, long dilation, long groups)
    {
        var (cout, k) = (weight.size(1) * groups, weight.size(2));
        if (x.dim() == 4 && k == 1)
        {
            // Not channels-last for a 1×1 kernel (its strided input gradient was wrong there): as [B, C, L].
            using var flat = NewDisposeScope();
            return ChannelsLast.From3d(ConvTransposeAs(x.squeeze(2).contiguous(), weight, bias, stride, padding, outputPadding, dilation, groups)).MoveToOuterDisposeScope();
        }
        var convPad = dilation * (k - 1) - padding;
        if (stride == 1 && groups == 1 && outputPadding == 0 && convPad >= 0)
        {
            using var scope = NewDisposeScope();
            var w = weight.transpose(0, 1).flip(2);                        // [out, in, k]
            return Conv(x, w, bias, 1, convPad, dilation, 1).MoveToOuterDisposeScope();
        }
        // Its forward is a strided convolution's input gradient with `cout` as that convolution's input
        // channels, its input gradient a forward with `cout` inputs: both safe for a multiple of 16 that is
        // an even number of blocks above 32 (and at most 4 inputs failed: small counts are padded too).
        var coutSafe = RoundUp(cout);
        if (coutSafe > 2 * Block && coutSafe / Block % 2 == 1) coutSafe += Block;
        if (groups == 1 && coutSafe != cout)
        {
            using var scope = NewDisposeScope();
            var w = F.pad(weight, new long[] { 0, 0, 0, coutSafe - cout });
            var b = bias is null ? null : F.pad(bias, new long[] { 0, coutSafe - cout });
            return RawTranspose(x, w, b, stride, padding, outputPadding, dilation, 1).narrow(1, 0, cout).MoveToOuterDisposeScope();
        }
        return RawTranspose(x, weight, bias, stride, padding, outputPadding, dilation, groups);
    }

    /// <summary>
    /// The input with <paramref name="extraIn"/> zero channels, the kernel with zero input and output
    /// channels to match, the bias with zero outputs (for [B, C, ...] of any rank; channels are dim 1).
    /// </summary>
    static (Tensor X, Tensor W, Tensor? B) Padded(Tensor x, Tensor weight, Tensor? bias, long extraIn, long extraOut)
    {
        var xs = extraIn == 0 ? x : F.pad(x, PadDim(x.dim(), 1, extraIn));
        var w = F.pad(weight, PadDim(weight.dim(), 0, extraOut, 1, extraIn));
        var b = bias is null || extraOut == 0 ? bias : F.pad(bias, new long[] { 0, extraOut });
        return (xs, w, b);
    }

    /// <summary>F.pad's list (last dim first) adding zeros at the end of the given dims.</summary>
    static long[] PadDim(long rank, params long[] dimAndCount)
    {
        var pad = new long[2 * rank];
        for (var i = 0; i < dimAndCount.Length; i += 2)
            pad[2 * (rank - 1 - dimAndCount[i]) + 1] = dimAndCount[i + 1];
        return pad;
    }

    /// <summary>
    /// A Sequential's layers as forward functions, with its convolutions routed through this class: run
    /// them in order instead of <c>Sequential.forward</c>. The Sequential keeps the parameters and names.
    /// </summary>
    public static Func<Tensor, Tensor>[] Steps(Sequential sequential) =>
        sequential.children().Select(m => m switch
        {
            Conv1d c => x => Conv(x, c),
            Conv2d c => x => Conv(x, c),
            ConvTranspose1d t => x => ConvTranspose(x, t),
            // TorchSharp's forward of these leaves a Scalar to the finalizer (SafeOps).
            BatchNorm b => x => SafeOps.BatchNorm(b, x),
            LeakyReLU r => x => SafeOps.LeakyRelu(x, r.negative_slope, r.inplace),
            nn.Module<Tensor, Tensor> f => (Func<Tensor, Tensor>)f.forward,
            _ => throw new NotSupportedException($"SafeConv.Steps: layer {m.GetType().Name} does not map tensors to tensors."),
        }).ToArray();

    /// <summary>Runs <see cref="Steps"/> in order.</summary>
    public static Tensor Run(Func<Tensor, Tensor>[] steps, Tensor x)
    {
        var h = x;
        foreach (var step in steps) h = step(h);
        return h;
    }

    static Tensor Raw(Tensor x, Tensor w, Tensor? b, long s, long p, long d, long g)
    {
        if (x.dim() == 3) return F.conv1d(x, w, b, s, p, d, g);
        using var k = ChannelsLast.Kernel(w, x);
        return F.conv2d(x, k, b, new[] { 1, s }, new[] { 0, p }, new[] { 1, d }, g);
    }

    static Tensor RawTranspose(Tensor x, Tensor w, Tensor? b, long s, long p, long op, long d, long g)
    {
        if (x.dim() == 3) return F.conv_transpose1d(x, w, b, s, p, op, d, g);
        using var k = ChannelsLast.Kernel(w, x);
        return F.conv_transpose2d(x, k, b, new[] { 1, s }, new[] { 0, p }, new[] { 0, op }, new[] { 1, d }, g);
    }

    static void CheckInput(Tensor x, Convolution c, string what, bool shapeOk, string expected)
    {
        if (!shapeOk)
            throw new ArgumentException($"{what}({c.in_channels} → {c.out_channels}): expected activations {expected}; got [{string.Join(", ", x.shape)}].");
        if (c.padding_type is not null || c.padding_mode != PaddingModes.Zeros)
            throw new NotSupportedException($"{what}: only explicit zero padding is supported (got {c.padding_type?.ToString() ?? c.padding_mode.ToString()}); p-diff's layers use it.");
    }
}
