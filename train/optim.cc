#include "train/optim.h"

#include <torch/csrc/autograd/variable.h>

#include <cmath>

#include "core/error.h"

namespace rleif::train {

void AdamWOptions::validate() const {
  RLEIF_CHECK(lr >= 0, "optim.lr = ", lr, ": the learning rate must be >= 0");
  RLEIF_CHECK(beta1 >= 0 && beta1 < 1, "optim.beta1 = ", beta1, ": must be in [0, 1)");
  RLEIF_CHECK(beta2 >= 0 && beta2 < 1, "optim.beta2 = ", beta2, ": must be in [0, 1)");
  RLEIF_CHECK(eps > 0, "optim.eps = ", eps, ": must be > 0");
  RLEIF_CHECK(weight_decay >= 0, "optim.weight_decay = ", weight_decay, ": must be >= 0");
}

std::vector<ParamGroup> decay_groups(torch::nn::Module& m, double weight_decay) {
  ParamGroup decay, no_decay;
  decay.weight_decay = weight_decay;
  no_decay.weight_decay = 0.0;
  for (auto& item : m.named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    ParamGroup& g = item.value().dim() >= 2 ? decay : no_decay;
    g.names.push_back(item.key());
    g.params.push_back(item.value());
  }
  std::vector<ParamGroup> out;
  if (!decay.params.empty()) out.push_back(std::move(decay));
  if (!no_decay.params.empty()) out.push_back(std::move(no_decay));
  return out;
}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& opts) : groups_(std::move(groups)), opts_(opts) {
  opts_.validate();
  for (auto& g : groups_) {
    RLEIF_CHECK(g.names.size() == g.params.size(), "AdamW: a parameter group has ", g.names.size(), " names for ",
                g.params.size(), " tensors");
    for (auto& p : g.params)
      RLEIF_CHECK(p.is_floating_point(), "AdamW: parameter of dtype ", p.scalar_type(), " is not floating point");
  }
  ensure_state();
}

void AdamW::ensure_state() {
  if (!state_.empty()) return;
  torch::NoGradGuard ng;
  state_.resize(groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (auto& p : groups_[gi].params)
      state_[gi].push_back(Slot{torch::zeros_like(p, torch::MemoryFormat::Preserve),
                                torch::zeros_like(p, torch::MemoryFormat::Preserve),
                                torch::zeros({}, p.options().dtype(torch::kFloat32))});
}

void AdamW::step(double lr) {
  torch::NoGradGuard ng;
  if (opts_.fused) step_fused(lr);
  else step_reference(lr);
}

// torch/optim/adam.py _single_tensor_adam with decoupled_weight_decay=True, op for op.
void AdamW::step_reference(double lr) {
  const double beta1 = opts_.beta1, beta2 = opts_.beta2, eps = opts_.eps;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const double wd = groups_[gi].weight_decay;
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      torch::Tensor& param = groups_[gi].params[i];
      const torch::Tensor& grad = param.grad();
      if (!grad.defined()) continue;
      Slot& s = state_[gi][i];
      s.step.add_(1);
      if (wd != 0) param.mul_(1 - lr * wd);
      s.exp_avg.lerp_(grad, 1 - beta1);
      s.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
      const double step = s.step.item<float>();
      const double bias_correction1 = 1 - std::pow(beta1, step);
      const double bias_correction2 = 1 - std::pow(beta2, step);
      const double step_size = lr / bias_correction1;
      const double bias_correction2_sqrt = std::pow(bias_correction2, 0.5);  // Python's `** 0.5`
      torch::Tensor denom = (s.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps);
      param.addcdiv_(s.exp_avg, denom, -step_size);
    }
  }
}

// torch/optim/adam.py _fused_adam: steps += 1, then one kernel per (group, device, dtype).
void AdamW::step_fused(double lr) {
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    std::vector<torch::Tensor> params, grads, m, v, steps;
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      const torch::Tensor& p = groups_[gi].params[i];
      if (!p.grad().defined()) continue;
      params.push_back(p);
      grads.push_back(p.grad());
      m.push_back(state_[gi][i].exp_avg);
      v.push_back(state_[gi][i].exp_avg_sq);
      steps.push_back(state_[gi][i].step);
    }
    if (params.empty()) continue;
    at::_foreach_add_(steps, 1);
    at::_fused_adamw_(params, grads, m, v, /*max_exp_avg_sqs=*/{}, steps, lr, opts_.beta1, opts_.beta2,
                      groups_[gi].weight_decay, opts_.eps, /*amsgrad=*/false, /*maximize=*/false);
    // The fused kernel writes the parameters without moving their version counters (PyTorch's does
    // not either); moved here so that whatever keeps a derived copy of a weight (the rollout engine's
    // packed panels, model/cpu_gemm.h) sees the update, as it does after the per-tensor path.
    for (auto& p : params) torch::autograd::impl::bump_version(p);
  }
}

void AdamW::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.mutable_grad() = torch::Tensor();
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t i = 0; i < groups_[gi].names.size(); ++i) {
      const std::string& n = groups_[gi].names[i];
      out.emplace_back("exp_avg/" + n, state_[gi][i].exp_avg);
      out.emplace_back("exp_avg_sq/" + n, state_[gi][i].exp_avg_sq);
      out.emplace_back("step/" + n, state_[gi][i].step);
    }
  return out;
}

void AdamW::load_state(const std::function<torch::Tensor(const std::string&)>& get, const std::string& where) {
  torch::NoGradGuard ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t i = 0; i < groups_[gi].names.size(); ++i) {
      const std::string& n = groups_[gi].names[i];
      Slot& s = state_[gi][i];
      for (auto [key, dst] : {std::pair<std::string, torch::Tensor*>{"exp_avg/" + n, &s.exp_avg},
                              {"exp_avg_sq/" + n, &s.exp_avg_sq}, {"step/" + n, &s.step}}) {
        torch::Tensor t = get(key);
        RLEIF_CHECK(t.defined(), where, ": optimizer state '", key, "' is missing; the checkpoint does not match ",
                    "this model (start a fresh run in a new output directory)");
        RLEIF_CHECK(t.sizes() == dst->sizes(), where, ": optimizer state '", key, "' has shape ", t.sizes(),
                    ", expected ", dst->sizes());
        dst->copy_(t);
      }
    }
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  // torch.nn.utils.clip_grad_norm_: per-tensor norms, the norm of their stack, then a clamped
  // coefficient multiplied in unconditionally (no host sync on the clipping path).
  std::vector<torch::Tensor> norms = at::_foreach_norm(grads, 2);
  for (auto& n : norms) n = n.to(grads[0].device());
  torch::Tensor total = at::linalg_vector_norm(torch::stack(norms), 2);
  if (max_norm > 0) {
    torch::Tensor coef = (total + 1e-6).reciprocal() * max_norm;  // Python's float / Tensor
    at::_foreach_mul_(grads, torch::clamp(coef, c10::nullopt, 1.0));
  }
  return total.item<double>();
}

}  // namespace rleif::train
