#include "train/sft_data.h"

#include <algorithm>
#include <numeric>

#include "core/fs.h"
#include "core/strings.h"
#include "train/trainer.h"

namespace rleif::train {

void SftDataOptions::validate() const {
  RLEIF_CHECK(max_length >= 8, "data.max_length = ", max_length, ": must be at least 8 tokens");
  RLEIF_CHECK(bucket_window >= 1, "data.bucket_window = ", bucket_window, ": must be >= 1");
  RLEIF_CHECK(limit >= 0, "data.limit = ", limit, ": must be >= 0 (0 = all records)");
}

// WizardMath/inference/gsm8k_inference.py (problem_prompt), itself Alpaca's prompt_no_input.
static const char* kAlpacaHeader =
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n";

std::string render_prompt(PromptTemplate t, const std::string& instruction) {
  switch (t) {
    case PromptTemplate::alpaca:
      return kAlpacaHeader + instruction + "\n\n### Response:";
    case PromptTemplate::alpaca_cot:
      return kAlpacaHeader + instruction + "\n\n### Response: Let's think step by step.";
    case PromptTemplate::chatml:
      return "<|im_start|>user\n" + instruction + "<|im_end|>\n<|im_start|>assistant\n";
    case PromptTemplate::plain:
      return instruction;
  }
  return instruction;
}

void write_model_template(const std::string& model_dir, PromptTemplate t) {
  write_file_atomic(model_dir + "/rleif_prompt.json", json{{"template", enum_name(t)}}.dump(2) + "\n");
}

std::optional<PromptTemplate> read_model_template(const std::string& model_dir) {
  const std::string path = model_dir + "/rleif_prompt.json";
  if (!path_exists(path)) return std::nullopt;
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    RLEIF_FAIL(path, ": not valid JSON (", e.what(), "); delete it or write {\"template\": \"alpaca\"}");
  }
  RLEIF_CHECK(j.is_object() && j.contains("template") && j["template"].is_string(), path,
              ": needs {\"template\": NAME} with NAME one of alpaca, alpaca_cot, chatml, plain");
  return parse_enum<PromptTemplate>(j["template"].get<std::string>(), path);
}

std::string SftStats::summary() const {
  return str(records, " records: ", used, " used, ", bad, " malformed skipped, ", truncated, " truncated, ",
             overlong_skipped, " too long skipped; ", prompt_tokens, " prompt and ", target_tokens, " target tokens");
}

