namespace PDiff.Torch;

// Imports for lib/Torch/Serialization.
internal static unsafe partial class Native
{
    [System.Runtime.InteropServices.DllImport(Lib)] internal static extern void* pd_data_ptr(IntPtr t);
    [System.Runtime.InteropServices.DllImport(Lib)] internal static extern IntPtr pd_storage_view(IntPtr storage, long* sizes, long* strides, int ndim, long offset);
}
