using PDiff.Torch;
using Xunit;

namespace PDiff.Tests.Engine;

/// <summary>A [Fact] that is skipped, saying why, when the libtorch in use has no CUDA device.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!torch.cuda.is_available())
            Skip = "CUDA is not available: this libtorch is CPU-only (Debian's is) or no GPU is visible. " +
                   "Build the shim against a CUDA libtorch (Torch_DIR) on a GPU machine to run this test.";
    }
}

public class DeviceTests
{
    [Theory]
    [InlineData("cpu", DeviceType.CPU, -1, "cpu")]
    [InlineData(" CPU ", DeviceType.CPU, -1, "cpu")]
    [InlineData("cuda", DeviceType.CUDA, 0, "cuda:0")]
    [InlineData("cuda:1", DeviceType.CUDA, 1, "cuda:1")]
    [InlineData("CUDA:12", DeviceType.CUDA, 12, "cuda:12")]
    public void ParsesDevices(string text, DeviceType type, int index, string shown)
    {
        var d = Device.Parse(text);
        Assert.Equal(type, d.Type);
        Assert.Equal(index, d.Index);
        Assert.Equal(shown, d.ToString());
        Assert.Equal(d, Device.Parse(d.ToString()));
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("")]
    [InlineData("cuda:")]
    [InlineData("cuda:x")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:+1")]
    [InlineData("cuda:0:1")]
    public void RejectsUnknownDevices(string text)
    {
        var ex = Assert.Throws<ArgumentException>(() => Device.Parse(text));
        Assert.Contains("'cpu', 'cuda' or 'cuda:N'", ex.Message);
    }

    [Fact]
    public void CpuTensorsSayCpu()
    {
        using var t = torch.zeros(2);
        Assert.Equal(Device.CPU, t.device);
        using var same = t.to("cpu");
        Assert.Equal(Device.CPU, same.device);
    }

    [Fact]
    public void AskingForCudaWithoutItIsAClearError()
    {
        if (torch.cuda.is_available()) return; // the CUDA tests below cover this machine
        Assert.Equal(0, torch.cuda.device_count());
        using var t = torch.zeros(2);
        var ex = Assert.Throws<TorchException>(() => t.to(Device.CUDA()));
        Assert.Equal("to", ex.Op);
        Assert.Contains("CUDA", ex.NativeMessage, StringComparison.OrdinalIgnoreCase);
    }

    [CudaFact]
    public void RoundTripsThroughTheGpu()
    {
        using var t = torch.tensor(new float[] { 1, 2, 3 });
        using var g = t.to(Device.CUDA());
        Assert.Equal(DeviceType.CUDA, g.device.Type);
        using var back = g.cpu();
        Assert.Equal(new float[] { 1, 2, 3 }, back.data<float>());
        Assert.Equal(new float[] { 1, 2, 3 }, g.data<float>()); // data<T>() copies from any device
    }

    [CudaFact]
    public void SeededDrawsAreTheSameOnEveryDevice()
    {
        using var g1 = new Generator(11);
        using var g2 = new Generator(11);
        using var cpu = torch.randn(new long[] { 100 }, g1);
        using var gpu = torch.randn(new long[] { 100 }, g2, device: Device.CUDA());
        Assert.Equal(DeviceType.CUDA, gpu.device.Type);
        Assert.Equal(cpu.data<float>(), gpu.data<float>());
    }

    [CudaFact]
    public void GradientsOnTheGpuMatchTheCpu()
    {
        using var g = new Generator(12);
        using var x = torch.randn(new long[] { 2, 3, 16 }, g, ScalarType.Float64);
        using var w = torch.randn(new long[] { 4, 3, 5 }, g, ScalarType.Float64);
        double[] Grad(Device d)
        {
            using var scope = torch.NewDisposeScope();
            var xd = x.to(d);
            var wd = w.to(d).requires_grad_();
            torch.nn.functional.conv1d(xd, wd, padding: 2).tanh().sum().backward();
            return wd.grad!.data<double>();
        }
        var onCpu = Grad(Device.CPU);
        var onGpu = Grad(Device.CUDA());
        for (var i = 0; i < onCpu.Length; i++) Assert.Equal(onCpu[i], onGpu[i], 1e-9);
    }

    [CudaFact]
    public void MixingDevicesIsAClearError()
    {
        using var a = torch.zeros(2);
        using var b = torch.zeros(new long[] { 2 }, device: Device.CUDA());
        var ex = Assert.Throws<TorchException>(() => a.add(b));
        Assert.Contains("same device", ex.NativeMessage);
    }
}
