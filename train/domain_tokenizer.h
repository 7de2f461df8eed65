// A byte-level BPE tokenizer learned from a corpus, written as a Hugging Face tokenizer.json that
// rleif's Tokenizer and the Python `tokenizers` library both load. It serves the built-in math
// domain: the pre-tokenizer splits every digit into its own piece (digits are single tokens, so
// numbers read the same everywhere), while merges learned on the corpus make each frequent word,
// with its leading space, one token, which keeps sequences short for a tiny CPU-trained model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/jsonl.h"

namespace rleif::train {

struct DomainTokenizerOptions {
  int64_t vocab_size = 1024;   // cap on all tokens (3 specials + 256 bytes + merges)
  int64_t min_frequency = 2;   // a pair seen fewer times in the corpus is not merged
};

// The special tokens, in id order: <pad> = 0, <s> = 1 (BOS, added by the post-processor), </s> = 2.
inline constexpr const char* kPadToken = "<pad>";
inline constexpr const char* kBosToken = "<s>";
inline constexpr const char* kEosToken = "</s>";

// The pre-tokenizer's split pattern: words with their leading space, single digits, punctuation
// runs, whitespace (GPT-2's pattern with \p{N}+ narrowed to one digit).
extern const char* const kDomainSplitPattern;

// Learns merges on `corpus` (pair counts weighted by piece frequency, most frequent first, ties in
// byte order) and returns the tokenizer.json content.
json build_domain_tokenizer(const std::vector<std::string>& corpus, const DomainTokenizerOptions& opts);
// tokenizer_config.json for transformers' PreTrainedTokenizerFast (bos/eos/pad names).
json domain_tokenizer_config();

// The pieces the pre-tokenizer makes of ASCII text (the corpus side of kDomainSplitPattern);
// exposed for tests.
std::vector<std::string> domain_pretokenize(const std::string& text);

}  // namespace rleif::train
