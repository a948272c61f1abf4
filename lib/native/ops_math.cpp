// Elementwise arithmetic (with broadcasting), in-place variants for optimizers, comparisons,
// reductions, linear algebra, shape and indexing ops.
#include "common.h"

// ---- arithmetic -------------------------------------------------------------------------------
PD_API pd_tensor pd_add(pd_tensor a, pd_tensor b, double alpha) { PD_T(at::add(A, B, pd::sc(A, alpha))) }
PD_API pd_tensor pd_sub(pd_tensor a, pd_tensor b, double alpha) { PD_T(at::sub(A, B, pd::sc(A, alpha))) }
PD_API pd_tensor pd_mul(pd_tensor a, pd_tensor b) { PD_T(at::mul(A, B)) }
PD_API pd_tensor pd_div(pd_tensor a, pd_tensor b) { PD_T(at::div(A, B)) }
PD_API pd_tensor pd_add_scalar(pd_tensor a, double s) { PD_T(at::add(A, pd::sc(A, s))) }
PD_API pd_tensor pd_mul_scalar(pd_tensor a, double s) { PD_T(at::mul(A, pd::sc(A, s))) }
PD_API pd_tensor pd_div_scalar(pd_tensor a, double s) { PD_T(at::div(A, s)) }
PD_API pd_tensor pd_rsub_scalar(pd_tensor a, double s) { PD_T(at::rsub(A, pd::sc(A, s))) }
PD_API pd_tensor pd_pow_scalar(pd_tensor a, double e) { PD_T(at::pow(A, e)) }
PD_API pd_tensor pd_pow(pd_tensor a, pd_tensor b) { PD_T(at::pow(A, B)) }
PD_API pd_tensor pd_addcmul(pd_tensor a, pd_tensor b, pd_tensor c, double v) { PD_T(at::addcmul(A, B, *c, v)) }
PD_API pd_tensor pd_lerp(pd_tensor a, pd_tensor b, double w) { PD_T(at::lerp(A, B, w)) }
PD_API pd_tensor pd_where(pd_tensor cond, pd_tensor a, pd_tensor b) { PD_T(at::where(*cond, A, B)) }
PD_API pd_tensor pd_masked_fill(pd_tensor a, pd_tensor mask, double v) { PD_T(A.masked_fill(*mask, v)) }
PD_API pd_tensor pd_clamp(pd_tensor a, double lo, double hi, int has_lo, int has_hi) {
  PD_T(at::clamp(A, has_lo ? c10::optional<at::Scalar>(lo) : c10::nullopt, has_hi ? c10::optional<at::Scalar>(hi) : c10::nullopt))
}

// In place (the optimizer and initialisation paths). They return 0/-1; the tensor is the first arg.
PD_API int pd_add_(pd_tensor a, pd_tensor b, double alpha) { PD_V(A.add_(B, pd::sc(A, alpha))) }
PD_API int pd_sub_(pd_tensor a, pd_tensor b, double alpha) { PD_V(A.sub_(B, pd::sc(A, alpha))) }
PD_API int pd_mul_(pd_tensor a, pd_tensor b) { PD_V(A.mul_(B)) }
PD_API int pd_div_(pd_tensor a, pd_tensor b) { PD_V(A.div_(B)) }
PD_API int pd_add_scalar_(pd_tensor a, double s) { PD_V(A.add_(pd::sc(A, s))) }
PD_API int pd_mul_scalar_(pd_tensor a, double s) { PD_V(A.mul_(pd::sc(A, s))) }
PD_API int pd_addcmul_(pd_tensor a, pd_tensor b, pd_tensor c, double v) { PD_V(A.addcmul_(B, *c, v)) }
PD_API int pd_addcdiv_(pd_tensor a, pd_tensor b, pd_tensor c, double v) { PD_V(A.addcdiv_(B, *c, v)) }
PD_API int pd_lerp_(pd_tensor a, pd_tensor b, double w) { PD_V(A.lerp_(B, w)) }
PD_API int pd_copy_(pd_tensor a, pd_tensor b) { PD_V(A.copy_(B)) }
PD_API int pd_fill_(pd_tensor a, double v) { PD_V(A.fill_(pd::sc(A, v))) }
PD_API int pd_zero_(pd_tensor a) { PD_V(A.zero_()) }
PD_API int pd_clamp_(pd_tensor a, double lo, double hi) { PD_V(A.clamp_(lo, hi)) }
PD_API int pd_sqrt_(pd_tensor a) { PD_V(A.sqrt_()) }

// ---- unary ------------------------------------------------------------------------------------
#define UNARY(name, expr) \
  PD_API pd_tensor pd_##name(pd_tensor a) { PD_T(expr) }
UNARY(neg, at::neg(A))
UNARY(abs, at::abs(A))
UNARY(exp, at::exp(A))
UNARY(log, at::log(A))
UNARY(sqrt, at::sqrt(A))
UNARY(rsqrt, at::rsqrt(A))
UNARY(sign, at::sign(A))
UNARY(sin, at::sin(A))
UNARY(cos, at::cos(A))
UNARY(square, at::square(A))
UNARY(floor, at::floor(A))
UNARY(round, at::round(A))
UNARY(isnan, at::isnan(A))
UNARY(logical_not, at::logical_not(A))
UNARY(detach, A.detach())

