// rleif::Tokenizer: loads tokenizer.json, matches added tokens, runs the pipeline stages of
// tokenizer_parts.h. The order of steps follows tokenizers' TokenizerImpl::encode_single_sequence
// and AddedVocabulary::extract_and_normalize.
#include "model/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/strings.h"
#include "model/tokenizer_parts.h"

namespace rleif {
using namespace tok;

namespace {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// Literal matching, leftmost-longest (aho-corasick's MatchKind::LeftmostLongest), over a byte trie:
// added tokens are few, so walking the trie from each candidate start position is cheap.
class TokenTrie {
 public:
  // The first pattern added for a string wins, as aho-corasick reports the lowest pattern index.
  void add(const std::string& pattern, int32_t value) {
    if (pattern.empty()) return;
    size_t node = 0;
    for (unsigned char c : pattern) {
      int32_t child = find(node, c);
      if (child < 0) {
        child = static_cast<int32_t>(nodes_.size());
        nodes_[node].next.emplace_back(c, child);
        nodes_.emplace_back();
      }
      node = static_cast<size_t>(child);
    }
    if (nodes_[node].value < 0) nodes_[node].value = value;
    first_[static_cast<unsigned char>(pattern[0])] = true;
  }
  bool empty() const { return nodes_.size() == 1; }
  // The longest pattern starting at s[pos]: {length, value}, value -1 when none.
  std::pair<size_t, int32_t> longest_at(std::string_view s, size_t pos) const {
    std::pair<size_t, int32_t> best{0, -1};
    if (!first_[static_cast<unsigned char>(s[pos])]) return best;
    size_t node = 0;
    for (size_t i = pos; i < s.size(); ++i) {
      int32_t child = find(node, static_cast<unsigned char>(s[i]));
      if (child < 0) break;
      node = static_cast<size_t>(child);
      if (nodes_[node].value >= 0) best = {i + 1 - pos, nodes_[node].value};
    }
    return best;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> next;
    int32_t value = -1;
  };
  int32_t find(size_t node, unsigned char c) const {
    for (const auto& [byte, child] : nodes_[node].next)
      if (byte == c) return child;
    return -1;
  }
  std::vector<Node> nodes_{1};
  std::array<bool, 256> first_{};
};

// A piece of text: [begin, end) and the added token it is, or -1.
struct Segment {
  size_t begin, end;
  int32_t added;
};

// Rust regex's Unicode \w (UTS #18): the single_word check looks at one character on each side.
bool is_word_char(std::string_view ch) {
  static const Regex word(R"(\A[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]\z)", "tokenizer: word pattern");
  return word.search(ch);
}
std::string_view last_char(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  return s.substr(i > 0 ? i - 1 : 0);
}
std::string_view first_char(std::string_view s) { return s.substr(0, utf8_len(static_cast<unsigned char>(s[0]))); }
// Start of the whitespace run that ends s (regex \s*$), and length of the one that starts it (^\s*).
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    std::string_view c = last_char(s.substr(0, end));
    size_t i = 0;
    if (!is_white_space(next_char(c, i))) break;
    end -= c.size();
  }
  return end;
}
size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    if (!is_white_space(next_char(s, j))) break;
    i = j;
  }
  return i;
}

// Well-known names for BOS / EOS when the post-processor does not place them.
const char* const kBosNames[] = {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>"};
const char* const kEosNames[] = {"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", "<|im_end|>"};

}  // namespace

struct Tokenizer::Impl {
  std::string where;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  std::vector<AddedToken> added;
  std::unordered_map<std::string, size_t> added_by_content;
  std::unordered_map<int32_t, size_t> added_by_id;
  std::unordered_set<std::string> special_contents;
  TokenTrie raw_trie;         // added tokens with normalized = false, matched in the raw text
  TokenTrie normalized_trie;  // normalized = true, matched (in normalized form) after normalization
  int64_t id_end = 0;
  std::optional<int32_t> bos, eos;

  void load_added_tokens(const json& list);
  std::vector<Segment> split_added(std::string_view s, const TokenTrie& trie) const;
  void encode_into(std::string_view text, bool add_special_tokens, std::vector<int32_t>& ids) const;
  const std::string* token_of(int32_t id) const {
    auto it = added_by_id.find(id);
    return it != added_by_id.end() ? &added[it->second].content : model->id_to_token(id);
  }
  std::optional<int32_t> id_of(std::string_view token) const {
    auto it = added_by_content.find(std::string(token));
    return it != added_by_content.end() ? std::optional(added[it->second].id) : model->token_to_id(token);
  }
};

