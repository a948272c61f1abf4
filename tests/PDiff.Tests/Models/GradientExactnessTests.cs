using PDiff.Models;
using PDiff.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.Models;

/// <summary>
/// Training gradients of every architecture, float32 (as training runs) against the same network in
/// float64 (where libtorch does not use oneDNN), at the widths of the smoke and quick profiles. On our
/// AVX-512 CPU libtorch 2.10's float32 convolutions give wrong or NaN input gradients for output channels
/// that are not a multiple of 16 (ResNet-18 at width 4 and 8, ConvNet-3 at width 8): these pass only
/// because the models run their convolutions through PDiff.TorchFixes.SafeConv (with the plain
/// <c>conv.forward</c>, ResNet-18 at widths 4 and 8 and ConvNet-3 at width 8 got NaN gradients here).
/// </summary>
public class GradientExactnessTests
{
    [Theory]
    [InlineData("resnet18", Profile.Smoke)]
    [InlineData("resnet18", Profile.Quick)]
    [InlineData("convnet3", Profile.Smoke)]
    [InlineData("convnet3", Profile.Quick)]
    [InlineData("vit", Profile.Smoke)]
    [InlineData("vit", Profile.Quick)]
    [InlineData("mlp", Profile.Smoke)]
    public void TrainingGradientsMatchFloat64(string arch, Profile profile)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        using var model = ModelRegistry.Create(ZooProfiles.Model(profile, arch), g);
        model.train();
        var x = randn(new long[] { 4, 1, 28, 28 }, generator: g);
        var y = randint(0, 10, new long[] { 4 }, generator: g);
        Tensor Loss(ScalarType dt) => F.cross_entropy(model.forward(x.to(dt)), y);

        var l32 = Loss(ScalarType.Float32);
        l32.backward();
        var g32 = model.named_parameters().Select(p => (p.name, grad: p.parameter.grad?.to(ScalarType.Float64))).ToList();
        // Same parameters in float64; batch-norm running statistics were updated once, which the loss does not read.
        model.to(ScalarType.Float64);
        model.zero_grad();
        var l64 = Loss(ScalarType.Float64);
        l64.backward();

        Assert.Equal(l64.item<double>(), l32.item<float>(), 1e-4 * Math.Max(1, l64.item<double>()));
        var scale = model.parameters().Where(p => p.grad is not null).Max(p => p.grad!.norm().item<double>());
        foreach (var ((name, a), (_, p)) in g32.Zip(model.named_parameters()))
        {
            Assert.NotNull(a);
            // Relative to the tensor's own gradient, floored at 1e-4 of the largest (a conv bias before a
            // batch norm has a gradient of about 0).
            var err = a!.sub(p.grad!).norm().item<double>() / (p.grad!.norm().item<double>() + 1e-4 * scale);
            Assert.True(err < 5e-3, $"{arch} ({profile}): gradient of {name} is off by {err:G3} (relative, float32 vs float64)");
        }
    }

    /// <summary>
    /// Inference (eval mode, no autograd: how our scorers run, SafeConv's channels-last path) against float64, at the
    /// profiles' widths and at widths whose channel counts libtorch's float32 kernels get wrong here: ConvNet-3 at 24
    /// (a 24 → 24 forward) and ResNet-18 at 20 (1×1 shortcuts to 40 and 80 channels, wrong channels-last).
    /// </summary>
    [Theory]
    [InlineData("resnet18", Profile.Smoke, null)]
    [InlineData("resnet18", Profile.Smoke, 20)]
    [InlineData("convnet3", Profile.Quick, null)]
    [InlineData("convnet3", Profile.Quick, 24)]
    [InlineData("vit", Profile.Smoke, null)]
    public void InferenceLogitsMatchFloat64(string arch, Profile profile, int? width)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(12);
        var spec = ZooProfiles.Model(profile, arch);
        if (width is { } w) spec = spec with { Width = w };
        using var model = ModelRegistry.Create(spec, g);
        using var model64 = ModelRegistry.Create(spec, new Generator(12));
        model64.to(ScalarType.Float64);
        var x = randn(new long[] { 32, 1, 28, 28 }, generator: g);
        model.eval();
        model64.eval();
        Tensor y32, y64;
        using (inference_mode())
        {
            PDiff.TorchFixes.ConvCheck.DirtyHeap();   // the wrong kernels read memory they did not write
            y32 = model.forward(x).to(ScalarType.Float64);
            y64 = model64.forward(x.to(ScalarType.Float64));
        }
        var err = y32.sub(y64).abs().max().item<double>() / y64.abs().max().item<double>();
        Assert.True(err < 1e-4, $"{spec}: float32 inference logits off by {err:G3} (relative to float64)");
    }
}
