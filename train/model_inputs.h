// What a training run (rleif sft, rleif rm train) starts from: model.path, a Hugging Face directory
// whose tokenizer it uses unless model.tokenizer names another, or model.config + model.tokenizer for
// a model trained from scratch. One place resolves the tokenizer, the config and the EOS id, and fills
// a scratch config's special tokens, so the two commands cannot drift apart.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "model/config.h"
#include "model/tokenizer.h"

namespace rleif::train {

struct ModelInputs {
  std::string tokenizer_path;       // the tokenizer.json read
  std::string tokenizer_dir;        // its directory ("." for a bare file name): copied next to saved models
  std::unique_ptr<Tokenizer> tok;
  model::ModelConfig config;        // model.path's config.json, or model.config as written (config.raw: its JSON)
  int32_t eos_id = -1;              // the tokenizer's EOS, else the config's first eos_token_id
};

// path: model.path; config: model.config (used when path is empty); tokenizer: model.tokenizer (a
// tokenizer.json or its directory; default: path's). Errors name the file and the key to set: no
// tokenizer, no EOS anywhere, a tokenizer larger than the model's vocab_size.
ModelInputs resolve_model_inputs(const std::string& path, const std::string& config, const std::string& tokenizer);

// The config of a model trained from scratch: `written` (model.config) with the special tokens it
// leaves out filled in from the tokenizer (BOS, EOS = eos_id) and `pad_id` when given, so
// transformers' generate() stops where rleif does.
model::ModelConfig scratch_config(model::ModelConfig written, const Tokenizer& tok, int32_t eos_id,
                                  std::optional<int32_t> pad_id);

}  // namespace rleif::train