// ---- comparisons --------------------------------------------------------------------------------
// op: 0 eq, 1 ne, 2 lt, 3 le, 4 gt, 5 ge
static at::Tensor cmp(const at::Tensor& a, const at::Tensor& b, int op) {
  switch (op) {
    case 0: return at::eq(a, b);
    case 1: return at::ne(a, b);
    case 2: return at::lt(a, b);
    case 3: return at::le(a, b);
    case 4: return at::gt(a, b);
    case 5: return at::ge(a, b);
  }
  throw std::runtime_error("unknown comparison");
}
static at::Tensor cmp_s(const at::Tensor& a, double s, int op) {
  switch (op) {
    case 0: return at::eq(a, s);
    case 1: return at::ne(a, s);
    case 2: return at::lt(a, s);
    case 3: return at::le(a, s);
    case 4: return at::gt(a, s);
    case 5: return at::ge(a, s);
  }
  throw std::runtime_error("unknown comparison");
}
PD_API pd_tensor pd_compare(pd_tensor a, pd_tensor b, int op) { PD_T(cmp(A, B, op)) }
PD_API pd_tensor pd_compare_scalar(pd_tensor a, double s, int op) { PD_T(cmp_s(A, s, op)) }
PD_API pd_tensor pd_logical_and(pd_tensor a, pd_tensor b) { PD_T(at::logical_and(A, B)) }
PD_API pd_tensor pd_logical_or(pd_tensor a, pd_tensor b) { PD_T(at::logical_or(A, B)) }
PD_API int pd_allclose(pd_tensor a, pd_tensor b, double rtol, double atol) {
  try { return at::allclose(A, B, rtol, atol) ? 1 : 0; } PD_CATCH(return -1)
}

// ---- reductions (ndims == 0 means over all elements) ---------------------------------------------
PD_API pd_tensor pd_sum(pd_tensor a, const int64_t* dims, int nd, int keepdim) {
  PD_T(nd == 0 ? at::sum(A) : at::sum(A, pd::ints(dims, nd), keepdim != 0))
}
PD_API pd_tensor pd_mean(pd_tensor a, const int64_t* dims, int nd, int keepdim) {
  PD_T(nd == 0 ? at::mean(A) : at::mean(A, pd::ints(dims, nd), keepdim != 0))
}
PD_API pd_tensor pd_var(pd_tensor a, const int64_t* dims, int nd, int unbiased, int keepdim) {
  PD_T(nd == 0 ? at::var(A, unbiased != 0) : at::var(A, pd::ints(dims, nd), unbiased != 0, keepdim != 0))
}
PD_API pd_tensor pd_std(pd_tensor a, const int64_t* dims, int nd, int unbiased, int keepdim) {
  PD_T(nd == 0 ? at::std(A, unbiased != 0) : at::std(A, pd::ints(dims, nd), unbiased != 0, keepdim != 0))
}
PD_API pd_tensor pd_prod(pd_tensor a) { PD_T(at::prod(A)) }
PD_API pd_tensor pd_cumprod(pd_tensor a, int64_t dim) { PD_T(at::cumprod(A, dim)) }
PD_API pd_tensor pd_cumsum(pd_tensor a, int64_t dim) { PD_T(at::cumsum(A, dim)) }
PD_API pd_tensor pd_max_all(pd_tensor a) { PD_T(at::max(A)) }
PD_API pd_tensor pd_min_all(pd_tensor a) { PD_T(at::min(A)) }
PD_API int pd_max_dim(pd_tensor a, int64_t dim, int keepdim, pd_tensor* values, pd_tensor* indices) {
  PD_V(auto r = at::max(A, dim, keepdim != 0); *values = pd::wrap(std::get<0>(r)); *indices = pd::wrap(std::get<1>(r)))
}
PD_API int pd_min_dim(pd_tensor a, int64_t dim, int keepdim, pd_tensor* values, pd_tensor* indices) {
  PD_V(auto r = at::min(A, dim, keepdim != 0); *values = pd::wrap(std::get<0>(r)); *indices = pd::wrap(std::get<1>(r)))
}
PD_API pd_tensor pd_argmax(pd_tensor a, int64_t dim, int keepdim) { PD_T(at::argmax(A, dim, keepdim != 0)) }
PD_API pd_tensor pd_argmin(pd_tensor a, int64_t dim, int keepdim) { PD_T(at::argmin(A, dim, keepdim != 0)) }
PD_API int pd_topk(pd_tensor a, int64_t k, int64_t dim, int largest, pd_tensor* values, pd_tensor* indices) {
  PD_V(auto r = at::topk(A, k, dim, largest != 0, true); *values = pd::wrap(std::get<0>(r)); *indices = pd::wrap(std::get<1>(r)))
}
PD_API int pd_sort(pd_tensor a, int64_t dim, int descending, pd_tensor* values, pd_tensor* indices) {
  PD_V(auto r = at::sort(A, dim, descending != 0); *values = pd::wrap(std::get<0>(r)); *indices = pd::wrap(std::get<1>(r)))
}
PD_API pd_tensor pd_norm(pd_tensor a, double p) { PD_T(at::norm(A, p)) }