void Tokenizer::Impl::load_added_tokens(const json& list) {
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    std::string w = str(where, ": added_tokens[", i, "]");
    RLEIF_CHECK(e.is_object(), w, ": expected an object {\"id\", \"content\", ...}, got ", e.dump().substr(0, 60));
    AddedToken t;
    t.content = json_string(e, "content", w);
    RLEIF_CHECK(find_invalid_utf8(t.content) == std::string::npos, w, ": 'content' is not valid UTF-8");
    int64_t file_id = json_int(e, "id", -1, w);
    RLEIF_CHECK(file_id >= 0 && file_id < kMaxTokenId, w, ": 'id' must be an integer in [0, ", kMaxTokenId,
                "), got ", e.contains("id") ? e["id"].dump().substr(0, 40) : std::string("nothing"));
    t.special = json_bool(e, "special", false, w);
    t.single_word = json_bool(e, "single_word", false, w);
    t.lstrip = json_bool(e, "lstrip", false, w);
    t.rstrip = json_bool(e, "rstrip", false, w);
    t.normalized = json_bool(e, "normalized", !t.special, w);
    if (t.content.empty()) continue;  // tokenizers ignores empty added tokens
    // tokenizers gives an added token the id its content already has, else the next free one,
    // and only warns when the file says otherwise; do the same so ids match.
    int64_t id;
    if (auto known = id_of(t.content)) {
      id = *known;
    } else {
      int64_t max_added = -1;
      for (const AddedToken& a : added) max_added = std::max<int64_t>(max_added, a.id);
      auto count = static_cast<int64_t>(model->size());
      id = max_added < 0 ? count : (max_added >= count || count == 0 ? max_added + 1 : count);
    }
    if (id != file_id)
      log_warn(w, ": '", t.content, "' has id ", file_id, " in the file but ", id,
               " by the vocabulary; using ", id, " as the tokenizers library does");
    RLEIF_CHECK(id < kMaxTokenId, w, ": id ", id, " is out of range");
    t.id = static_cast<int32_t>(id);
    auto it = added_by_content.find(t.content);
    if (it != added_by_content.end()) {
      added[it->second] = t;  // a repeated token keeps its id; its latest options apply
    } else {
      added_by_content.emplace(t.content, added.size());
      added.push_back(t);
    }
    added_by_id[t.id] = added_by_content[t.content];
    if (t.special) special_contents.insert(t.content);
  }
  for (size_t k = 0; k < added.size(); ++k) {
    std::string pattern = added[k].content;
    if (added[k].normalized && normalizer) normalizer->normalize(pattern);
    (added[k].normalized ? normalized_trie : raw_trie).add(pattern, static_cast<int32_t>(k));
  }
}

