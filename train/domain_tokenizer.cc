#include "train/domain_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "core/error.h"

namespace rleif::train {

const char* const kDomainSplitPattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

// GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to U+0100 onwards.
std::vector<std::string> byte_symbols() {
  std::vector<int> cps(256, -1);
  auto keep = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  int next = 256;
  for (int b = 0; b < 256; ++b) cps[static_cast<size_t>(b)] = keep(b) ? b : next++;
  std::vector<std::string> out(256);
  for (int b = 0; b < 256; ++b) {
    const int cp = cps[static_cast<size_t>(b)];
    std::string s;
    if (cp < 0x80) s += static_cast<char>(cp);
    else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    out[static_cast<size_t>(b)] = s;
  }
  return out;
}

bool is_letter(unsigned char c) { return std::isalpha(c) != 0 || c >= 0x80; }
bool is_digit(unsigned char c) { return std::isdigit(c) != 0; }
bool is_space(unsigned char c) { return std::isspace(c) != 0; }

}  // namespace

// The alternatives of kDomainSplitPattern in order, for ASCII text (non-ASCII bytes count as letters).
std::vector<std::string> domain_pretokenize(const std::string& text) {
  std::vector<std::string> out;
  const size_t n = text.size();
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < n) {
    size_t j = i;
    if (text[i] == '\'') {
      for (const char* suf : {"s", "t", "re", "ve", "m", "ll", "d"}) {
        const std::string s(suf);
        if (text.compare(i + 1, s.size(), s) == 0) {
          j = i + 1 + s.size();
          break;
        }
      }
    }
    if (j == i) {
      const size_t k = (text[i] == ' ' && i + 1 < n) ? i + 1 : i;  // optional leading space
      if (is_letter(at(k))) {
        j = k;
        while (j < n && is_letter(at(j))) ++j;
      } else if (k == i && is_digit(at(i))) {
        j = i + 1;
      } else if (!is_space(at(k)) && !is_digit(at(k))) {
        j = k;
        while (j < n && !is_space(at(j)) && !is_letter(at(j)) && !is_digit(at(j))) ++j;
      } else {
        // Whitespace: a run, leaving its last char to a following non-space piece (\s+(?!\S)).
        j = i;
        while (j < n && is_space(at(j))) ++j;
        if (j < n && j - i > 1) --j;
      }
    }
    out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

json build_domain_tokenizer(const std::vector<std::string>& corpus, const DomainTokenizerOptions& opts) {
  const auto bytes = byte_symbols();
  constexpr int64_t kSpecials = 3;
  RLEIF_CHECK(opts.vocab_size >= kSpecials + 256, "tokenizer vocab_size = ", opts.vocab_size, ": must be at least ",
              kSpecials + 256, " (3 special tokens + 256 bytes)");
  // Piece -> count, each piece as its byte symbols.
  std::map<std::string, int64_t> counts;
  for (const auto& text : corpus)
    for (auto& piece : domain_pretokenize(text)) ++counts[piece];
  std::vector<std::pair<std::vector<std::string>, int64_t>> words;
  for (auto& [piece, c] : counts) {
    std::vector<std::string> syms;
    for (unsigned char b : piece) syms.push_back(bytes[b]);
    words.emplace_back(std::move(syms), c);
  }
  json vocab = json::object();
  vocab[kPadToken] = 0;
  vocab[kBosToken] = 1;
  vocab[kEosToken] = 2;
  int64_t next_id = kSpecials;
  for (auto& s : bytes) vocab[s] = next_id++;
  json merges = json::array();
  while (next_id < opts.vocab_size) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (auto& [syms, c] : words)
      for (size_t k = 0; k + 1 < syms.size(); ++k) pairs[{syms[k], syms[k + 1]}] += c;
    // Most frequent first; std::map order breaks ties deterministically.
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_count = 0;
    for (auto& [p, c] : pairs)
      if (c > best_count) best = &p, best_count = c;
    if (!best || best_count < opts.min_frequency) break;
    const std::string left = best->first, right = best->second, merged = left + right;
    merges.push_back(left + " " + right);
    if (!vocab.contains(merged)) vocab[merged] = next_id++;
    for (auto& [syms, c] : words) {
      std::vector<std::string> out;
      for (size_t k = 0; k < syms.size(); ++k) {
        if (k + 1 < syms.size() && syms[k] == left && syms[k + 1] == right) {
          out.push_back(merged);
          ++k;
        } else {
          out.push_back(syms[k]);
        }
      }
      syms = std::move(out);
    }
  }
  auto special = [](int id, const char* content) {
    return json{{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  json bos_piece = {{"SpecialToken", {{"id", kBosToken}, {"type_id", 0}}}};
  json tok;
  tok["version"] = "1.0";
  tok["truncation"] = nullptr;
  tok["padding"] = nullptr;
  tok["added_tokens"] = json::array({special(0, kPadToken), special(1, kBosToken), special(2, kEosToken)});
  tok["normalizer"] = nullptr;
  tok["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({{{"type", "Split"}, {"pattern", {{"Regex", kDomainSplitPattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                    {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}})}};
  tok["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", json::array({bos_piece, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"pair", json::array({bos_piece, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, bos_piece,
                            {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
      {"special_tokens", {{kBosToken, {{"id", kBosToken}, {"ids", {1}}, {"tokens", {kBosToken}}}}}}};
  tok["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  tok["model"] = {{"type", "BPE"},          {"dropout", nullptr},       {"unk_token", nullptr},
                  {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                  {"fuse_unk", false},      {"byte_fallback", false},   {"ignore_merges", false},
                  {"vocab", vocab},         {"merges", merges}};
  return tok;
}

json domain_tokenizer_config() {
  return json{{"tokenizer_class", "PreTrainedTokenizerFast"},
              {"bos_token", kBosToken},
              {"eos_token", kEosToken},
              {"pad_token", kPadToken},
              {"add_bos_token", true},
              {"model_max_length", 2048},
              {"clean_up_tokenization_spaces", false}};
}

}  // namespace rleif::train
