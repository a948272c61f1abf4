namespace PDiff.Torch;

// Imports for lib/Diffusion (memory-format helpers in lib/native/diffusion.cpp).
internal static unsafe partial class Native
{
    [System.Runtime.InteropServices.DllImport(Lib)] internal static extern IntPtr pd_contiguous_channels_last(IntPtr a);
    [System.Runtime.InteropServices.DllImport(Lib)] internal static extern int pd_is_channels_last(IntPtr a);
}
