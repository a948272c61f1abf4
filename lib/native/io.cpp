// Raw access to tensor bytes for the file formats read and written in C# (lib/Torch/Serialization):
// safetensors, and the storages of torch.save archives. The formats themselves are parsed in C#, where
// a malformed file can only raise an exception; native code only copies bytes into tensors whose sizes
// were checked against the file first.
#include "common.h"

// The first byte of a dense, contiguous CPU tensor with at least one element, for bulk copies to and
// from files; nullptr (with an error) for any other tensor, so a strided or device buffer is never read
// as flat bytes.
PD_API void* pd_data_ptr(pd_tensor a) {
  try {
    if (!A.defined() || A.layout() != at::kStrided || !A.device().is_cpu() || !A.is_contiguous() || A.numel() == 0)
      throw std::runtime_error("raw data access needs a non-empty, dense, contiguous CPU tensor");
    return A.data_ptr();
  }
  PD_CATCH(return nullptr)
}

// A view of a 1-D storage tensor with the given sizes, strides and offset (what torch.save records),
// detached from autograd like a freshly loaded tensor. Every element it can reach must lie inside the
// storage: the C# caller checks this too, but a view past its buffer would read foreign memory.
PD_API pd_tensor pd_storage_view(pd_tensor a, const int64_t* sizes, const int64_t* strides, int ndim, int64_t offset) {
  try {
    if (A.dim() != 1 || !A.is_contiguous()) throw std::runtime_error("storage must be a contiguous 1-D tensor");
    if (offset < 0) throw std::runtime_error("negative storage offset");
    __int128 last = offset;
    bool empty = false;
    for (int d = 0; d < ndim; d++) {
      if (sizes[d] < 0 || strides[d] < 0) throw std::runtime_error("negative size or stride");
      if (sizes[d] == 0) empty = true;
      last += (__int128)(sizes[d] - 1) * strides[d];
    }
    if (!empty && last >= (__int128)A.numel())
      throw std::runtime_error("view reaches element " + std::to_string((long long)last) + " of a storage of " +
                               std::to_string(A.numel()));
    at::NoGradGuard no_grad;
    return pd::wrap(A.as_strided(pd::ints(sizes, ndim), pd::ints(strides, ndim), offset).detach());
  }
  PD_CATCH(return nullptr)
}
