// Neural-network ops: linear and convolutions, pooling, normalisation with PyTorch's training/eval
// semantics, activations, losses, embedding.
#include "common.h"

PD_API pd_tensor pd_linear(pd_tensor x, pd_tensor w, pd_tensor b) { PD_T(at::linear(*x, *w, pd::opt(b))) }

PD_API pd_tensor pd_conv1d(pd_tensor x, pd_tensor w, pd_tensor b, int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  PD_T(at::conv1d(*x, *w, pd::opt(b), stride, padding, dilation, groups))
}
PD_API pd_tensor pd_conv2d(pd_tensor x, pd_tensor w, pd_tensor b, const int64_t* stride, const int64_t* padding, const int64_t* dilation, int64_t groups) {
  PD_T(at::conv2d(*x, *w, pd::opt(b), pd::ints(stride, 2), pd::ints(padding, 2), pd::ints(dilation, 2), groups))
}
PD_API pd_tensor pd_conv_transpose1d(pd_tensor x, pd_tensor w, pd_tensor b, int64_t stride, int64_t padding, int64_t output_padding, int64_t groups, int64_t dilation) {
  PD_T(at::conv_transpose1d(*x, *w, pd::opt(b), stride, padding, output_padding, groups, dilation))
}

PD_API pd_tensor pd_max_pool1d(pd_tensor x, int64_t k, int64_t s, int64_t p) { PD_T(at::max_pool1d(*x, k, s, p)) }
PD_API pd_tensor pd_avg_pool1d(pd_tensor x, int64_t k, int64_t s, int64_t p) { PD_T(at::avg_pool1d(*x, k, s, p)) }
PD_API pd_tensor pd_max_pool2d(pd_tensor x, const int64_t* k, const int64_t* s, const int64_t* p) {
  PD_T(at::max_pool2d(*x, pd::ints(k, 2), pd::ints(s, 2), pd::ints(p, 2)))
}
PD_API pd_tensor pd_avg_pool2d(pd_tensor x, const int64_t* k, const int64_t* s, const int64_t* p) {
  PD_T(at::avg_pool2d(*x, pd::ints(k, 2), pd::ints(s, 2), pd::ints(p, 2)))
}
PD_API pd_tensor pd_adaptive_avg_pool1d(pd_tensor x, int64_t out) { PD_T(at::adaptive_avg_pool1d(*x, out)) }
PD_API pd_tensor pd_adaptive_avg_pool2d(pd_tensor x, const int64_t* out) { PD_T(at::adaptive_avg_pool2d(*x, pd::ints(out, 2))) }

// Training mode normalises with the biased batch variance and updates the running statistics (when
// given) with momentum and the unbiased variance, exactly as torch.nn.BatchNorm does.
PD_API pd_tensor pd_batch_norm(pd_tensor x, pd_tensor w, pd_tensor b, pd_tensor rm, pd_tensor rv, int training, double momentum, double eps) {
  PD_T(at::batch_norm(*x, pd::opt(w), pd::opt(b), pd::opt(rm), pd::opt(rv), training != 0, momentum, eps, at::globalContext().userEnabledCuDNN()))
}
PD_API pd_tensor pd_instance_norm(pd_tensor x, pd_tensor w, pd_tensor b, pd_tensor rm, pd_tensor rv, int use_input_stats, double momentum, double eps) {
  PD_T(at::instance_norm(*x, pd::opt(w), pd::opt(b), pd::opt(rm), pd::opt(rv), use_input_stats != 0, momentum, eps, at::globalContext().userEnabledCuDNN()))
}
PD_API pd_tensor pd_group_norm(pd_tensor x, int64_t groups, pd_tensor w, pd_tensor b, double eps) {
  PD_T(at::group_norm(*x, groups, pd::opt(w), pd::opt(b), eps, at::globalContext().userEnabledCuDNN()))
}
PD_API pd_tensor pd_layer_norm(pd_tensor x, const int64_t* shape, int n, pd_tensor w, pd_tensor b, double eps) {
  PD_T(at::layer_norm(*x, pd::ints(shape, n), pd::opt(w), pd::opt(b), eps, at::globalContext().userEnabledCuDNN()))
}

PD_API pd_tensor pd_relu(pd_tensor a) { PD_T(at::relu(A)) }
PD_API pd_tensor pd_leaky_relu(pd_tensor a, double slope) { PD_T(at::leaky_relu(A, slope)) }
PD_API pd_tensor pd_elu(pd_tensor a, double alpha) { PD_T(at::elu(A, alpha)) }
PD_API pd_tensor pd_gelu(pd_tensor a, int tanh_approx) { PD_T(at::gelu(A, tanh_approx ? "tanh" : "none")) }
PD_API pd_tensor pd_silu(pd_tensor a) { PD_T(at::silu(A)) }
PD_API pd_tensor pd_tanh(pd_tensor a) { PD_T(at::tanh(A)) }
PD_API pd_tensor pd_sigmoid(pd_tensor a) { PD_T(at::sigmoid(A)) }
PD_API pd_tensor pd_softmax(pd_tensor a, int64_t dim) { PD_T(at::softmax(A, dim)) }
PD_API pd_tensor pd_log_softmax(pd_tensor a, int64_t dim) { PD_T(at::log_softmax(A, dim)) }

// reduction: 0 none, 1 mean, 2 sum (at::Reduction)
PD_API pd_tensor pd_cross_entropy(pd_tensor logits, pd_tensor target, int reduction, double label_smoothing) {
  PD_T(at::cross_entropy_loss(*logits, *target, c10::nullopt, reduction, -100, label_smoothing))
}
PD_API pd_tensor pd_nll_loss(pd_tensor logp, pd_tensor target, int reduction) { PD_T(at::nll_loss(*logp, *target, c10::nullopt, reduction)) }
PD_API pd_tensor pd_mse_loss(pd_tensor a, pd_tensor b, int reduction) { PD_T(at::mse_loss(A, B, reduction)) }
PD_API pd_tensor pd_embedding(pd_tensor weight, pd_tensor idx) { PD_T(at::embedding(*weight, *idx)) }
