using PDiff.Storage;
using PDiff.Models;
using Xunit;

namespace PDiff.Tests.Models;

/// <summary>
/// A network's size counted from its spec, without building it: the count is the built network's,
/// a network that cannot fit is refused naming the size and the largest that fits, and that largest is accepted.
/// </summary>
public class ModelSizeTests
{
    public static TheoryData<string> Specs => new()
    {
        """{"arch":"mlp","hidden":[64,32]}""",
        """{"arch":"mlp","hidden":[7],"classes":3}""",
        """{"arch":"convnet3","width":8}""",
        """{"arch":"convnet3","channels":[4,8,16],"classes":5}""",
        """{"arch":"resnet18","width":4}""",
        """{"arch":"resnet18","width":3,"inChannels":3,"imageSize":32}""",
        """{"arch":"vit","dim":32,"heads":2,"mlpDim":64,"depth":2}""",
        """{"arch":"vit","dim":12,"heads":3,"mlpDim":20,"depth":1,"patch":7}""",
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void TheCountFromTheSpecIsTheBuiltNetworks(string json)
    {
        var spec = ModelSpec.FromJson(json);
        using var model = ModelRegistry.Build(spec, 0);
        Assert.Equal(ModuleTree.ParameterCount(model), (long)ModelSize.Parameters(spec)!.Value);
    }

    [Fact]
    public void ANetworkLargerThanTheMemoryIsRefusedBeforeItIsBuilt()
    {
        // The user's report: --width 100000 ended in libtorch's allocator with 16 lines of frames.
        var budget = new MachineBudget(22L << 30, 2);
        var spec = new ModelSpec { Arch = "resnet18", Width = 100_000 };
        var e = Assert.Throws<BudgetExceededException>(() => ModelSize.CheckFits(spec, ModelUse.Build, budget: budget));
        Assert.StartsWith("ModelSpec.Width 100000: a ResNet-18 of width 100000 and 10 classes has 2.7e13 parameters (99.1 TiB in float32); " +
                          "this machine has 22.0 GiB of memory available: use at most ModelSpec.Width ", e.Message);
        Assert.Equal(("Width", 100_000L), (e.Property, e.Value));
        // The library's own path refuses it too, before any tensor exists (this machine has far less than 99 TiB).
        Assert.Throws<BudgetExceededException>(() => ModelRegistry.Build(spec, 0).Dispose());
        Assert.Throws<BudgetExceededException>(() => ModelRegistry.Build(new ModelSpec { Arch = "mlp", Hidden = new[] { 2_000_000_000 } }, 0).Dispose());
    }

    public static TheoryData<string, string, ModelUse, int> Boundaries => new()
    {
        // spec, the size that is too large, use, batch
        { """{"arch":"resnet18","width":5000}""", "Width", ModelUse.Train, 128 },
        { """{"arch":"resnet18","width":5000}""", "Width", ModelUse.Build, 0 },
        { """{"arch":"convnet3","width":100000}""", "Width", ModelUse.Load, 0 },
        { """{"arch":"mlp","hidden":[256,2000000000]}""", "Hidden", ModelUse.Load, 0 },
        { """{"arch":"mlp","classes":2000000000}""", "Classes", ModelUse.Load, 0 },
        { """{"arch":"vit","dim":30000,"heads":3,"mlpDim":64,"depth":2}""", "Dim", ModelUse.Build, 0 },
        { """{"arch":"vit","dim":32,"heads":2,"mlpDim":2000000000,"depth":2}""", "MlpDim", ModelUse.Train, 32 },
        { """{"arch":"vit","dim":32,"heads":2,"mlpDim":64,"depth":100000000}""", "Depth", ModelUse.Build, 0 },
    };

    [Theory]
    [MemberData(nameof(Boundaries))]
    public void TheLimitGivenIsAcceptedAndOneMoreIsRefused(string json, string property, ModelUse use, int batch)
    {
        var budget = new MachineBudget(256L << 20, 2);
        var spec = ModelSpec.FromJson(json);
        var e = Assert.Throws<BudgetExceededException>(() => ModelSize.CheckFits(spec, use, batch, budget, p => "--" + p.ToLowerInvariant()));
        Assert.Equal(property, e.Property);
        var limit = Assert.IsType<long>(e.Limit);
        Assert.Contains($"--{property.ToLowerInvariant()} {e.Value}: ", e.Message);
        Assert.Contains($"use at most --{property.ToLowerInvariant()} {limit}", e.Message);
        var step = property == "Dim" ? spec.Heads!.Value : 1;
        Assert.Equal(0, limit % step);
        ModelSize.CheckFits(With(spec, property, limit), use, batch, budget);   // accepted
        Assert.True(ModelSize.Bytes(With(spec, property, limit), use, batch) <= budget.MemoryBytes);
        Assert.Throws<BudgetExceededException>(() => ModelSize.CheckFits(With(spec, property, limit + step), use, batch, budget));
    }

    static ModelSpec With(ModelSpec s, string property, long v) => property switch
    {
        "Width" => s with { Width = (int)v },
        "Hidden" => s with { Hidden = s.Hidden!.Select(h => h == s.Hidden!.Max() ? (int)v : h).ToArray() },
        "Classes" => s with { Classes = (int)v },
        "Dim" => s with { Dim = (int)v },
        "MlpDim" => s with { MlpDim = (int)v },
        "Depth" => s with { Depth = (int)v },
        _ => throw new ArgumentException(property),
    };

    [Fact]
    public void ATrainedNetworkNeedsFourCopiesAndItsBatch()
    {
        var spec = new ModelSpec { Arch = "mlp", Hidden = new[] { 10 } };
        var p = ModelSize.Parameters(spec)!.Value;
        Assert.Equal(784 * 10 + 10 + 20 + 10 * 10 + 10, p);
        Assert.Equal(4 * p, ModelSize.Bytes(spec, ModelUse.Build));
        Assert.Equal(8 * p, ModelSize.Bytes(spec, ModelUse.Load));
        // A batch of 5 holds each image (784 pixels) and the widest layer's output (10).
        Assert.Equal(16 * p + 4.0 * 5 * (784 + 10), ModelSize.Bytes(spec, ModelUse.Train, 5));
    }

    [Fact]
    public void ANetworkWeCannotCountIsNotRefused()
    {
        var spec = new ModelSpec { Arch = ModelSpec.TorchScript, Source = "model.pt" };
        Assert.Null(ModelSize.Parameters(spec));
        ModelSize.CheckFits(spec, ModelUse.Train, 128, new MachineBudget(1, 1));
    }

    [Fact]
    public void AViTsHeadsMustDivideItsDimBeforeItIsBuilt()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelRegistry.Complete(new ModelSpec { Arch = "vit", Dim = 192, Heads = 7 }));
        Assert.Equal("ModelSpec.Heads 7 does not divide ModelSpec.Dim 192: each head takes dim/heads numbers; give a divisor of 192.", e.Message);
    }
}
