using PDiff.Torch;
using Xunit;

namespace PDiff.Tests.Engine;

/// <summary>What a dispose scope frees, what it leaves, and how tensors leave it.</summary>
public class DisposeScopeTests
{
    [Fact]
    public void FreesWhatWasMadeInsideOnly()
    {
        var before = torch.ones(2);
        Tensor inside, result;
        using (var scope = torch.NewDisposeScope())
        {
            Assert.Same(scope, DisposeScope.Current);
            inside = before.add(1);
            result = inside.mul(2).MoveToOuterDisposeScope();
            Assert.Equal(1, scope.Count); // inside; result was moved out
        }
        Assert.Null(DisposeScope.Current);
        Assert.True(inside.IsDisposed);
        Assert.False(before.IsDisposed);
        Assert.False(result.IsDisposed); // moved out of the outermost scope: the caller owns it
        Assert.Equal(new float[] { 4, 4 }, result.data<float>());
        result.Dispose();
        before.Dispose();
    }

    [Fact]
    public void NestedScopesAndMoveToOuter()
    {
        Tensor a, b, c, d;
        using (var outer = torch.NewDisposeScope())
        {
            a = torch.zeros(1);
            using (var inner = torch.NewDisposeScope())
            {
                Assert.Same(inner, DisposeScope.Current);
                b = torch.zeros(1);
                c = torch.zeros(1).MoveToOuterDisposeScope();
                d = torch.zeros(1).DetachFromDisposeScope();
                Assert.Equal(1, inner.Count);
            }
            Assert.Same(outer, DisposeScope.Current);
            Assert.True(b.IsDisposed);
            Assert.False(c.IsDisposed); // now owned by the outer scope
            Assert.False(a.IsDisposed);
            Assert.Equal(2, outer.Count);
        }
        Assert.True(a.IsDisposed);
        Assert.True(c.IsDisposed);
        Assert.False(d.IsDisposed); // detached: no scope frees it
        d.Dispose();
    }

    [Fact]
    public void DetachKeepsATensorThroughEveryScope()
    {
        Tensor kept;
        using (torch.NewDisposeScope())
        using (torch.NewDisposeScope())
            kept = torch.ones(3).DetachFromDisposeScope();
        Assert.Equal(new float[] { 1, 1, 1 }, kept.data<float>());
        kept.Dispose();
    }

    [Fact]
    public void DisposingATensorEarlyAndTheScopeTwiceIsHarmless()
    {
        var scope = torch.NewDisposeScope();
        var t = torch.ones(2);
        t.Dispose();
        scope.Dispose();
        scope.Dispose();
        Assert.True(t.IsDisposed);
        Assert.Null(DisposeScope.Current);
    }

    [Fact]
    public void ScopesEndedOutOfOrderLeaveNoDeadScopeCurrent()
    {
        // Disposing the outer scope first (by hand) must not leave new tensors collected by a scope that
        // will never run again: they would leak for the thread's lifetime.
        var outer = torch.NewDisposeScope();
        var inner = torch.NewDisposeScope();
        outer.Dispose();
        inner.Dispose();
        Assert.Null(DisposeScope.Current);
        using var t = torch.ones(1);
        Assert.Null(DisposeScope.Current);

        // MoveToOuter from a scope whose outer already ended hands the tensor to the caller.
        var o2 = torch.NewDisposeScope();
        var i2 = torch.NewDisposeScope();
        var moved = torch.ones(1);
        o2.Dispose();
        moved.MoveToOuterDisposeScope();
        i2.Dispose();
        Assert.False(moved.IsDisposed);
        moved.Dispose();
    }

    [Fact]
    public void AScopeEndedOnAnotherThreadStopsCollectingOnItsOwn()
    {
        // `using var s = NewDisposeScope(); await ...;` can end the scope on another thread.
        var scope = torch.NewDisposeScope();
        var t = new Thread(() => scope.Dispose());
        t.Start();
        t.Join();
        Assert.Null(DisposeScope.Current);
        using var later = torch.ones(1);
        Assert.Equal(0, scope.Count);
    }

    [Fact]
    public void ScopesArePerThread()
    {
        // A scope collects only tensors made on its own thread; work on other threads needs its own scope.
        using var scope = torch.NewDisposeScope();
        Tensor? fromWorker = null;
        var t = new Thread(() =>
        {
            Assert.Null(DisposeScope.Current);
            fromWorker = torch.ones(1);
        });
        t.Start();
        t.Join();
        Assert.Equal(0, scope.Count);
        fromWorker!.Dispose();
    }
}
