// Reading PyTorch `torch.save` files (zip format) without Python: libtorch's unpickler returns the
// generic dict of name -> tensor that `torch.save(state_dict)` wrote.
#include "common.h"
#include <torch/serialize.h>
#include <caffe2/serialize/inline_container.h>

struct pd_dict {
  std::vector<std::string> names;
  std::vector<at::Tensor> tensors;
};

static void collect(const c10::IValue& v, const std::string& prefix, pd_dict& out) {
  if (v.isTensor()) {
    out.names.push_back(prefix);
    out.tensors.push_back(v.toTensor());
  } else if (v.isGenericDict()) {
    for (const auto& kv : v.toGenericDict()) {
      if (!kv.key().isString()) throw std::runtime_error("dictionary key is not a string");
      std::string k = kv.key().toStringRef();
      collect(kv.value(), prefix.empty() ? k : prefix + "." + k, out);
    }
  } else if (v.isNone() || v.isInt() || v.isDouble() || v.isBool() || v.isString()) {
    // Non-tensor entries (e.g. an epoch counter) are skipped.
  } else {
    throw std::runtime_error("unsupported value of type " + v.tagKind() + " at '" + prefix + "'");
  }
}

// Parses the bytes of a torch.save file; nested dicts are flattened with dotted names.
PD_API pd_dict* pd_pickle_load(const char* bytes, int64_t n) {
  try {
    std::vector<char> data(bytes, bytes + n);
    c10::IValue v = torch::pickle_load(data);
    auto* d = new pd_dict();
    try {
      collect(v, "", *d);
    } catch (...) {
      delete d;
      throw;
    }
    return d;
  }
  PD_CATCH(return nullptr)
}
PD_API int pd_dict_size(pd_dict* d) { return (int)d->names.size(); }
PD_API const char* pd_dict_name(pd_dict* d, int i) { return d->names.at(i).c_str(); }
PD_API pd_tensor pd_dict_tensor(pd_dict* d, int i) { PD_T(d->tensors.at(i)) }
PD_API void pd_dict_free(pd_dict* d) { delete d; }
