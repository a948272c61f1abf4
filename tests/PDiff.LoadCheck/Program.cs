using TorchSharp;

// Torch first, before any PDiff.Lib type runs its loader: a program finds TorchSharp's natives on its own.
using var a = torch.tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
using var b = torch.tensor(new float[] { 5, 6, 7, 8 }, new long[] { 2, 2 });
using var c = a.matmul(b);
Console.WriteLine($"torch.__version__={torch.__version__}");
Console.WriteLine($"matmul={string.Join(",", c.data<float>().ToArray())}");
Console.WriteLine($"engine={PDiff.Engine.TorchRuntime.Describe()}");
