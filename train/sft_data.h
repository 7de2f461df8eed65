// Supervised fine-tuning data: JSONL records ({"prompt", "response"} or {"messages": [...]}),
// rendered through a prompt template, tokenised, with a loss mask on response tokens only, and cut
// into micro-batches by length bucketing or packing.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/jsonl.h"
#include "core/options.h"
#include "model/tokenizer.h"

namespace rleif::train {

enum class PromptTemplate {
  alpaca,      // WizardMath's Alpaca prompt (its GSM8K/MATH inference template); the math default
  alpaca_cot,  // the same with " Let's think step by step." after "### Response:"
  chatml,      // <|im_start|>role\ncontent<|im_end|>\n turns
  plain,       // the prompt text itself, the response right after it
};
enum class Batching {
  bucket,  // batches of similar length (sorted within windows of bucket_window batches), shuffled
  pack,    // examples concatenated into rows of max_length tokens (they attend across boundaries)
  random,  // batches in shuffled order, no length grouping
};
enum class Overlong {
  truncate,  // cut the response to fit (counted); a prompt that leaves no room is skipped (counted)
  skip,      // skip the record (counted)
  error,     // stop with an error naming file and line
};
enum class OnError { error, skip };

struct SftDataOptions {
  std::string train;                               // training JSONL
  std::string eval;                                // held-out JSONL ("" = none)
  PromptTemplate prompt_template = PromptTemplate::alpaca;
  int64_t max_length = 512;                        // tokens per example: prompt + response + EOS
  Overlong overlong = Overlong::truncate;
  Batching batching = Batching::bucket;
  int64_t bucket_window = 32;                      // batches per sorting window in bucket mode
  OnError on_error = OnError::error;               // malformed records: stop, or skip and count
  int64_t limit = 0;                               // use the first N training records (0 = all)

  template <class V>
  void visit(V& v) {
    v.field("train", train, "training JSONL: {prompt, response} or {messages: [{role, content}...]} a line");
    v.field("eval", eval, "held-out JSONL for periodic evaluation (\"\" = none)");
    v.field("template", prompt_template, "prompt template (alpaca = WizardMath's)");
    v.field("max_length", max_length, "tokens per example (prompt + response + EOS)");
    v.field("overlong", overlong, "what to do with an example longer than max_length");
    v.field("batching", batching, "how examples are grouped into micro-batches");
    v.field("bucket_window", bucket_window, "bucket mode: examples are sorted by length within windows of this many batches");
    v.field("on_error", on_error, "a malformed record: error (naming file and line) or skip and count");
    v.field("limit", limit, "use only the first N training records (0 = all)");
  }
  void validate() const;
};

// Template pieces around the two halves of an example.
struct PromptParts {
  std::string prompt;    // everything before the response (no loss)
  std::string response;  // the trained part (EOS is added after it by the tokenizer step)
};

// The text a model is prompted with for `instruction` (evaluation and generation use this).
std::string render_prompt(PromptTemplate t, const std::string& instruction);

// The prompt template a model was fine-tuned with, kept in its directory as rleif_prompt.json
// ({"template": "plain"}) by `rleif sft`, so `rleif eval` prompts it the same way by default.
void write_model_template(const std::string& model_dir, PromptTemplate t);
// The recorded template, or nullopt when the directory has none (a model not trained by rleif).
std::optional<PromptTemplate> read_model_template(const std::string& model_dir);

// One tokenised example. ids[t] is a loss target (predicted from ids[t-1]) when target[t] is 1.
struct SftExample {
  std::vector<int32_t> ids;     // [T]
  std::vector<uint8_t> target;  // [T]
  int64_t n_targets = 0;
};

struct SftStats {
  int64_t records = 0;          // lines read
  int64_t used = 0;             // examples kept
  int64_t bad = 0;              // malformed records skipped (on_error=skip)
  int64_t truncated = 0;        // responses cut to max_length
  int64_t overlong_skipped = 0; // examples dropped for length
  int64_t prompt_tokens = 0;
  int64_t target_tokens = 0;
  std::string summary() const;
};

struct SftDataset {
  std::vector<SftExample> examples;
  SftStats stats;
};

// Turns one record into rendered segments: (text, trained?) in order. Throws naming `loc` for
// missing or mistyped fields, empty responses, and message lists the template cannot express.
std::vector<std::pair<std::string, bool>> render_record(const json& rec, PromptTemplate t, const SourceLoc& loc);

// Reads, renders and tokenises a JSONL file. eos_id ends every trained segment of alpaca / plain.
SftDataset load_sft_data(const std::string& path, const Tokenizer& tok, int32_t eos_id, const SftDataOptions& opts,
                         int64_t limit = 0);

// One micro-batch as tensors.
struct SftBatch {
  // Positions are 0..T-1 in every row (packed rows too), so the model takes its causal fast path.
  torch::Tensor ids;        // [B,T] int64, right-padded with pad_id
  torch::Tensor targets;    // [B,T] int64: the next token where it is a loss target, else -100
  std::vector<int64_t> lengths;  // [B] real tokens of each row
  int64_t n_targets = 0;
  int64_t n_tokens = 0;     // real (non-pad) tokens
};

// Groups a dataset into micro-batches; the order of epoch e depends on (seed, e) only.
class SftBatcher {
 public:
  SftBatcher(const SftDataset& data, int64_t batch_size, Batching mode, int64_t max_length, int64_t bucket_window,
             int32_t pad_id, uint64_t seed);
  int64_t size() const { return static_cast<int64_t>(batches_.size()); }
  void start_epoch(int64_t epoch);
  int64_t n_targets(int64_t i) const;
  int64_t n_tokens(int64_t i) const;
  SftBatch batch(int64_t i) const;

 private:
  struct Row {
    std::vector<int32_t> ids;
    std::vector<uint8_t> target;
    int64_t n_targets = 0;
  };
  const SftDataset& data_;
  int64_t batch_size_, max_length_, bucket_window_;
  Batching mode_;
  int32_t pad_id_;
  uint64_t seed_;
  std::vector<Row> rows_;                        // pack: fixed rows; otherwise one per example
  std::vector<std::vector<int64_t>> batches_;    // current epoch: row indices per micro-batch
};

}  // namespace rleif::train

RLEIF_ENUM_NAMES(rleif::train::PromptTemplate, {rleif::train::PromptTemplate::alpaca, "alpaca"},
                 {rleif::train::PromptTemplate::alpaca_cot, "alpaca_cot"},
                 {rleif::train::PromptTemplate::chatml, "chatml"}, {rleif::train::PromptTemplate::plain, "plain"});
RLEIF_ENUM_NAMES(rleif::train::Batching, {rleif::train::Batching::bucket, "bucket"},
                 {rleif::train::Batching::pack, "pack"}, {rleif::train::Batching::random, "random"});
RLEIF_ENUM_NAMES(rleif::train::Overlong, {rleif::train::Overlong::truncate, "truncate"},
                 {rleif::train::Overlong::skip, "skip"}, {rleif::train::Overlong::error, "error"});
RLEIF_ENUM_NAMES(rleif::train::OnError, {rleif::train::OnError::error, "error"}, {rleif::train::OnError::skip, "skip"});
