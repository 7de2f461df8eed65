#include "model/lora.h"

#include <cmath>

#include "core/error.h"
#include "core/strings.h"

namespace rleif::model {
namespace F = torch::nn::functional;

void LoraOptions::validate() const {
  RLEIF_CHECK(r >= 0, "lora.r = ", r, ": must be >= 0 (0 = no adapter)");
  if (!enabled()) return;
  RLEIF_CHECK(alpha > 0 && std::isfinite(alpha), "lora.alpha = ", alpha, ": must be > 0 (the update is scaled by alpha / r)");
  RLEIF_CHECK(dropout >= 0 && dropout < 1, "lora.dropout = ", dropout, ": must be in [0, 1)");
  RLEIF_CHECK(!target_modules.empty(), "lora.target_modules is empty; name the layers to adapt, e.g. [q_proj, v_proj]");
  for (const auto& t : target_modules)
    RLEIF_CHECK(!t.empty(), "lora.target_modules has an empty name; give layer names such as q_proj");
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  auto out = F::linear(x, weight, bias);
  if (!has_adapter() || !adapter_enabled) return out;
  // PEFT's lora.Linear.forward: result + lora_B(lora_A(dropout(x))) * scaling, in the adapter's dtype.
  auto h = x.to(lora_A->weight.scalar_type());
  if (dropout > 0 && is_training() && torch::GradMode::is_enabled())
    h = F::dropout(h, F::DropoutFuncOptions().p(dropout).training(true));
  return (out + lora_B(lora_A(h)) * scaling).to(out.scalar_type());
}

void LoraLinearImpl::add_adapter(int64_t r, double alpha, double dropout_p) {
  RLEIF_CHECK(!has_adapter(), "LoRA: this layer already has an adapter");
  RLEIF_CHECK(r >= 1, "LoRA: rank ", r, " must be >= 1");
  const auto wt = weight.scalar_type();
  const auto adapter_dtype = (wt == torch::kBFloat16 || wt == torch::kFloat16) ? torch::kFloat32 : wt;
  const int64_t in = weight.size(1), out = weight.size(0);
  // Built in fp32 on the CPU under torch's seeded generator (Linear's init is PEFT's kaiming_uniform_(a=sqrt(5))).
  auto a = torch::nn::Linear(torch::nn::LinearOptions(in, r).bias(false));
  auto b = torch::nn::Linear(torch::nn::LinearOptions(r, out).bias(false));
  {
    torch::NoGradGuard ng;
    b->weight.zero_();
  }
  a->to(weight.device(), adapter_dtype);
  b->to(weight.device(), adapter_dtype);
  lora_A = register_module("lora_A", a);
  lora_B = register_module("lora_B", b);
  scaling = alpha / static_cast<double>(r);
  dropout = dropout_p;
  adapter_enabled = true;
}

torch::Tensor LoraLinearImpl::merged_weight() const {
  if (!has_adapter()) return weight;
  torch::NoGradGuard ng;
  // PEFT: delta = (B @ A) * scaling, cast to the weight's dtype, added to it.
  auto delta = torch::matmul(lora_B->weight, lora_A->weight) * scaling;  // [out, in]
  return weight + delta.to(weight.scalar_type());
}

void LoraLinearImpl::merge() {
  if (!has_adapter()) return;
  {
    torch::NoGradGuard ng;
    weight.copy_(merged_weight());
  }
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_A = nullptr;
  lora_B = nullptr;
}

namespace {

bool matches(const std::string& name, const std::string& target) {
  return name == target ||
         (name.size() > target.size() && name.compare(name.size() - target.size(), target.size(), target) == 0 &&
          name[name.size() - target.size() - 1] == '.');
}

template <class Fn>
void for_each_lora(torch::nn::Module& m, Fn&& fn) {
  for (auto& item : m.named_modules())
    if (auto* l = item.value()->as<LoraLinearImpl>()) fn(item.key(), *l);
}

}  // namespace

int64_t add_lora(torch::nn::Module& m, const LoraOptions& opts, const std::vector<std::string>& trainable) {
  opts.validate();
  RLEIF_CHECK(opts.enabled(), "add_lora: lora.r is 0 (no adapter requested)");
  std::vector<std::string> names;
  int64_t n = 0;
  for_each_lora(m, [&](const std::string& name, LoraLinearImpl& l) {
    names.push_back(name);
    for (const auto& t : opts.target_modules)
      if (matches(name, t)) {
        l.add_adapter(opts.r, opts.alpha, opts.dropout);
        ++n;
        break;
      }
  });
  RLEIF_CHECK(n > 0, "lora.target_modules = [", join(opts.target_modules, ", "), "] matches no layer; the model's ",
              "adaptable layers end in q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
  for (auto& p : m.named_parameters()) {
    bool train = p.key().find(".lora_A.") != std::string::npos || p.key().find(".lora_B.") != std::string::npos;
    for (const auto& t : trainable) train = train || p.key().rfind(t + ".", 0) == 0;
    p.value().set_requires_grad(train);
  }
  return n;
}

bool has_lora(torch::nn::Module& m) {
  bool any = false;
  for_each_lora(m, [&](const std::string&, LoraLinearImpl& l) { any = any || l.has_adapter(); });
  return any;
}

void set_lora_enabled(torch::nn::Module& m, bool on) {
  for_each_lora(m, [&](const std::string&, LoraLinearImpl& l) { l.adapter_enabled = on; });
}

void merge_lora(torch::nn::Module& m) {
  for_each_lora(m, [&](const std::string&, LoraLinearImpl& l) { l.merge(); });
}

}  // namespace rleif::model