std::vector<Segment> Tokenizer::Impl::split_added(std::string_view s, const TokenTrie& trie) const {
  // AddedVocabulary::find_matches: the text between matches, and each match widened by lstrip /
  // rstrip. A match dropped by single_word is still consumed, as in the aho-corasick iterator.
  std::vector<Segment> out;
  size_t start_offset = 0;
  size_t pos = 0;
  while (!trie.empty() && pos < s.size()) {
    auto [len, index] = trie.longest_at(s, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;
    const AddedToken& t = added[static_cast<size_t>(index)];
    if (t.single_word) {
      bool space_before = start == 0 || !is_word_char(last_char(s.substr(0, start)));
      bool space_after = stop == s.size() || !is_word_char(first_char(s.substr(stop)));
      if (!space_before || !space_after) continue;
    }
    if (t.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
    if (t.rstrip) stop += leading_space_len(s.substr(stop));
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({std::min(start, stop), stop, index});
    start_offset = stop;
  }
  if (start_offset < s.size()) out.push_back({start_offset, s.size(), -1});
  return out;
}

void Tokenizer::Impl::encode_into(std::string_view text, bool add_special_tokens, std::vector<int32_t>& ids) const {
  size_t bad = find_invalid_utf8(text);
  RLEIF_CHECK(bad == std::string_view::npos, where, ": cannot encode a text that is not valid UTF-8 (bad byte at offset ",
              bad, "); decode the input as UTF-8 first");
  std::vector<Word> words;
  for (const Segment& raw : split_added(text, raw_trie)) {
    if (raw.added >= 0) {
      ids.push_back(added[static_cast<size_t>(raw.added)].id);
      continue;
    }
    std::string normalized(text.substr(raw.begin, raw.end - raw.begin));
    if (normalizer) normalizer->normalize(normalized);
    for (const Segment& seg : split_added(normalized, normalized_trie)) {
      if (seg.added >= 0) {
        ids.push_back(added[static_cast<size_t>(seg.added)].id);
        continue;
      }
      words.clear();
      words.push_back({normalized.substr(seg.begin, seg.end - seg.begin), raw.begin == 0 && seg.begin == 0});
      if (pre_tokenizer) pre_tokenizer->pre_tokenize(words);
      for (const Word& w : words) model->tokenize(w.text, ids);
    }
  }
  if (add_special_tokens && post_processor) post_processor->process(ids);
}

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json_path) {
  std::string text = read_file(tokenizer_json_path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    RLEIF_FAIL(tokenizer_json_path, ": not valid JSON (", e.what(), "); expected a Hugging Face tokenizer.json");
  }
  return from_json(j, tokenizer_json_path);
}

Tokenizer Tokenizer::from_json(const json& j, const std::string& where) {
  RLEIF_CHECK(j.is_object(), where, ": expected a JSON object (a Hugging Face tokenizer.json), got ",
              j.dump().substr(0, 60));
  RLEIF_CHECK(j.contains("model") && j["model"].is_object(), where,
              ": missing \"model\"; a tokenizer.json needs a \"model\" object with \"type\": \"BPE\", \"vocab\" and \"merges\"");
  const json& m = j["model"];
  std::string type = m.contains("type") ? json_string(m, "type", where + ": model") : (m.contains("merges") ? "BPE" : "");
  RLEIF_CHECK(type == "BPE", where, ": model type '", type.empty() ? std::string("(none)") : type,
              "' is not supported; rleif supports only BPE tokenizers (GPT-2, Llama, Mistral, Qwen2 style), "
              "not WordPiece, Unigram or WordLevel");

  Tokenizer t;
  Impl& im = *t.impl_;
  im.where = where;
  im.model = std::make_unique<BpeModel>(m, where);
  auto present = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };
  if (present("normalizer")) im.normalizer = make_normalizer(j["normalizer"], where + ": normalizer");
  if (present("pre_tokenizer")) im.pre_tokenizer = make_pre_tokenizer(j["pre_tokenizer"], where + ": pre_tokenizer");
  if (present("post_processor"))
    im.post_processor = make_post_processor(j["post_processor"], where + ": post_processor");
  if (present("decoder")) im.decoder = make_decoder(j["decoder"], where + ": decoder");
  if (present("added_tokens")) im.load_added_tokens(json_array(j, "added_tokens", where));

  im.id_end = im.model->id_end();
  for (const AddedToken& a : im.added) im.id_end = std::max<int64_t>(im.id_end, a.id + 1);
  if (im.post_processor) {
    im.bos = im.post_processor->bos();
    im.eos = im.post_processor->eos();
  }
  for (const char* name : kBosNames)
    if (!im.bos) im.bos = im.id_of(name);
  for (const char* name : kEosNames)
    if (!im.eos) im.eos = im.id_of(name);
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  impl_->encode_into(text, add_special_tokens, ids);
  return ids;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special_tokens, int threads) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  size_t n = threads > 0 ? static_cast<size_t>(threads) : std::max(1u, std::thread::hardware_concurrency());
  n = std::min(n, texts.size());
  if (n <= 1) {
    for (size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], add_special_tokens);
    return out;
  }
  // Threads take chunks of texts from a shared counter; the first error stops them all and is
  // rethrown here.
  constexpr size_t kChunk = 16;
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    try {
      for (size_t b = next.fetch_add(kChunk); b < texts.size(); b = next.fetch_add(kChunk))
        for (size_t i = b; i < std::min(b + kChunk, texts.size()); ++i) out[i] = encode(texts[i], add_special_tokens);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = texts.size();
    }
  };
  std::vector<std::thread> pool;
  for (size_t k = 0; k < n; ++k) pool.emplace_back(work);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  // Ids no token has are skipped; special tokens are skipped by content, as tokenizers does.
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* t = impl_->token_of(id);
    if (!t || (skip_special_tokens && impl_->special_contents.count(*t))) continue;
    tokens.push_back(*t);
  }
  if (!impl_->decoder) return join(tokens, " ");
  impl_->decoder->decode_chain(tokens);
  return join(tokens, "");
}

int64_t Tokenizer::vocab_size() const { return impl_->id_end; }
std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->id_of(token); }
std::string Tokenizer::id_to_token(int32_t id) const {
  const std::string* t = impl_->token_of(id);
  return t ? *t : std::string();
}
bool Tokenizer::is_special(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }

}  // namespace rleif
