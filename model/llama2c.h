// Import of karpathy/llama2.c checkpoints (legacy version-0 `model.bin` + `tokenizer.bin`) into a
// Hugging Face Llama directory: config.json, model.safetensors, tokenizer.json (+ tokenizer_config.json,
// generation_config.json). No LibTorch: plain float buffers in, safetensors out.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/jsonl.h"

namespace rleif::model {

// The 7 int32 header fields of a version-0 llama2.c checkpoint (run.c `Config`).
struct Llama2cConfig {
  int32_t dim = 0;          // H
  int32_t hidden_dim = 0;   // FFN width
  int32_t n_layers = 0;     // L
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;   // V (stored negative in the file when the classifier is not shared)
  int32_t seq_len = 0;
  bool shared_classifier = true;

  int64_t head_dim() const { return dim / n_heads; }
  int64_t kv_dim() const { return head_dim() * n_kv_heads; }
  // Exact byte size of a checkpoint with this config: header + every fp32 tensor run.c reads.
  int64_t file_bytes() const;
};

// Reads and validates the header of `model_bin` (positive sizes, divisibility, the exact file size).
Llama2cConfig read_llama2c_config(const std::string& model_bin);

// One llama2.c tokenizer entry: the piece as stored (spaces, not "▁") and its merge score.
struct Llama2cToken {
  std::string piece;
  float score = 0;
};
// Reads `vocab_size` entries of a llama2.c tokenizer.bin; the file must end right after them.
std::vector<Llama2cToken> read_llama2c_tokenizer(const std::string& tokenizer_bin, int64_t vocab_size);

// The Hugging Face tokenizer.json for a llama2.c vocabulary: SentencePiece-style BPE with byte
// fallback, merges derived from the vocabulary the way transformers' SentencePieceExtractor does.
json llama2c_tokenizer_json(const std::vector<Llama2cToken>& tokens, const std::string& where);

// Converts `model_bin` + `tokenizer_bin` into the Hugging Face directory `out_dir`, written atomically
// (a temporary sibling directory renamed into place). Throws rleif::Error naming the bad file.
void convert_llama2c(const std::string& model_bin, const std::string& tokenizer_bin, const std::string& out_dir);

}  // namespace rleif::model
