// Autograd: requires-grad, backward, gradient access, the grad-mode switch behind no-grad scopes.
#include "common.h"

PD_API int pd_set_requires_grad(pd_tensor a, int on) { PD_V(A.requires_grad_(on != 0)) }
PD_API int pd_requires_grad(pd_tensor a) { return A.requires_grad() ? 1 : 0; }
PD_API int pd_is_leaf(pd_tensor a) { return A.is_leaf() ? 1 : 0; }
PD_API int pd_backward(pd_tensor a, pd_tensor grad, int retain_graph) {
  PD_V(A.backward(pd::or_undef(grad), retain_graph != 0))
}
// The gradient, or nullptr with an empty error when there is none yet.
PD_API pd_tensor pd_grad(pd_tensor a) {
  try {
    pd::set_error("");
    const auto& g = A.grad();
    if (!g.defined()) return nullptr;
    return pd::wrap(g);
  }
  PD_CATCH(return nullptr)
}
PD_API int pd_set_grad(pd_tensor a, pd_tensor g) { PD_V(A.mutable_grad() = pd::or_undef(g)) }
PD_API int pd_zero_grad(pd_tensor a) { PD_V(A.mutable_grad().reset()) }
PD_API int pd_grad_enabled() { return c10::GradMode::is_enabled() ? 1 : 0; }
PD_API void pd_set_grad_enabled(int on) { c10::GradMode::set_enabled(on != 0); }
