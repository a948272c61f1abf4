using PDiff.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PDiff.Tests.Zoo;

/// <summary>
/// The user's CNN of fixtures/byo_cnn/make_fixture.py (class UserCNN) written as a TorchSharp class: what a
/// user brings as way (a). Same modules, same registration order, so the parameter names are PyTorch's
/// (conv1.weight … fc.bias) and base.pth plus the subset checkpoints load into it unchanged.
/// </summary>
public sealed class ByoCnn : nn.Module<Tensor, Tensor>
{
    readonly Conv2d conv1, conv2;
    readonly BatchNorm2d bn1, bn2;
    readonly Linear fc;

    public ByoCnn(Generator g) : base(nameof(ByoCnn))
    {
        conv1 = Layers.Conv2d(1, 8, 3, g, padding: 1);
        bn1 = nn.BatchNorm2d(8);
        conv2 = Layers.Conv2d(8, 16, 3, g, padding: 1);
        bn2 = nn.BatchNorm2d(16);
        fc = Layers.Linear(16 * 7 * 7, 10, g);
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("conv2", conv2);
        register_module("bn2", bn2);
        register_module("fc", fc);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = F.max_pool2d(F.relu(bn1.forward(conv1.forward(x))), 2);
        h = F.max_pool2d(F.relu(bn2.forward(conv2.forward(h))), 2);
        return fc.forward(h.flatten(1)).MoveToOuterDisposeScope();
    }
}
