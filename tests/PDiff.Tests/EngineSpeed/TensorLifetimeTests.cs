using System.Runtime.CompilerServices;
using PDiff.Torch;
using Xunit;

namespace PDiff.Tests.EngineSpeed;

/// <summary>
/// Who frees a native tensor: Dispose, the dispose scope that owns it, or (safety net) the garbage
/// collector: a guard object for tensors no scope owns, the scope's finalizer for a scope never disposed.
/// </summary>
[Collection(PDiff.Tests.Engine.NativeStateCollection.Name)]
public class TensorLifetimeTests
{
    static void Collect()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static void Drop(Func<Tensor> make) => make();

    [Fact]
    public void ScopeFreesWhatItOwnsAndForgetsWhatWasDisposedEarly()
    {
        var live = torch.LiveTensorCount;
        Tensor kept, inner;
        using (var scope = torch.NewDisposeScope())
        {
            var a = torch.ones(3);
            var b = torch.ones(3);
            Assert.Equal(2, scope.Count);
            b.Dispose();
            Assert.Equal(1, scope.Count); // a long-lived scope does not accumulate disposed tensors
            kept = (a * 2).DetachFromDisposeScope();
            using (torch.NewDisposeScope())
                inner = torch.zeros(2).MoveToOuterDisposeScope();
            Assert.False(inner.IsDisposed);
            Assert.Equal(2, scope.Count); // a and the moved tensor
            Assert.Equal(live + 3, torch.LiveTensorCount);
        }
        Assert.True(inner.IsDisposed);
        Assert.False(kept.IsDisposed);
        Assert.Equal(new float[] { 2, 2, 2 }, kept.data<float>());
        kept.Dispose();
        Assert.Equal(live, torch.LiveTensorCount);
    }

    [Fact]
    public void CollectorFreesTensorsThatNoScopeOwns()
    {
        Collect();
        var live = torch.LiveTensorCount;
        Drop(() => torch.ones(4)); // made outside any scope
        Drop(() =>
        {
            using (torch.NewDisposeScope()) return torch.ones(4).DetachFromDisposeScope();
        });
        Drop(() =>
        {
            using (torch.NewDisposeScope()) return torch.ones(4).MoveToOuterDisposeScope(); // no outer scope
        });
        Collect();
        Assert.Equal(live, torch.LiveTensorCount);
    }

    [Fact]
    public void CollectorFreesTheTensorsOfAScopeNeverDisposed()
    {
        Collect();
        var live = torch.LiveTensorCount;
        var thread = new Thread(() =>
        {
            torch.NewDisposeScope(); // never disposed: the thread ends inside it
            torch.ones(5);
            torch.ones(5);
        });
        thread.Start();
        thread.Join();
        Assert.Equal(live + 2, torch.LiveTensorCount);
        Collect();
        Assert.Equal(live, torch.LiveTensorCount);
    }
}
