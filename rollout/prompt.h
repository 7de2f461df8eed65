// Where a prompt that encodes to no tokens (an empty prompt) starts: BOS alone, as llama2.c's run.c
// does without a prompt and transformers' generate() does without input_ids
// (generation_config.bos_token_id, i.e. config.json's; the tokenizer's BOS when config.json has none).
// Shared by `rleif generate` and `rleif serve`; each reports a model without any BOS its own way.
#pragma once
#include <cstdint>
#include <optional>

#include "model/tokenizer.h"

namespace rleif::rollout {

inline std::optional<int32_t> empty_prompt_start(const Tokenizer& tok, int64_t config_bos) {
  if (config_bos >= 0) return static_cast<int32_t>(config_bos);
  return tok.bos_id();
}

}  // namespace rleif::rollout