namespace {

std::string string_field(const json& rec, const char* key, const SourceLoc& loc) {
  return get_field<std::string>(rec, key, loc, "a string");
}

std::vector<std::pair<std::string, bool>> render_messages(const json& rec, PromptTemplate t, const SourceLoc& loc) {
  const json& msgs = rec.at("messages");
  RLEIF_CHECK(msgs.is_array() && !msgs.empty(), loc.str(),
              ": 'messages' must be a non-empty list of {\"role\", \"content\"} objects");
  std::vector<std::pair<std::string, std::string>> turns;
  for (size_t i = 0; i < msgs.size(); ++i) {
    SourceLoc at{loc.path, loc.line};
    RLEIF_CHECK(msgs[i].is_object(), loc.str(), ": messages[", i, "] must be an object with 'role' and 'content'");
    std::string role = get_field<std::string>(msgs[i], "role", at, "a string (system, user or assistant)");
    std::string content = get_field<std::string>(msgs[i], "content", at, "a string");
    RLEIF_CHECK(role == "system" || role == "user" || role == "assistant", loc.str(), ": messages[", i, "].role is '",
                role, "'; expected system, user or assistant");
    turns.emplace_back(role, content);
  }
  bool any_assistant = false;
  for (auto& [role, content] : turns)
    if (role == "assistant") {
      RLEIF_CHECK(!trim(content).empty(), loc.str(), ": an assistant message is empty; every trained turn needs text");
      any_assistant = true;
    }
  RLEIF_CHECK(any_assistant, loc.str(), ": 'messages' has no assistant turn, so there is nothing to train on");
  std::vector<std::pair<std::string, bool>> out;
  if (t == PromptTemplate::chatml) {
    for (auto& [role, content] : turns) {
      out.emplace_back("<|im_start|>" + role + "\n", false);
      if (role == "assistant") {
        out.emplace_back(content + "<|im_end|>", true);
        out.emplace_back("\n", false);
      } else {
        out.back().first += content + "<|im_end|>\n";
      }
    }
    return out;
  }
  // alpaca / plain express one instruction and one response (a system turn folds into nothing).
  size_t first = turns[0].first == "system" ? 1 : 0;
  RLEIF_CHECK(turns.size() == first + 2 && turns[first].first == "user" && turns[first + 1].first == "assistant",
              loc.str(), ": template '", enum_name(t), "' takes one user turn then one assistant turn; this record has ",
              turns.size(), " messages (use data.template=chatml for multi-turn conversations)");
  out.emplace_back(render_prompt(t, turns[first].second), false);
  out.emplace_back(turns[first + 1].second, true);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, bool>> render_record(const json& rec, PromptTemplate t, const SourceLoc& loc) {
  RLEIF_CHECK(rec.is_object(), loc.str(), ": expected a JSON object");
  if (rec.contains("messages")) return render_messages(rec, t, loc);
  RLEIF_CHECK(rec.contains("prompt") || rec.contains("response"), loc.str(),
              ": missing required fields 'prompt' and 'response'; an SFT record is {\"prompt\": str, \"response\": str} ",
              "or {\"messages\": [{\"role\", \"content\"}...]}");
  std::string prompt = string_field(rec, "prompt", loc);
  std::string response = string_field(rec, "response", loc);
  RLEIF_CHECK(!trim(response).empty(), loc.str(), ": 'response' is empty; every SFT example needs a response to train on");
  if (t == PromptTemplate::chatml) {
    return {{"<|im_start|>user\n" + prompt + "<|im_end|>\n<|im_start|>assistant\n", false},
            {response + "<|im_end|>", true},
            {"\n", false}};
  }
  return {{render_prompt(t, prompt), false}, {response, true}};
}

SftDataset load_sft_data(const std::string& path, const Tokenizer& tok, int32_t eos_id, const SftDataOptions& opts,
                         int64_t limit) {
  SftDataset ds;
  JsonlReader reader(path, opts.on_error == OnError::skip);
  json rec;
  SourceLoc loc;
  const bool add_eos = opts.prompt_template != PromptTemplate::chatml;
  while ((limit <= 0 || ds.stats.records < limit) && reader.next(rec, loc)) {
    ++ds.stats.records;
    std::vector<std::pair<std::string, bool>> segs;
    try {
      segs = render_record(rec, opts.prompt_template, loc);
    } catch (const Error&) {
      if (opts.on_error == OnError::error) throw;
      ++ds.stats.bad;
      continue;
    }
    SftExample ex;
    for (size_t i = 0; i < segs.size(); ++i) {
      std::vector<int32_t> ids = tok.encode(segs[i].first, /*add_special_tokens=*/i == 0);
      ex.ids.insert(ex.ids.end(), ids.begin(), ids.end());
      ex.target.insert(ex.target.end(), ids.size(), segs[i].second ? 1 : 0);
      if (segs[i].second && add_eos) {
        ex.ids.push_back(eos_id);
        ex.target.push_back(1);
      }
    }
    // The first token has no context to be predicted from.
    if (!ex.target.empty()) ex.target[0] = 0;
    const int64_t len = static_cast<int64_t>(ex.ids.size());
    if (len > opts.max_length) {
      const int64_t prompt_len = std::find(ex.target.begin(), ex.target.end(), 1) - ex.target.begin();
      if (opts.overlong == Overlong::error)
        RLEIF_FAIL(loc.str(), ": the example is ", len, " tokens (prompt ", prompt_len, "), longer than data.max_length = ",
                   opts.max_length, "; raise data.max_length or set data.overlong=truncate or skip");
      if (opts.overlong == Overlong::skip || prompt_len >= opts.max_length - 1) {
        ++ds.stats.overlong_skipped;
        continue;
      }
      ex.ids.resize(static_cast<size_t>(opts.max_length));
      ex.target.resize(static_cast<size_t>(opts.max_length));
      ++ds.stats.truncated;
    }
    ex.n_targets = std::accumulate(ex.target.begin(), ex.target.end(), int64_t{0});
    if (ex.n_targets == 0) {  // a response that tokenised to nothing
      RLEIF_CHECK(opts.on_error == OnError::skip, loc.str(), ": the response tokenises to no tokens");
      ++ds.stats.bad;
      continue;
    }
    ds.stats.prompt_tokens += static_cast<int64_t>(ex.ids.size()) - ex.n_targets;
    ds.stats.target_tokens += ex.n_targets;
    ds.examples.push_back(std::move(ex));
  }
  ds.stats.bad += static_cast<int64_t>(reader.bad_lines());
  ds.stats.used = static_cast<int64_t>(ds.examples.size());
  return ds;
}

SftBatcher::SftBatcher(const SftDataset& data, int64_t batch_size, Batching mode, int64_t max_length,
                       int64_t bucket_window, int32_t pad_id, uint64_t seed)
    : data_(data),
      batch_size_(batch_size),
      max_length_(max_length),
      bucket_window_(bucket_window),
      mode_(mode),
      pad_id_(pad_id),
      seed_(seed) {
  RLEIF_CHECK(batch_size_ >= 1, "batch size must be >= 1");
  const int64_t n = static_cast<int64_t>(data_.examples.size());
  if (mode_ == Batching::pack) {
    // Rows are packed once, in a seeded order, whole examples only (none is split across rows);
    // each epoch then shuffles the rows.
    Row cur;
    for (int64_t i : epoch_permutation(n, seed_, -1)) {
      const SftExample& ex = data_.examples[static_cast<size_t>(i)];
      if (!cur.ids.empty() && static_cast<int64_t>(cur.ids.size() + ex.ids.size()) > max_length_) {
        rows_.push_back(std::move(cur));
        cur = Row();
      }
      cur.ids.insert(cur.ids.end(), ex.ids.begin(), ex.ids.end());
      cur.target.insert(cur.target.end(), ex.target.begin(), ex.target.end());
      cur.n_targets += ex.n_targets;
    }
    if (!cur.ids.empty()) rows_.push_back(std::move(cur));
  } else {
    for (auto& ex : data_.examples) rows_.push_back(Row{ex.ids, ex.target, ex.n_targets});
  }
  start_epoch(0);
}

void SftBatcher::start_epoch(int64_t epoch) {
  batches_.clear();
  const int64_t n = static_cast<int64_t>(rows_.size());
  std::vector<int64_t> order = epoch_permutation(n, seed_, epoch);
  if (mode_ != Batching::bucket) {
    for (int64_t i = 0; i < n; i += batch_size_)
      batches_.emplace_back(order.begin() + i, order.begin() + std::min(n, i + batch_size_));
    return;
  }
  // Sort by length within windows, cut into batches, then shuffle the batches so lengths do not
  // drift through the epoch (the window keeps the batch order random at a coarse grain).
  const int64_t window = bucket_window_ * batch_size_;
  std::vector<std::vector<int64_t>> batches;
  for (int64_t w = 0; w < n; w += window) {
    std::vector<int64_t> chunk(order.begin() + w, order.begin() + std::min(n, w + window));
    std::stable_sort(chunk.begin(), chunk.end(),
                     [&](int64_t a, int64_t b) { return rows_[static_cast<size_t>(a)].ids.size() < rows_[static_cast<size_t>(b)].ids.size(); });
    for (size_t i = 0; i < chunk.size(); i += static_cast<size_t>(batch_size_))
      batches.emplace_back(chunk.begin() + static_cast<int64_t>(i),
                           chunk.begin() + static_cast<int64_t>(std::min(chunk.size(), i + static_cast<size_t>(batch_size_))));
  }
  // A distinct stream from the example order: salt the epoch.
  for (int64_t i : epoch_permutation(static_cast<int64_t>(batches.size()), seed_ ^ 0x5bd1e995ULL, epoch))
    batches_.push_back(std::move(batches[static_cast<size_t>(i)]));
}

int64_t SftBatcher::n_targets(int64_t i) const {
  int64_t s = 0;
  for (int64_t r : batches_.at(static_cast<size_t>(i))) s += rows_[static_cast<size_t>(r)].n_targets;
  return s;
}

int64_t SftBatcher::n_tokens(int64_t i) const {
  int64_t s = 0;
  for (int64_t r : batches_.at(static_cast<size_t>(i))) s += static_cast<int64_t>(rows_[static_cast<size_t>(r)].ids.size());
  return s;
}

SftBatch SftBatcher::batch(int64_t i) const {
  const auto& rows = batches_.at(static_cast<size_t>(i));
  const int64_t B = static_cast<int64_t>(rows.size());
  int64_t T = 0;
  for (int64_t r : rows) T = std::max<int64_t>(T, static_cast<int64_t>(rows_[static_cast<size_t>(r)].ids.size()));
  SftBatch b;
  b.ids = torch::full({B, T}, pad_id_, torch::kInt64);        // [B,T]
  b.targets = torch::full({B, T}, -100, torch::kInt64);       // [B,T]
  auto ids = b.ids.accessor<int64_t, 2>();
  auto tg = b.targets.accessor<int64_t, 2>();
  for (int64_t bi = 0; bi < B; ++bi) {
    const Row& row = rows_[static_cast<size_t>(rows[static_cast<size_t>(bi)])];
    const int64_t L = static_cast<int64_t>(row.ids.size());
    for (int64_t t = 0; t < L; ++t) ids[bi][t] = row.ids[static_cast<size_t>(t)];
    // Position t predicts token t+1.
    for (int64_t t = 0; t + 1 < L; ++t)
      if (row.target[static_cast<size_t>(t + 1)]) tg[bi][t] = row.ids[static_cast<size_t>(t + 1)];
    b.lengths.push_back(L);
    b.n_targets += row.n_targets;
    b.n_tokens += L;
  }
  return b;
}

}  // namespace rleif::train
