// LoRA (Hu et al. 2021, arXiv:2106.09685) as PEFT implements it: a Linear layer y = W x + b gains a
// low-rank update (alpha / r) * B A dropout(x), A [r, in] kaiming-uniform (a = sqrt(5), PEFT's
// default init, which is torch's Linear init), B [out, r] zero, so an adapter starts as the identity.
// Adapter parameters sit under the layer as `lora_A.weight` / `lora_B.weight`, the names PEFT saves
// (model/lora_io.h writes and reads PEFT adapter directories).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace rleif::model {

struct LoraOptions {
  int64_t r = 0;               // rank; 0 = no adapter (every parameter trains)
  double alpha = 16.0;         // scaling = alpha / r (PEFT's lora_alpha)
  double dropout = 0.0;        // dropout on the adapter's input in training forwards (PEFT's lora_dropout)
  // Layers that get an adapter, matched on the last name components as PEFT's target_modules.
  std::vector<std::string> target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  bool merge_on_save = false;  // the final model is written merged (a plain Hugging Face directory)

  bool enabled() const { return r > 0; }
  double scaling() const { return alpha / static_cast<double>(r); }

  template <class V>
  void visit(V& v) {
    v.field("r", r, "LoRA rank; 0 = no adapter (full fine-tuning)");
    v.field("alpha", alpha, "LoRA alpha: the update is scaled by alpha / r");
    v.field("dropout", dropout, "dropout on the adapter input while training (0 = none)");
    v.field("target_modules", target_modules, "layers that get an adapter, by name (PEFT's target_modules)");
    v.field("merge_on_save", merge_on_save, "write the final model merged into the base (a plain HF directory)");
  }
  void validate() const;
};

// torch::nn::Linear (same parameters, names and init) that can carry one LoRA adapter.
struct LoraLinearImpl : torch::nn::LinearImpl {
  using torch::nn::LinearImpl::LinearImpl;
  // x [..., in] -> [..., out]: F::linear(x, W, b), plus the adapter's update when one is attached and
  // enabled. Dropout applies only in training mode with grad on (never in no-grad or inference forwards,
  // so a rollout from a model left in train mode samples the policy it scores).
  torch::Tensor forward(const torch::Tensor& x);
  // Attaches an adapter (A from torch's seeded generator, B = 0) on the weight's device, in the weight's
  // dtype (fp32 for a bf16/fp16 weight, as PEFT's autocast_adapter_dtype). Fails if one is attached.
  void add_adapter(int64_t r, double alpha, double dropout);
  bool has_adapter() const { return !lora_A.is_empty(); }
  // W + scaling * (B A) in W's dtype (PEFT's get_delta_weight order); W when there is no adapter.
  torch::Tensor merged_weight() const;
  // W <- merged_weight(); the adapter is removed.
  void merge();

  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};  // weights [r, in], [out, r]; no bias
  double scaling = 0.0;
  double dropout = 0.0;
  bool adapter_enabled = true;
};
TORCH_MODULE(LoraLinear);

// Attaches adapters to every LoraLinear of `m` matched by opts.target_modules (a name equal to a target
// or ending in "." + target) and freezes every other parameter except those under the module names in
// `trainable` (e.g. "score", a reward model's fresh head). Fails naming the targets when none matches.
// Returns the number of adapted layers.
int64_t add_lora(torch::nn::Module& m, const LoraOptions& opts, const std::vector<std::string>& trainable = {});
// Whether any layer of `m` carries an adapter.
bool has_lora(torch::nn::Module& m);
// Switches every adapter of `m` on or off (off: the base model's forward, bitwise).
void set_lora_enabled(torch::nn::Module& m, bool on);
// Merges every adapter into its base weight and removes it (`m` becomes a plain model).
void merge_lora(torch::nn::Module& m);

// Adapters off for a scope (the PPO reference policy is the actor with its adapters off).
class LoraDisabled {
 public:
  explicit LoraDisabled(torch::nn::Module& m) : m_(m) { set_lora_enabled(m_, false); }
  ~LoraDisabled() { set_lora_enabled(m_, true); }
  LoraDisabled(const LoraDisabled&) = delete;
  LoraDisabled& operator=(const LoraDisabled&) = delete;

 private:
  torch::nn::Module& m_;
};

}  // namespace rleif::model
