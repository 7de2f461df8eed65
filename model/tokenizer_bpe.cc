// The BPE model of tokenizer.json, following tokenizers' models::bpe (model.rs, word.rs).
#include <algorithm>
#include <cstdio>
#include <mutex>
#include <shared_mutex>

#include "core/error.h"
#include "core/strings.h"
#include "model/tokenizer_parts.h"

namespace rleif::tok {
namespace {
// Word cache: 64 shards of 1024 words, each behind its own reader/writer lock so encode_batch's
// threads rarely contend. Words of 256 bytes or more are not cached (tokenizers' MAX_LENGTH); a
// full shard takes no more entries (as tokenizers' Cache).
constexpr size_t kCacheShards = 64;
constexpr size_t kCacheShardCapacity = 1024;
constexpr size_t kCacheMaxWordBytes = 256;

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
// Fibonacci hashing: the top bits of key * 2^64/phi index the table.
size_t slot_of(uint64_t key, int shift) { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift); }
}  // namespace

struct BpeModel::CacheShard {
  std::shared_mutex mu;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

BpeModel::BpeModel(const json& model, const std::string& where) : cache_(new CacheShard[kCacheShards]) {
  const std::string w = where + ": model";
  if (model.contains("dropout") && !model["dropout"].is_null()) {
    RLEIF_CHECK(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0, w, ": dropout is ",
                model["dropout"].dump(), "; rleif tokenizes deterministically, set \"dropout\": null");
  }
  fuse_unk_ = json_bool(model, "fuse_unk", false, w);
  byte_fallback_ = json_bool(model, "byte_fallback", false, w);
  ignore_merges_ = json_bool(model, "ignore_merges", false, w);
  prefix_ = json_opt_string(model, "continuing_subword_prefix", w).value_or("");
  suffix_ = json_opt_string(model, "end_of_word_suffix", w).value_or("");

  // Vocab: validate every id, then lay the tokens out densely by id.
  RLEIF_CHECK(model.contains("vocab") && model["vocab"].is_object(), w,
              ": 'vocab' must be an object mapping token -> id");
  const json& vocab = model["vocab"];
  int64_t id_end = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const json& v = it.value();
    RLEIF_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < kMaxTokenId, w, ".vocab: token '",
                it.key(), "' has id ", v.dump().substr(0, 40), "; ids must be integers in [0, ", kMaxTokenId, ")");
    RLEIF_CHECK(find_invalid_utf8(it.key()) == std::string::npos, w, ".vocab: a token is not valid UTF-8");
    id_end = std::max(id_end, v.get<int64_t>() + 1);
  }
  tokens_.assign(static_cast<size_t>(id_end), std::string());
  std::vector<bool> taken(static_cast<size_t>(id_end), false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    auto id = static_cast<size_t>(it.value().get<int64_t>());
    RLEIF_CHECK(!taken[id], w, ".vocab: id ", id, " is given to both '", tokens_[id], "' and '", it.key(),
                "'; every token needs its own id");
    taken[id] = true;
    tokens_[id] = it.key();
  }
  vocab_.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (taken[id]) vocab_.emplace(tokens_[id], static_cast<int32_t>(id));

  // Merges: ["a b", ...] (older files) or [["a", "b"], ...]; the rank is the position.
  const json& merges = json_array(model, "merges", w);
  size_t slots = 16;
  while (slots < 2 * merges.size()) slots *= 2;
  merge_slots_.assign(slots, MergeSlot{});
  for (size_t k = slots; k > 1; k /= 2) --merge_shift_;
  int32_t rank = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    std::string mw = str(w, ".merges[", i, "]");
    std::string left, right;
    if (m.is_string()) {
      const std::string& line = m.get_ref<const std::string&>();
      if (starts_with(line, "#version")) continue;
      std::vector<std::string> parts = split(line, ' ');
      RLEIF_CHECK(parts.size() == 2, mw, ": merge \"", line, "\" must be two tokens separated by one space");
      left = parts[0], right = parts[1];
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>(), right = m[1].get<std::string>();
    } else {
      RLEIF_FAIL(mw, ": a merge must be \"a b\" or [\"a\", \"b\"], got ", m.dump().substr(0, 60));
    }
    auto l = token_to_id(left), r = token_to_id(right);
    RLEIF_CHECK(l, mw, ": token '", left, "' is not in model.vocab; every merged token must be in the vocab");
    RLEIF_CHECK(r, mw, ": token '", right, "' is not in model.vocab; every merged token must be in the vocab");
    RLEIF_CHECK(starts_with(right, prefix_), mw, ": '", right, "' lacks the continuing_subword_prefix '", prefix_, "'");
    std::string merged = left + right.substr(prefix_.size());
    auto n = token_to_id(merged);
    RLEIF_CHECK(n, mw, ": the merged token '", merged, "' is not in model.vocab");
    insert_merge(*l, *r, Merge{rank++, *n});  // a repeated pair keeps its last rank, as tokenizers
  }

  if (auto unk = json_opt_string(model, "unk_token", w)) {
    unk_id_ = token_to_id(*unk);
    RLEIF_CHECK(unk_id_, w, ": unk_token '", *unk, "' is not in model.vocab; add it or set \"unk_token\": null");
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = token_to_id(name).value_or(-1);
  }
}

