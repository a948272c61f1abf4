namespace PDiff.Torch;

/// <summary>
/// An explicit, seeded random-number generator (libtorch's CPU Philox/MT generator). Every random
/// tensor in PDiff.NET is drawn from one of these, so the same seed gives the same bits; numbers are
/// drawn on the CPU and moved, so they also agree across devices.
/// </summary>
public sealed class Generator : IDisposable
{
    IntPtr handle;

    public Generator(ulong seed)
    {
        handle = Native.pd_generator_new(seed);
        if (handle == IntPtr.Zero) throw new TorchException("Generator", seed.ToString(), Native.LastError());
        Seed = seed;
    }

    public ulong Seed { get; private set; }

    internal IntPtr Handle => handle != IntPtr.Zero ? handle : throw new ObjectDisposedException(nameof(Generator));

    public void ManualSeed(ulong seed)
    {
        Native.pd_generator_set_seed(Handle, seed);
        Seed = seed;
    }

    /// <summary>The full generator state as a uint8 tensor (for checkpoint and resume).</summary>
    public Tensor GetState() => Tensor.Check(Native.pd_generator_get_state(Handle), "Generator.GetState");

    public void SetState(Tensor state)
    {
        if (Native.pd_generator_set_state(Handle, state.Handle) != 0) throw TorchException.From("Generator.SetState", state);
    }

    /// <summary>A fresh 63-bit seed drawn from this generator (to derive child generators).</summary>
    public ulong NextSeed()
    {
        using var t = torch.randint(0, long.MaxValue, new long[] { 1 }, this);
        return (ulong)t.item<long>();
    }

    ~Generator() => Free();

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    void Free()
    {
        var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
        if (h != IntPtr.Zero) Native.pd_generator_free(h);
    }
}
