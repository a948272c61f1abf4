// Tensor lifetime, creation from and copy to host memory, metadata, devices, threads, generators.
#include "common.h"

namespace pd {
std::atomic<int64_t> live_tensors{0};
static thread_local std::string last_error;
void set_error(const char* msg) { last_error = msg ? msg : ""; }
}  // namespace pd

PD_API const char* pd_last_error() { return pd::last_error.c_str(); }

PD_API void pd_free(pd_tensor t) {
  if (!t) return;
  delete t;
  pd::live_tensors.fetch_sub(1, std::memory_order_relaxed);
}
PD_API int64_t pd_live_tensors() { return pd::live_tensors.load(); }
// Bytes the C heap holds right now (glibc): libtorch's CPU allocator draws from it, so a loop that
// leaks tensors shows here even when every .NET object was collected.
PD_API int64_t pd_heap_bytes() {
  struct mallinfo2 mi = mallinfo2();
  return (int64_t)(mi.uordblks + mi.hblkhd);
}

static at::TensorOptions options(int dtype, int dev_type, int dev_index) {
  return at::TensorOptions()
      .dtype((at::ScalarType)dtype)
      .device(at::Device((c10::DeviceType)dev_type, (c10::DeviceIndex)dev_index));
}

// Copies `data` (host memory of the given dtype) into a new tensor; no per-element work in .NET.
PD_API pd_tensor pd_from_host(const void* data, const int64_t* shape, int ndim, int dtype, int dev_type, int dev_index) {
  PD_T(at::from_blob(const_cast<void*>(data), pd::ints(shape, ndim), at::TensorOptions().dtype((at::ScalarType)dtype))
           .to(at::Device((c10::DeviceType)dev_type, (c10::DeviceIndex)dev_index), /*non_blocking=*/false, /*copy=*/true))
}
// Copies a tensor's elements (any device, any strides) into host memory of exactly nbytes.
PD_API int pd_to_host(pd_tensor a, void* dst, int64_t nbytes) {
  PD_V(auto c = A.to(at::kCPU).contiguous();
       int64_t have = (int64_t)(c.numel() * c.element_size());
       if (have != nbytes) throw std::runtime_error("destination holds " + std::to_string(nbytes) + " bytes, tensor has " + std::to_string(have));
       if (have) std::memcpy(dst, c.data_ptr(), (size_t)have);)
}
PD_API double pd_item(pd_tensor a, int* ok) {
  try {
    *ok = 1;
    return A.item<double>();
  }
  PD_CATCH(*ok = 0; return 0)
}

PD_API int pd_ndim(pd_tensor a) { return (int)A.dim(); }
PD_API void pd_shape(pd_tensor a, int64_t* out) {
  auto s = A.sizes();
  for (size_t i = 0; i < s.size(); i++) out[i] = s[i];
}
PD_API int64_t pd_numel(pd_tensor a) { return A.numel(); }
PD_API int pd_dtype(pd_tensor a) { return (int)A.scalar_type(); }
PD_API int pd_device_type(pd_tensor a) { return (int)A.device().type(); }
PD_API int pd_device_index(pd_tensor a) { return (int)A.device().index(); }
PD_API int pd_is_contiguous(pd_tensor a) { return A.is_contiguous() ? 1 : 0; }
PD_API int pd_defined(pd_tensor a) { return A.defined() ? 1 : 0; }

PD_API pd_tensor pd_empty(const int64_t* shape, int ndim, int dtype, int dt, int di) { PD_T(at::empty(pd::ints(shape, ndim), options(dtype, dt, di))) }
PD_API pd_tensor pd_zeros(const int64_t* shape, int ndim, int dtype, int dt, int di) { PD_T(at::zeros(pd::ints(shape, ndim), options(dtype, dt, di))) }
PD_API pd_tensor pd_ones(const int64_t* shape, int ndim, int dtype, int dt, int di) { PD_T(at::ones(pd::ints(shape, ndim), options(dtype, dt, di))) }
PD_API pd_tensor pd_full(const int64_t* shape, int ndim, double value, int dtype, int dt, int di) { PD_T(at::full(pd::ints(shape, ndim), value, options(dtype, dt, di))) }
PD_API pd_tensor pd_scalar_tensor(double value, int dtype, int dt, int di) { PD_T(at::scalar_tensor(value, options(dtype, dt, di))) }
PD_API pd_tensor pd_arange(double start, double end, double step, int dtype, int dt, int di) { PD_T(at::arange(start, end, step, options(dtype, dt, di))) }
PD_API pd_tensor pd_linspace(double start, double end, int64_t steps, int dtype, int dt, int di) { PD_T(at::linspace(start, end, steps, options(dtype, dt, di))) }
PD_API pd_tensor pd_eye(int64_t n, int dtype, int dt, int di) { PD_T(at::eye(n, options(dtype, dt, di))) }
PD_API pd_tensor pd_zeros_like(pd_tensor a) { PD_T(at::zeros_like(A)) }
PD_API pd_tensor pd_ones_like(pd_tensor a) { PD_T(at::ones_like(A)) }

