// AdamW with decoupled weight decay (Loshchilov & Hutter 2019), matching torch.optim.AdamW: the
// reference path issues the same ATen ops with the same scalars as PyTorch's single-tensor
// implementation (bitwise-equal updates on CPU); the fused path calls ATen's _fused_adamw_, as
// torch.optim.AdamW(fused=True) does.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/options.h"

namespace rleif::train {

struct AdamWOptions {
  double lr = 2e-5;            // peak learning rate (WizardMath SFT README: 2e-5)
  double beta1 = 0.9;          // first-moment decay (torch default)
  double beta2 = 0.999;        // second-moment decay (torch default)
  double eps = 1e-8;           // denominator epsilon (torch default)
  double weight_decay = 0.0;   // decoupled decay on matrices only; HF Trainer's default is 0
  bool fused = true;           // one ATen kernel over all tensors; false = PyTorch's per-tensor op sequence

  template <class V>
  void visit(V& v) {
    v.field("lr", lr, "peak learning rate (the schedule scales it)");
    v.field("beta1", beta1, "AdamW first-moment decay");
    v.field("beta2", beta2, "AdamW second-moment decay");
    v.field("eps", eps, "AdamW denominator epsilon");
    v.field("weight_decay", weight_decay, "decoupled weight decay; never applied to norms and biases");
    v.field("fused", fused, "use ATen's fused AdamW kernel (false: PyTorch's single-tensor op sequence)");
  }
  void validate() const;
};

// Parameters that share a weight decay.
struct ParamGroup {
  std::vector<std::string> names;
  std::vector<torch::Tensor> params;
  double weight_decay = 0.0;
};

// Two groups over the trainable parameters of `m`: matrices (dim >= 2) decay with weight_decay;
// norms and biases (dim < 2) never decay (the GPT-2 / HF Trainer convention).
std::vector<ParamGroup> decay_groups(torch::nn::Module& m, double weight_decay);

class AdamW {
 public:
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& opts);

  // One update of every parameter that has a gradient, at learning rate `lr`.
  void step(double lr);
  // Sets every gradient to undefined (so the next backward writes fresh ones).
  void zero_grad();

  // Optimizer state by name: "exp_avg/<param>", "exp_avg_sq/<param>", "step/<param>" (fp32 []).
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Restores what state() returned; every tensor must be present with the right shape.
  // `where` names the source (a file) in errors.
  void load_state(const std::function<torch::Tensor(const std::string&)>& get, const std::string& where);

  const std::vector<ParamGroup>& groups() const { return groups_; }
  const AdamWOptions& options() const { return opts_; }

 private:
  struct Slot {
    torch::Tensor exp_avg, exp_avg_sq, step;  // like param, like param, fp32 []
  };
  void ensure_state();
  void step_reference(double lr);
  void step_fused(double lr);

  std::vector<ParamGroup> groups_;
  AdamWOptions opts_;
  std::vector<std::vector<Slot>> state_;  // [group][param]
};

// Scales gradients so their global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_:
// coef = max_norm / (norm + 1e-6), clamped to 1). Returns the norm before clipping, as fp64.
// max_norm <= 0 measures without clipping.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace rleif::train