// ---- linear algebra -------------------------------------------------------------------------------
PD_API pd_tensor pd_matmul(pd_tensor a, pd_tensor b) { PD_T(at::matmul(A, B)) }
PD_API pd_tensor pd_mm(pd_tensor a, pd_tensor b) { PD_T(at::mm(A, B)) }
PD_API pd_tensor pd_bmm(pd_tensor a, pd_tensor b) { PD_T(at::bmm(A, B)) }
PD_API pd_tensor pd_cdist(pd_tensor a, pd_tensor b, double p) { PD_T(at::cdist(A, B, p)) }
PD_API pd_tensor pd_outer(pd_tensor a, pd_tensor b) { PD_T(at::outer(A, B)) }

// ---- shape ------------------------------------------------------------------------------------------
PD_API pd_tensor pd_reshape(pd_tensor a, const int64_t* s, int n) { PD_T(A.reshape(pd::ints(s, n))) }
PD_API pd_tensor pd_view(pd_tensor a, const int64_t* s, int n) { PD_T(A.view(pd::ints(s, n))) }
PD_API pd_tensor pd_permute(pd_tensor a, const int64_t* s, int n) { PD_T(A.permute(pd::ints(s, n))) }
PD_API pd_tensor pd_expand(pd_tensor a, const int64_t* s, int n) { PD_T(A.expand(pd::ints(s, n))) }
PD_API pd_tensor pd_repeat(pd_tensor a, const int64_t* s, int n) { PD_T(A.repeat(pd::ints(s, n))) }
PD_API pd_tensor pd_transpose(pd_tensor a, int64_t d0, int64_t d1) { PD_T(A.transpose(d0, d1)) }
PD_API pd_tensor pd_flatten(pd_tensor a, int64_t start, int64_t end) { PD_T(A.flatten(start, end)) }
PD_API pd_tensor pd_unsqueeze(pd_tensor a, int64_t d) { PD_T(A.unsqueeze(d)) }
PD_API pd_tensor pd_squeeze(pd_tensor a, int64_t d) { PD_T(A.squeeze(d)) }
PD_API pd_tensor pd_squeeze_all(pd_tensor a) { PD_T(A.squeeze()) }
PD_API pd_tensor pd_flip(pd_tensor a, const int64_t* s, int n) { PD_T(A.flip(pd::ints(s, n))) }
PD_API pd_tensor pd_cat(pd_tensor* ts, int n, int64_t dim) { PD_T(at::cat(pd::list(ts, n), dim)) }
PD_API pd_tensor pd_stack(pd_tensor* ts, int n, int64_t dim) { PD_T(at::stack(pd::list(ts, n), dim)) }
PD_API int pd_chunk(pd_tensor a, int64_t chunks, int64_t dim, pd_tensor* out, int cap) {
  try { return pd::wrap_list(A.chunk(chunks, dim), out, cap); } PD_CATCH(return -1)
}
PD_API int pd_split(pd_tensor a, int64_t size, int64_t dim, pd_tensor* out, int cap) {
  try { return pd::wrap_list(A.split(size, dim), out, cap); } PD_CATCH(return -1)
}
PD_API pd_tensor pd_pad(pd_tensor a, const int64_t* p, int n, double value) { PD_T(at::constant_pad_nd(A, pd::ints(p, n), value)) }

// ---- indexing ---------------------------------------------------------------------------------------
PD_API pd_tensor pd_slice(pd_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step) { PD_T(A.slice(dim, start, end, step)) }
PD_API pd_tensor pd_select(pd_tensor a, int64_t dim, int64_t index) { PD_T(A.select(dim, index)) }
PD_API pd_tensor pd_narrow(pd_tensor a, int64_t dim, int64_t start, int64_t len) { PD_T(A.narrow(dim, start, len)) }
PD_API pd_tensor pd_index_select(pd_tensor a, int64_t dim, pd_tensor idx) { PD_T(at::index_select(A, dim, *idx)) }
PD_API pd_tensor pd_gather(pd_tensor a, int64_t dim, pd_tensor idx) { PD_T(at::gather(A, dim, *idx)) }
PD_API pd_tensor pd_masked_select(pd_tensor a, pd_tensor mask) { PD_T(at::masked_select(A, *mask)) }
PD_API pd_tensor pd_index_put(pd_tensor a, pd_tensor idx, pd_tensor values) {
  PD_T(A.index_put({*idx}, *values))
}
PD_API pd_tensor pd_scatter(pd_tensor a, int64_t dim, pd_tensor idx, pd_tensor src) { PD_T(at::scatter(A, dim, *idx, *src)) }
PD_API pd_tensor pd_one_hot(pd_tensor a, int64_t classes) { PD_T(at::one_hot(A, classes)) }
