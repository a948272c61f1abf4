using Xunit;

namespace PDiff.Tests;

/// <summary>
/// Tests that compare torch.LiveTensorCount before and after: the count is process-wide, so they must
/// not run beside other tests (xunit runs this collection alone, after the parallel ones).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NativeMemoryCollection
{
    public const string Name = "Native memory (not parallel)";
}
