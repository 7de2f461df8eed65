// ModelConfig: the Hugging Face config.json of a Llama-family decoder (llama, mistral, qwen2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/jsonl.h"

namespace rleif::model {

enum class RopeType { none, llama3, linear };

struct ModelConfig {
  std::string model_type = "llama";  // llama | mistral | qwen2
  std::vector<std::string> architectures;
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;        // H
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;    // L
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;  // GQA when < num_attention_heads
  int64_t head_dim = 0;              // 0 = hidden_size / num_attention_heads
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeType rope_type = RopeType::none;
  double rope_factor = 1.0;                        // llama3 / linear scaling factor
  double rope_low_freq_factor = 1.0;               // llama3
  double rope_high_freq_factor = 4.0;              // llama3
  int64_t rope_original_max_position_embeddings = 8192;  // llama3
  bool attention_bias = false;       // bias on q,k,v,o (llama's attention_bias)
  bool qkv_bias = false;             // bias on q,k,v only (qwen2)
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  int64_t sliding_window = 0;        // 0 = none (mistral / qwen2 with use_sliding_window)
  std::vector<bool> layer_sliding;   // [L] which layers use the window (empty = all when window > 0)
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  int64_t pad_token_id = -1;
  int64_t num_labels = 1;            // ScoreModel head width
  std::string dtype = "float32";     // stored parameter dtype ("torch_dtype"/"dtype")
  json raw;                          // the whole config.json, kept for round trips

  int64_t head_size() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  int64_t window_for_layer(int64_t layer) const {
    if (sliding_window <= 0) return 0;
    if (layer_sliding.empty()) return sliding_window;
    return layer_sliding[static_cast<size_t>(layer)] ? sliding_window : 0;
  }
  // Parses config.json content; `where` names the file in errors. Unsupported model_type, missing
  // or inconsistent sizes are errors that say what to fix.
  static ModelConfig from_json(const json& j, const std::string& where);
  static ModelConfig load(const std::string& dir);  // dir/config.json
  // config.json content for `architecture` (e.g. "LlamaForCausalLM"), keeping unknown raw keys.
  json to_json(const std::string& architecture) const;
  void validate(const std::string& where) const;
};

}  // namespace rleif::model
