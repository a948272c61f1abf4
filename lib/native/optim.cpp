// libtorch's own optimizers (SGD, Adam, AdamW) over a list of parameter tensors: the same update
// rules as torch.optim, so numbers are comparable with PyTorch runs. The .NET side owns the object.
#include "common.h"
#include <torch/optim.h>
#include <torch/serialize.h>

typedef torch::optim::Optimizer* pd_optim;

PD_API pd_optim pd_sgd_new(pd_tensor* ps, int n, double lr, double momentum, double dampening, double wd, int nesterov) {
  try {
    return new torch::optim::SGD(pd::list(ps, n), torch::optim::SGDOptions(lr).momentum(momentum).dampening(dampening).weight_decay(wd).nesterov(nesterov != 0));
  }
  PD_CATCH(return nullptr)
}
PD_API pd_optim pd_adam_new(pd_tensor* ps, int n, double lr, double b1, double b2, double eps, double wd, int amsgrad) {
  try {
    return new torch::optim::Adam(pd::list(ps, n), torch::optim::AdamOptions(lr).betas({b1, b2}).eps(eps).weight_decay(wd).amsgrad(amsgrad != 0));
  }
  PD_CATCH(return nullptr)
}
PD_API pd_optim pd_adamw_new(pd_tensor* ps, int n, double lr, double b1, double b2, double eps, double wd, int amsgrad) {
  try {
    return new torch::optim::AdamW(pd::list(ps, n), torch::optim::AdamWOptions(lr).betas({b1, b2}).eps(eps).weight_decay(wd).amsgrad(amsgrad != 0));
  }
  PD_CATCH(return nullptr)
}
PD_API void pd_optim_free(pd_optim o) { delete o; }
PD_API int pd_optim_step(pd_optim o) { PD_V(torch::NoGradGuard ng; o->step()) }
PD_API int pd_optim_set_lr(pd_optim o, double lr) {
  PD_V(for (auto& g : o->param_groups()) g.options().set_lr(lr))
}
PD_API double pd_optim_get_lr(pd_optim o) { return o->param_groups().at(0).options().get_lr(); }
// Optimizer state (moments, step counts) for checkpoint/resume, in libtorch's archive format.
PD_API int pd_optim_save(pd_optim o, const char* path) { PD_V(torch::save(*o, std::string(path))) }
PD_API int pd_optim_load(pd_optim o, const char* path) { PD_V(torch::load(*o, std::string(path))) }
