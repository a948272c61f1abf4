using System.Runtime.InteropServices;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PDiff.Tests.TorchFixes;

/// <summary>A [Fact] that is skipped, saying why, when the TorchSharp backend in use has no CUDA device.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!torch.cuda.is_available())
            Skip = "CUDA is not available: the TorchSharp-cpu backend has no CUDA, or no GPU is visible. " +
                   "On a GPU machine build with -p:PDiffTorchPackage=TorchSharp-cuda-linux (where a feed serves it) to run this test.";
    }
}

/// <summary>Devices as the library names them ("cpu", "cuda", "cuda:N"): CPU everywhere, CUDA where the backend has it.</summary>
public class DeviceTests
{
    [Theory]
    [InlineData("cpu", DeviceType.CPU, -1)]
    [InlineData("cuda", DeviceType.CUDA, -1)]
    [InlineData("cuda:1", DeviceType.CUDA, 1)]
    [InlineData("cuda:12", DeviceType.CUDA, 12)]
    public void ParsesDevices(string text, DeviceType type, int index)
    {
        // Naming a CUDA device needs no GPU (the Device constructor; torch.device(...) also initialises the
        // backend and throws where there is no CUDA); using one does.
        var d = new Device(text);
        Assert.Equal(type, d.type);
        Assert.Equal(index, d.index);
        Assert.Equal(text, d.ToString());
        var again = new Device(d.ToString());
        Assert.Equal(d.type, again.type);
        Assert.Equal(d.index, again.index);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("")]
    [InlineData("cuda:x")]
    public void RejectsUnknownDevices(string text)
    {
        // ArgumentException or FormatException, with the reason.
        var ex = Assert.ThrowsAny<SystemException>(() => new Device(text));
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
    }

    [Fact]
    public void CpuTensorsSayCpu()
    {
        using var t = torch.zeros(2);
        Assert.Equal(DeviceType.CPU, t.device.type);
        using var same = t.to("cpu");
        Assert.Equal(DeviceType.CPU, same.device.type);
        Assert.Equal(DeviceType.CPU, torch.CPU.type);
    }

    [Fact]
    public void AskingForCudaWithoutItIsAClearError()
    {
        if (torch.cuda.is_available()) return; // the CUDA tests below cover this machine
        Assert.Equal(0, torch.cuda.device_count());
        using var t = torch.zeros(2);
        var ex = Assert.ThrowsAny<Exception>(() => t.to(torch.CUDA));
        Assert.Contains("CUDA", ex.Message, StringComparison.OrdinalIgnoreCase);
        using var ok = torch.ones(2).add(1); // the process carries on
        Assert.Equal(new float[] { 2, 2 }, ok.data<float>().ToArray());
    }

    [CudaFact]
    public void RoundTripsThroughTheGpu()
    {
        using var t = torch.tensor(new float[] { 1, 2, 3 });
        using var g = t.to(torch.CUDA);
        Assert.Equal(DeviceType.CUDA, g.device.type);
        using var back = g.cpu();
        Assert.Equal(new float[] { 1, 2, 3 }, back.data<float>().ToArray());
    }

    [CudaFact]
    public void SeededDrawsAreTheSameOnEveryDevice()
    {
        // A CPU generator drives CUDA tensors by drawing on the CPU and moving the result: the same seed then
        // gives the same numbers on every device (CUDA's own generator would not).
        using var g1 = new Generator(11);
        using var g2 = new Generator(11);
        using var cpu = torch.randn(new long[] { 100 }, generator: g1);
        using var gpu = torch.randn(new long[] { 100 }, generator: g2).to(torch.CUDA);
        Assert.Equal(DeviceType.CUDA, gpu.device.type);
        using var back = gpu.cpu();
        Assert.Equal(cpu.data<float>().ToArray(), back.data<float>().ToArray());
    }

    [CudaFact]
    public void GradientsOnTheGpuMatchTheCpu()
    {
        using var g = new Generator(12);
        using var x = torch.randn(new long[] { 2, 3, 16 }, ScalarType.Float64, generator: g);
        using var w = torch.randn(new long[] { 4, 3, 5 }, ScalarType.Float64, generator: g);
        double[] Grad(Device d)
        {
            using var scope = torch.NewDisposeScope();
            var xd = x.to(d);
            var wd = w.to(d).detach().requires_grad_();
            torch.nn.functional.conv1d(xd, wd, padding: 2).tanh().sum().backward();
            return wd.grad!.cpu().data<double>().ToArray();
        }
        var onCpu = Grad(torch.CPU);
        var onGpu = Grad(torch.CUDA);
        for (var i = 0; i < onCpu.Length; i++) Assert.Equal(onCpu[i], onGpu[i], 1e-9);
    }

    [CudaFact]
    public void MixingDevicesIsAClearError()
    {
        using var a = torch.zeros(2);
        using var b = torch.zeros(new long[] { 2 }, device: torch.CUDA);
        var ex = Assert.Throws<ExternalException>(() => a.add(b));
        Assert.Contains("same device", ex.Message);
    }
}
