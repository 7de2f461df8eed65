// Tokenizer loaded from a Hugging Face tokenizer.json: BPE models in two flavours,
//  - byte-level BPE (GPT-2, Llama 3, Qwen2): ByteLevel pre-tokenizer / Split with the model's
//    regex (through PCRE2), bytes mapped to printable unicode;
//  - SentencePiece-style BPE (Llama 2, Mistral, TinyLlama): "▁" for spaces (Prepend/Replace
//    normalizer or Metaspace pre-tokenizer), byte fallback to <0xNN> tokens.
// Added and special tokens are matched before the model runs; the post-processor (TemplateProcessing)
// adds BOS/EOS when add_special_tokens is true. Ids equal the `tokenizers` library's (tested on GSM8K
// and extra texts against tokenizers 0.23; see tests/golden/tokenizer_parity_test.cc).
// Supported stages: normalizers Sequence, Prepend, Replace, NFC/NFD/NFKC/NFKD (ICU); pre-tokenizers
// Sequence, ByteLevel, Split, Metaspace, Digits; decoders Sequence, ByteLevel, Replace, ByteFallback,
// Fuse, Strip, Metaspace; post-processors Sequence, TemplateProcessing, ByteLevel, Roberta/Bert.
// The file's "truncation" and "padding" settings are not applied. All methods are const and safe to
// call from many threads at once (the BPE word cache is internally locked).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/jsonl.h"

namespace rleif {

class Tokenizer {
 public:
  // Throws rleif::Error naming the file and what is wrong for malformed or unsupported files.
  static Tokenizer from_file(const std::string& tokenizer_json_path);
  static Tokenizer from_json(const json& j, const std::string& where);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Throws rleif::Error when `text` is not valid UTF-8.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Encodes many texts; threads <= 0 uses the hardware concurrency. The first error is rethrown.
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                 bool add_special_tokens = true, int threads = 0) const;
  // Ids that no token has are skipped; skip_special_tokens drops added tokens marked special. The
  // result is valid UTF-8 (invalid byte sequences become U+FFFD, as tokenizers does).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int64_t vocab_size() const;                       // largest id + 1, added tokens included
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;        // "" when out of range
  bool is_special(int32_t id) const;
  std::optional<int32_t> bos_id() const;            // from the post-processor / added tokens, if any
  std::optional<int32_t> eos_id() const;

 private:
  Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rleif
