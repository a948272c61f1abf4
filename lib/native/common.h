// Shared by every shim file (and precompiled once). Conventions of the C ABI:
//  - a tensor crosses the boundary as an opaque pointer to a heap at::Tensor (one owner: the .NET side);
//  - functions that make a tensor return it, or nullptr on failure; others return 0 or -1;
//  - a C++ exception never crosses into .NET: it is caught here and its message kept per thread,
//    read back with pd_last_error().
#pragma once
#include <ATen/ATen.h>
#include <torch/torch.h>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>
#include <cstring>
#include <malloc.h>
#include <mutex>

#define PD_API extern "C" __attribute__((visibility("default")))

typedef at::Tensor* pd_tensor;

namespace pd {
void set_error(const char* msg);

// libtorch's OpenMP backend keeps the thread count per OS thread: at::set_num_threads on one thread
// leaves every thread that already ran an op at its old count. .NET moves work between threads (the
// thread pool, awaits, notebook cells), so the shim makes the setting process-wide: pd_set_num_threads
// bumps an epoch, and each thread re-applies the wanted count on its next call (an int compare).
extern std::atomic<int> threads_epoch;
void apply_threads();
inline void sync_threads() {
  static thread_local int seen = 0;
  int e = threads_epoch.load(std::memory_order_relaxed);
  if (e != seen) {
    seen = e;
    apply_threads();
  }
}
extern std::atomic<int64_t> live_tensors;

inline pd_tensor wrap(at::Tensor&& t) {
  live_tensors.fetch_add(1, std::memory_order_relaxed);
  return new at::Tensor(std::move(t));
}
inline pd_tensor wrap(const at::Tensor& t) {
  live_tensors.fetch_add(1, std::memory_order_relaxed);
  return new at::Tensor(t);
}
// A double from .NET as the Scalar an integer tensor expects, so `counter.add_(1)` stays int64 as in Python.
inline at::Scalar sc(const at::Tensor& t, double v) {
  if (at::isIntegralType(t.scalar_type(), /*includeBool=*/false) && v == (double)(int64_t)v) return at::Scalar((int64_t)v);
  return at::Scalar(v);
}
inline at::IntArrayRef ints(const int64_t* p, int n) { return at::IntArrayRef(p, (size_t)n); }
inline c10::optional<at::Tensor> opt(pd_tensor t) {
  return t ? c10::optional<at::Tensor>(*t) : c10::nullopt;
}
inline at::Tensor or_undef(pd_tensor t) { return t ? *t : at::Tensor(); }
inline std::vector<at::Tensor> list(pd_tensor* ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; i++) v.push_back(*ts[i]);
  return v;
}
// Hands a vector of tensors to .NET: out must have room for `cap` handles; returns the count.
inline int wrap_list(const std::vector<at::Tensor>& v, pd_tensor* out, int cap) {
  if ((int)v.size() > cap) throw std::runtime_error("more results than the caller's buffer holds");
  for (size_t i = 0; i < v.size(); i++) out[i] = wrap(v[i]);
  return (int)v.size();
}
}  // namespace pd

// c10::Error::what() carries a C++ backtrace; .NET users want libtorch's message only.
#define PD_CATCH(onfail)                                  \
  catch (const c10::Error& e) {                           \
    pd::set_error(e.what_without_backtrace());            \
    onfail;                                               \
  }                                                       \
  catch (const std::exception& e) {                       \
    pd::set_error(e.what());                              \
    onfail;                                               \
  }                                                       \
  catch (...) {                                           \
    pd::set_error("unknown native exception");            \
    onfail;                                               \
  }

// A function returning a new tensor computed by `expr`.
#define PD_T(expr)                 \
  try {                            \
    pd::sync_threads();            \
    return pd::wrap(expr);         \
  }                                \
  PD_CATCH(return nullptr)

// A function returning 0, running `stmts`.
#define PD_V(stmts)     \
  try {                 \
    pd::sync_threads(); \
    stmts;              \
    return 0;           \
  }                     \
  PD_CATCH(return -1)

#define A (*a)
#define B (*b)