PD_API pd_tensor pd_to_dtype(pd_tensor a, int dtype) { PD_T(A.to((at::ScalarType)dtype)) }
PD_API pd_tensor pd_to_device(pd_tensor a, int dt, int di) { PD_T(A.to(at::Device((c10::DeviceType)dt, (c10::DeviceIndex)di))) }
PD_API pd_tensor pd_clone(pd_tensor a) { PD_T(A.clone()) }
PD_API pd_tensor pd_contiguous(pd_tensor a) { PD_T(A.contiguous()) }
PD_API pd_tensor pd_alias(pd_tensor a) { PD_T(at::Tensor(A)) }

// Threads and devices. The default (every core) is set from .NET when the library loads (Native's
// static constructor); until then libtorch's own choice stands.
namespace pd {
static std::atomic<int> wanted_threads{0};
std::atomic<int> threads_epoch{0};
void apply_threads() {
  int n = wanted_threads.load();
  if (n > 0) at::set_num_threads(n);
}
}  // namespace pd

// The .NET side rejects n < 1 with a clear exception before calling.
PD_API void pd_set_num_threads(int n) {
  if (n < 1) return;
  pd::wanted_threads.store(n);
  pd::threads_epoch.fetch_add(1);
}
PD_API int pd_get_num_threads() {
  pd::sync_threads();
  return at::get_num_threads();
}
PD_API int pd_cuda_is_available() { return torch::cuda::is_available() ? 1 : 0; }
PD_API int pd_cuda_device_count() { return (int)torch::cuda::device_count(); }
PD_API void pd_manual_seed(uint64_t seed) { torch::manual_seed(seed); }
PD_API const char* pd_torch_version() {
  static std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
  return v.c_str();
}
PD_API const char* pd_parallel_info() {
  static thread_local std::string s;
  s = at::get_parallel_info();
  return s.c_str();
}

// Explicit seeded generators. Random tensors are drawn on the CPU and then moved, so one seed gives
// the same numbers on every device.
typedef at::Generator* pd_gen;
PD_API pd_gen pd_generator_new(uint64_t seed) {
  try {
    return new at::Generator(at::make_generator<at::CPUGeneratorImpl>(seed));
  }
  PD_CATCH(return nullptr)
}
PD_API void pd_generator_free(pd_gen g) { delete g; }
PD_API void pd_generator_set_seed(pd_gen g, uint64_t seed) {
  std::lock_guard<std::mutex> lock(g->mutex());
  g->set_current_seed(seed);
}
PD_API pd_tensor pd_generator_get_state(pd_gen g) {
  try {
    std::lock_guard<std::mutex> lock(g->mutex());
    return pd::wrap(g->get_state());
  }
  PD_CATCH(return nullptr)
}
PD_API int pd_generator_set_state(pd_gen g, pd_tensor a) {
  PD_V(std::lock_guard<std::mutex> lock(g->mutex()); g->set_state(A))
}

static at::Tensor on(at::Tensor t, int dtype, int dt, int di) {
  at::Device d((c10::DeviceType)dt, (c10::DeviceIndex)di);
  if ((int)t.scalar_type() != dtype) t = t.to((at::ScalarType)dtype);
  return d.is_cpu() ? t : t.to(d);
}
static at::TensorOptions cpu(int dtype) { return at::TensorOptions().dtype((at::ScalarType)dtype); }

PD_API pd_tensor pd_randn(const int64_t* shape, int ndim, pd_gen g, int dtype, int dt, int di) {
  PD_T(on(at::randn(pd::ints(shape, ndim), *g, cpu(dtype)), dtype, dt, di))
}
PD_API pd_tensor pd_rand(const int64_t* shape, int ndim, pd_gen g, int dtype, int dt, int di) {
  PD_T(on(at::rand(pd::ints(shape, ndim), *g, cpu(dtype)), dtype, dt, di))
}
PD_API pd_tensor pd_randint(int64_t low, int64_t high, const int64_t* shape, int ndim, pd_gen g, int dt, int di) {
  PD_T(on(at::randint(low, high, pd::ints(shape, ndim), *g, cpu((int)at::kLong)), (int)at::kLong, dt, di))
}
PD_API pd_tensor pd_randperm(int64_t n, pd_gen g, int dt, int di) {
  PD_T(on(at::randperm(n, *g, cpu((int)at::kLong)), (int)at::kLong, dt, di))
}
// In-place fills used by initialisers: they draw on the CPU, then copy into the tensor.
PD_API int pd_uniform_(pd_tensor a, double from, double to, pd_gen g) {
  PD_V(at::NoGradGuard ng; auto r = at::empty(A.sizes(), cpu((int)A.scalar_type())).uniform_(from, to, *g); A.copy_(r))
}
PD_API int pd_normal_(pd_tensor a, double mean, double std, pd_gen g) {
  PD_V(at::NoGradGuard ng; auto r = at::empty(A.sizes(), cpu((int)A.scalar_type())).normal_(mean, std, *g); A.copy_(r))
}
PD_API pd_tensor pd_bernoulli(pd_tensor a, double p, pd_gen g) {
  PD_T(at::empty(A.sizes(), cpu((int)A.scalar_type())).bernoulli_(p, *g).to(A.device()))
}
