// PEFT LoRA adapter directories: adapter_config.json (peft_type LORA, base_model_name_or_path, r,
// lora_alpha, lora_dropout, target_modules, task_type, modules_to_save) and adapter_model.safetensors
// with PEFT's tensor names, "base_model.model.<parameter name>" (e.g.
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight; a reward model's head as
// base_model.model.score.weight). PEFT loads what rleif writes and rleif loads what PEFT writes.
#pragma once
#include <string>
#include <vector>

#include "core/jsonl.h"
#include "model/lora.h"

namespace rleif::model {

struct AdapterConfig {
  std::string base_model;                    // base_model_name_or_path: the base model directory
  std::string task_type = "CAUSAL_LM";       // CAUSAL_LM | SEQ_CLS | TOKEN_CLS
  LoraOptions lora;                          // r, lora_alpha, lora_dropout, target_modules
  std::vector<std::string> modules_to_save;  // whole modules stored beside the adapters (a reward head: score)

  json to_json() const;
  // dir/adapter_config.json; errors name the file and the key.
  static AdapterConfig load(const std::string& dir);
};

// Whether `dir` holds an adapter (adapter_config.json).
bool is_adapter_dir(const std::string& dir);

// Writes dir/adapter_config.json and dir/adapter_model.safetensors (the adapters of `m` and every
// parameter under cfg.modules_to_save, fp32), plus tokenizer files copied from `tokenizer_from`,
// replacing `dir` atomically.
void save_lora_adapter(torch::nn::Module& m, const AdapterConfig& cfg, const std::string& dir,
                       const std::string& tokenizer_from = "");

// Attaches the adapters `dir` describes to `m` (unless it already carries them) and copies the stored
// tensors into them and into the modules_to_save; every stored tensor must be one of `m`'s, with its
// shape, and every adapter of `m` must be stored. Leaves requires_grad as add_lora sets it.
void load_lora_adapter(torch::nn::Module& m, const std::string& dir);

}  // namespace rleif::model
