// Hugging Face model directories: config.json, model.safetensors (or a sharded index),
// tokenizer.json. Every tensor is checked against config.json (name, dtype, shape) before use.
#pragma once
#include <string>

#include "model/causal_lm.h"
#include "model/dtype.h"  // parse_torch_dtype, parse_device: the names LoadOptions' fields come from
#include "model/score_model.h"

namespace rleif::model {

struct LoadOptions {
  torch::ScalarType dtype = torch::kFloat32;  // parameters are converted to this dtype
  torch::Device device = torch::kCPU;
};

// A LoRA adapter directory (model/lora_io.h: adapter_config.json, no config.json) loads as its base
// model with the adapter merged in, here and in load_score_model.
CausalLM load_causal_lm(const std::string& dir, const LoadOptions& opts = {});
// Loads a LlamaForSequenceClassification / LlamaForTokenClassification directory; with allow_new_head,
// a CausalLM directory is accepted too and the score head is initialised fresh (seeded by the caller's
// torch::manual_seed). num_labels > 0 is the head width wanted: a stored head of another width is an
// error, a fresh head gets this width.
ScoreModel load_score_model(const std::string& dir, const LoadOptions& opts = {}, bool allow_new_head = false,
                            int64_t num_labels = 0);

// Writes config.json + model.safetensors (LoRA adapters merged into their weights) (+ tokenizer files copied from `tokenizer_from`, if given)
// into `dir` atomically (a temporary directory renamed into place). dtype: stored dtype.
void save_causal_lm(CausalLM& m, const std::string& dir, const std::string& tokenizer_from = "",
                    torch::ScalarType dtype = torch::kFloat32);
// Copies the tokenizer files (tokenizer.json, tokenizer_config.json, ...) that exist in `from` into `to`.
void copy_tokenizer_files(const std::string& from, const std::string& to);

// token_classification: written as LlamaForTokenClassification (a score per token, e.g. a PRM) with
// token_classification_bias=false, the bias-free head rleif trains; else LlamaForSequenceClassification.
void save_score_model(ScoreModel& m, const std::string& dir, const std::string& tokenizer_from = "",
                      torch::ScalarType dtype = torch::kFloat32, bool token_classification = false);

}  // namespace rleif::model
