using Xunit;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// No code in lib/ makes a TorchSharp Scalar that it does not dispose: no implicit (or cast) conversion of a C#
/// number to Scalar, no <c>ToScalar()</c> passed inline, no call of TorchSharp's own optimizer steps. Such a
/// Scalar is freed by its finalizer, which a collection on another thread can run while libtorch still reads
/// it (docs/design-notes.md, "Scalars and the garbage collector"). <c>using Scalar s = 0.5;</c> is the way.
/// The analysis is the C# compiler's semantic model (<see cref="ScalarLint"/>), shown to catch each kind first.
/// </summary>
public class ImplicitScalarTests
{
    const string Snippet = """
        using TorchSharp;
        using static TorchSharp.torch;
        static class Snippet
        {
            static void Hot(Tensor t, Tensor u, optim.Optimizer opt, double beta)
            {
                t.mul(0.5);
                t.add_(u, alpha: 1 - beta);
                var v = t * 2;
                var w = t.mul((Scalar)3);
                t.mul(0.25.ToScalar());
                opt.step();
                var x = t.add(u);
                var d = u.sum().ToDouble();
                using var s = 0.5.ToScalar();
                using Scalar k = 2, b = beta;
                using (Scalar one = 1) t.add_(one, one);
                t.mul(s).mul(k).add_(u, alpha: b);
            }
        }
        """;

    [Fact]
    public void TheAnalysisFindsEveryKindOfUndisposedScalarInASnippet()
    {
        var found = ScalarLint.Analyze(new[] { KeyValuePair.Create("snippet.cs", Snippet) });
        Assert.Equal(new[]
        {
            "snippet.cs:7: conversion to Scalar, never disposed: 0.5",
            "snippet.cs:8: conversion to Scalar, never disposed: 1 - beta",
            "snippet.cs:9: TorchSharp call that leaves a Scalar of its own to the finalizer: t * 2",
            "snippet.cs:10: conversion to Scalar, never disposed: (Scalar)3",
            "snippet.cs:11: Scalar made by a call, never disposed: 0.25.ToScalar()",
            "snippet.cs:12: TorchSharp optimizer step (implicit Scalars inside; use OptimizerSteps.Step): opt.step()",
            "snippet.cs:13: TorchSharp call that leaves a Scalar of its own to the finalizer: t.add(u)",
            "snippet.cs:14: TorchSharp call that leaves a Scalar of its own to the finalizer: u.sum().ToDouble()",
        }, found.Select(f => f.ToString()));
    }

    [Fact]
    public void TorchSharpsOwnLeaksAreFoundInItsIL()
    {
        var leaking = ScalarLint.LeakingTorchSharpMethods();
        // ToDouble() is ToScalar().ToDouble(); add(b) is add(b, 1); square() is pow(2); AdamW's step converts
        // 1 − β₂ (inside a lambda); BatchNorm counts its steps with add_(1).
        foreach (var key in new[]
        {
            "TorchSharp.TensorExtensionMethods::ToDouble(Tensor)", "TorchSharp.torch+Tensor::add(Tensor)",
            "TorchSharp.torch+Tensor::square()", "TorchSharp.Modules.AdamW::step(Func`1)", "TorchSharp.Modules.BatchNorm::forward(Tensor)",
        })
            Assert.Contains(key, leaking);
        // The overloads that take every Scalar from the caller make none of their own.
        foreach (var key in new[] { "TorchSharp.torch+Tensor::add(Tensor,Scalar)", "TorchSharp.torch+Tensor::mul(Scalar)", "TorchSharp.torch+Tensor::pow(Scalar)", "TorchSharp.torch+Tensor::sub(Tensor)" })
            Assert.DoesNotContain(key, leaking);
    }

    [Fact]
    public void TheAnalysisRefusesCodeThatDoesNotCompile()
    {
        // A semantic model of broken code could miss a conversion: the analysis says so instead of passing.
        var e = Assert.Throws<InvalidOperationException>(() => ScalarLint.Analyze(new[] { KeyValuePair.Create("broken.cs", "static class B { static void F() { undefined(0.5); } }") }));
        Assert.Contains("broken.cs does not compile", e.Message);
    }

    [Fact]
    public void TheLibraryMakesNoScalarItDoesNotDispose()
    {
        var sources = ScalarLint.LibrarySources().ToList();
        Assert.True(sources.Count > 100, $"only {sources.Count} files found under lib/");
        var found = ScalarLint.Analyze(sources);
        Assert.True(found.Count == 0,
            $"{found.Count} Scalar(s) left to the finalizer in lib/ (write `using Scalar s = value;` and pass s; step optimizers with OptimizerSteps.Step):\n" +
            string.Join("\n", found));
    }
}
