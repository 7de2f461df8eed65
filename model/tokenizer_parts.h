// Internals of rleif::Tokenizer (model/tokenizer.h): the stages of a Hugging Face tokenizer.json
// pipeline (normalizer, pre-tokenizer, BPE model, post-processor, decoder), each built from its JSON
// object. Behaviour mirrors huggingface/tokenizers (Rust) so that ids are identical; comments name
// the Rust item a piece of code follows. Only model/tokenizer*.cc and the tokenizer unit test
// include this header.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/jsonl.h"

struct pcre2_real_code_8;

namespace rleif::tok {

// ---- UTF-8 ----------------------------------------------------------------------------------

// Byte length of the character whose lead byte is `lead` (1 for bytes that cannot lead).
inline size_t utf8_len(unsigned char lead) {
  return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
// Index of the first byte that is not well-formed UTF-8 (overlong, surrogate, > U+10FFFF,
// truncated), or npos when `s` is valid: Rust's str holds exactly the valid strings.
size_t find_invalid_utf8(std::string_view s);
// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);
// Decodes the character at s[i] (s valid UTF-8) and advances i past it.
char32_t next_char(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t c);
// The Unicode White_Space property (Rust's char::is_whitespace and regex \s).
bool is_white_space(char32_t c);

// ---- Patterns and splitting -------------------------------------------------------------------

struct Span {
  size_t begin = 0, end = 0;
};

// A PCRE2 pattern compiled with UTF and UCP (and JIT when available), shared read-only across
// threads. Stands in for the Oniguruma regexes of the tokenizers library: `^`/`$` are line anchors
// as in Oniguruma.
class Regex {
 public:
  // Throws rleif::Error naming `where`, PCRE2's message and the offset of the bad character.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Appends every non-overlapping match of `s` (valid UTF-8) left to right, skipping an empty match
  // that touches the previous one (the onig crate's find_iter).
  void find_all(std::string_view s, std::vector<Span>& out) const;
  // Whether the pattern matches somewhere in s.
  bool search(std::string_view s) const;

 private:
  pcre2_real_code_8* code_ = nullptr;
};

// A Split / Replace pattern: {"String": s} (literal) or {"Regex": r}.
class Pattern {
 public:
  Pattern(const json& j, const std::string& where);
  void find_all(std::string_view s, std::vector<Span>& out) const;

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
};

// tokenizers' SplitDelimiterBehavior.
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };
SplitBehavior parse_split_behavior(const json& j, const std::string& where);
// NormalizedString::split: the pieces of a string of length n around `matches` (sorted,
// non-overlapping), optionally inverted, combined per `behavior`; empty pieces are dropped.
std::vector<Span> split_pieces(size_t n, const std::vector<Span>& matches, SplitBehavior behavior, bool invert);

// GPT-2's byte <-> printable-character table (tokenizers' bytes_char): byte b is written as
// byte_char(b) (UTF-8), and char_byte(c) is the byte of character c, or -1 when c is not in it.
const std::string& byte_char(unsigned char b);
int char_byte(char32_t c);

enum class UnicodeForm { nfc, nfd, nfkc, nfkd };
// Unicode normalization through ICU. Throws when rleif was built without ICU.
void unicode_normalize(std::string& s, UnicodeForm form, const std::string& where);

// ---- JSON field helpers (errors name `where` and the key) -------------------------------------

bool json_bool(const json& j, const char* key, bool fallback, const std::string& where);
std::string json_string(const json& j, const char* key, const std::string& where);
std::optional<std::string> json_opt_string(const json& j, const char* key, const std::string& where);
int64_t json_int(const json& j, const char* key, int64_t fallback, const std::string& where);
const json& json_array(const json& j, const char* key, const std::string& where);
std::string json_type(const json& j, const std::string& where);

// ---- Pipeline stages --------------------------------------------------------------------------

// A pre-token moving through the pre-tokenizers. at_start: it begins at offset 0 of the input
// (Metaspace's prepend_scheme "first" prepends only there).
struct Word {
  std::string text;
  bool at_start = false;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `words` by their pre-tokens, in order.
  virtual void pre_tokenize(std::vector<Word>& words) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // tokenizers' Decoder::decode_chain: rewrites the token strings; the caller joins them.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens of a single sequence (add_special_tokens = true).
  virtual void process(std::vector<int32_t>& ids) const = 0;
  // The special tokens placed before / after the sequence, when there is exactly one.
  virtual std::optional<int32_t> bos() const { return std::nullopt; }
  virtual std::optional<int32_t> eos() const { return std::nullopt; }
};

// Each factory reads one JSON object (`where` names it: "path: pre_tokenizer.pretokenizers[1]") and
// throws rleif::Error for unknown types, naming the type and the supported ones.
std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where);
std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where);
std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where);

// Largest token id accepted (exclusive); ids index dense tables.
constexpr int64_t kMaxTokenId = int64_t{1} << 24;

// The BPE model (tokenizers' models::bpe::BPE): rank-ordered merges applied with a priority queue
// over a linked list of symbols, results cached per word (thread safe).
class BpeModel {
 public:
  BpeModel(const json& model, const std::string& where);
  ~BpeModel();
  // Appends the ids of one pre-token.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // nullptr when no token has this id.
  const std::string* id_to_token(int32_t id) const;
  int64_t id_end() const { return static_cast<int64_t>(tokens_.size()); }  // max id + 1
  size_t size() const { return vocab_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  // One slot of the merge table: open addressing with linear probing, keyed by (left << 32 | right).
  // find_merge is BPE's innermost lookup: no division by a prime and no node chasing, unlike
  // std::unordered_map (about 10% of the Llama 2 style encode time, measured by perf stat).
  struct MergeSlot {
    uint64_t key = ~uint64_t{0};  // empty (ids are < 2^24, so no pair has this key)
    Merge merge{};
  };
  struct CacheShard;
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  const Merge* find_merge(int32_t left, int32_t right) const;
  void insert_merge(int32_t left, int32_t right, Merge m);

  std::vector<std::string> tokens_;                       // id -> token ("" where no token has the id)
  std::unordered_map<std::string_view, int32_t> vocab_;   // views into tokens_
  std::vector<MergeSlot> merge_slots_;                    // power-of-two size, at most half full
  int merge_shift_ = 64;                                  // 64 - log2(merge_slots_.size())
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string prefix_;                                    // continuing_subword_prefix
  std::string suffix_;                                    // end_of_word_suffix
  std::array<int32_t, 256> byte_ids_{};                   // <0xNN> token ids, -1 when absent
  std::unique_ptr<CacheShard[]> cache_;
};

}  // namespace rleif::tok