BpeModel::~BpeModel() = default;

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= id_end()) return nullptr;
  const std::string& t = tokens_[static_cast<size_t>(id)];
  auto it = vocab_.find(t);
  return it != vocab_.end() && it->second == id ? &t : nullptr;
}

void BpeModel::insert_merge(int32_t left, int32_t right, Merge m) {
  uint64_t key = pair_key(left, right);
  size_t mask = merge_slots_.size() - 1;
  size_t i = slot_of(key, merge_shift_);
  while (merge_slots_[i].key != key && merge_slots_[i].key != ~uint64_t{0}) i = (i + 1) & mask;
  merge_slots_[i] = {key, m};
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  uint64_t key = pair_key(left, right);
  size_t mask = merge_slots_.size() - 1;
  for (size_t i = slot_of(key, merge_shift_);; i = (i + 1) & mask) {
    const MergeSlot& s = merge_slots_[i];
    if (s.key == key) return &s.merge;
    if (s.key == ~uint64_t{0}) return nullptr;
  }
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    // Llama 3: a pre-token that is itself in the vocab is one token, whatever the merges say.
    if (auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  if (word.size() >= kCacheMaxWordBytes) return merge_word(word, out);
  CacheShard& shard = cache_[std::hash<std::string_view>()(word) % kCacheShards];
  std::string key(word);
  bool full;
  {
    std::shared_lock<std::shared_mutex> lock(shard.mu);
    auto it = shard.words.find(key);
    if (it != shard.words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
    full = shard.words.size() >= kCacheShardCapacity;
  }
  size_t start = out.size();
  merge_word(word, out);
  if (full) return;  // no exclusive lock once a shard is full: misses then run in parallel
  std::unique_lock<std::shared_mutex> lock(shard.mu);
  if (shard.words.size() < kCacheShardCapacity)
    shard.words.emplace(std::move(key), std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  // Symbols form a linked list over the word; merged-away symbols get id -1 (word.rs's len == 0).
  struct Symbol {
    int32_t id;
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    // The std heap functions keep the largest on top: invert so the lowest rank, then the leftmost
    // position, comes first (word.rs's Ord for Merge).
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> queue;
  symbols.clear();
  auto add = [&](int32_t id) {
    auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, n - 1, -1});
    if (n > 0) symbols[static_cast<size_t>(n - 1)].next = n;
  };

  // Characters -> ids (model.rs merge_word): unknown characters fall back to <0xNN> byte tokens,
  // else to unk_token (consecutive ones fused when fuse_unk), else are dropped.
  int32_t pending_unk = -1;  // an unk not yet added (it may fuse with the next)
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    size_t n = std::min(utf8_len(static_cast<unsigned char>(word[i])), word.size() - i);
    bool first = i == 0, last = i + n == word.size();
    std::string_view s = word.substr(i, n);
    if ((!first && !prefix_.empty()) || (last && !suffix_.empty())) {
      piece.assign(first ? "" : prefix_).append(s).append(last ? suffix_ : "");
      s = piece;
    }
    i += n;
    if (auto id = token_to_id(s)) {
      if (pending_unk >= 0) add(pending_unk);
      pending_unk = -1;
      add(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : s) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : s) add(byte_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk >= 0 && !fuse_unk_) add(pending_unk);
      pending_unk = *unk_id_;
    }
  }
  if (pending_unk >= 0) add(pending_unk);

  // Merge the lowest-ranked adjacent pair until none is left (word.rs merge_all).
  queue.clear();
  auto push = [&](Candidate c) {
    queue.push_back(c);
    std::push_heap(queue.begin(), queue.end());
  };
  for (size_t k = 0; k + 1 < symbols.size(); ++k)
    if (const Merge* m = find_merge(symbols[k].id, symbols[k + 1].id))
      queue.push_back({m->rank, static_cast<int32_t>(k), m->new_id});
  std::make_heap(queue.begin(), queue.end());
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end());
    Candidate top = queue.back();
    queue.pop_back();
    Symbol& cur = symbols[static_cast<size_t>(top.pos)];
    if (cur.id < 0 || cur.next < 0) continue;
    Symbol right = symbols[static_cast<size_t>(cur.next)];
    const Merge* m = find_merge(cur.id, right.id);
    if (!m || m->new_id != top.new_id) continue;  // stale: a neighbour changed since it was queued
    symbols[static_cast<size_t>(cur.next)].id = -1;
    cur.id = top.new_id;
    cur.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;
    if (cur.prev >= 0)
      if (const Merge* pm = find_merge(symbols[static_cast<size_t>(cur.prev)].id, cur.id))
        push({pm->rank, cur.prev, pm->new_id});
    if (cur.next >= 0)
      if (const Merge* nm = find_merge(cur.id, symbols[static_cast<size_t>(cur.next)].id))
        push({nm->rank, top.pos, nm->new_id});
  }
  for (const Symbol& s : symbols)
    if (s.id >= 0) out.push_back(s.id);
}

}  // namespace rleif::tok
