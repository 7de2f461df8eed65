// rollout::Engine: batched generation with continuous batching. Requests wait in a queue; each step
// admits waiting requests into free cache rows (one prefill per prompt, copied to its n samples),
// then decodes one token for every running sample. A finished sample frees its row at once, so the
// next waiting request takes it and the batch stays full under mixed lengths (Orca, Yu et al. 2022).
//
// Log-probs are those of the unmodified model distribution (no temperature or filters), i.e. what
// model::CausalLM::token_logprobs recomputes for the same sequence in one teacher-forced pass.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "rollout/decoder.h"
#include "rollout/sampling.h"
#include "rollout/text_stream.h"

namespace rleif::rollout {

enum class FinishReason { stop, length, cancelled };
enum class Schedule { continuous, fixed };

struct EngineOptions {
  int64_t max_batch = 32;             // cache rows: samples decoded together
  int64_t max_len = 0;                // positions per row (prompt + generated); 0 = min(model max, 2048)
  int64_t max_prefill_tokens = 4096;  // prompt tokens per prefill forward at most (bounds activations)
  AttentionKernel attention = AttentionKernel::automatic;
  Schedule schedule = Schedule::continuous;
  bool compact = true;                // move rows down when the batch thins, so decode covers fewer rows
  bool cuda_graphs = true;            // replay the CUDA decode step as a captured graph

  template <class V>
  void visit(V& v) {
    v.field("max_batch", max_batch, "samples decoded together (KV cache rows)");
    v.field("max_len", max_len, "prompt + generated tokens per row; 0 = min(model max, 2048)");
    v.field("max_prefill_tokens", max_prefill_tokens, "prompt tokens per prefill forward at most");
    v.field("attention", attention, "attention: auto (fused on CPU fp32, sdpa on CUDA) | fused | matmul | sdpa");
    v.field("schedule", schedule, "continuous: refill rows as they finish; fixed: admit a new batch only when all are done");
    v.field("compact", compact, "move running rows down when the batch thins (less work per step)");
    v.field("cuda_graphs", cuda_graphs, "replay the CUDA decode step as a captured CUDA graph");
  }
  void validate() const;
};

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};

// One generated sample. Tokens include the EOS or stop-string token that ended it (the trainer
// scores that action too); the text excludes special tokens and the stop string.
struct Sample {
  std::vector<int32_t> tokens;                      // [A]
  std::vector<float> logprobs;                      // [A] log p(token | prefix) under the model
  std::vector<std::vector<TokenLogprob>> top;       // [A][top_logprobs] when asked for
  std::string text;
  FinishReason finish = FinishReason::length;
};

struct Request {
  std::vector<int32_t> prompt;  // token ids, BOS included when the tokenizer adds one
  SamplingParams params;
};

struct Completion {
  std::vector<Sample> samples;  // n samples, in sample order
  int64_t prompt_tokens = 0;
  int64_t seed = 0;             // the seed used (drawn from the OS when the request gave -1)
};

// A streamed token of one sample (servers); `text` is the newly stable text, possibly empty.
struct TokenEvent {
  int64_t sample = 0;
  int32_t token = 0;
  float logprob = 0;
  const std::vector<TokenLogprob>* top = nullptr;
  std::string text;
  bool finished = false;
  FinishReason finish = FinishReason::length;
};

struct EngineStats {
  int64_t steps = 0;             // decode steps
  int64_t decoded_rows = 0;      // rows computed by decode steps (running + idle inside the range)
  int64_t running_rows = 0;      // rows that were running a sample in those steps
  int64_t prefill_tokens = 0;    // prompt tokens prefilled (once per admitted group)
  int64_t generated_tokens = 0;
  double occupancy(int64_t max_batch) const {  // running rows per step / max_batch
    return steps ? static_cast<double>(running_rows) / static_cast<double>(steps * max_batch) : 0.0;
  }
};

class GraphDecoder;  // rollout/cuda: CUDA-graph replay of Decoder::forward for decode steps

class Engine {
 public:
  using TokenFn = std::function<void(const TokenEvent&)>;
  using DoneFn = std::function<void(Completion&&)>;

  // tokenizer may be null: then no text is produced and stop strings are rejected.
  Engine(model::CausalLM lm, const Tokenizer* tokenizer, EngineOptions opts = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs every request to completion; results in request order. on_done(i, c) fires as each finishes.
  std::vector<Completion> generate(const std::vector<Request>& requests,
                                   const std::function<void(size_t, const Completion&)>& on_done = {});

  // Incremental interface (not thread-safe; a server drives it from one thread). Throws
  // rleif::Error for a request that can never run (bad params, too long for the cache).
  uint64_t submit(Request request, TokenFn on_token, DoneFn on_done);
  // Stops a request: running samples end with FinishReason::cancelled and on_done fires.
  void cancel(uint64_t handle);
  // One scheduling iteration (admit + prefill, then one decode step). Returns busy().
  bool step();
  bool busy() const { return !waiting_.empty() || running_ > 0; }
  size_t waiting() const { return waiting_.size(); }
  int64_t running() const { return running_; }

  // The reason a request can never run, or "" when it can (servers answer 400 with it).
  std::string check(const Request& request) const;
  const EngineStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  const EngineOptions& options() const { return opts_; }
  int64_t max_len() const { return decoder_.capacity(); }
  const std::vector<int64_t>& eos_ids() const { return eos_; }
  const Tokenizer* tokenizer() const { return tok_; }
  Decoder& decoder() { return decoder_; }

 private:
  struct ReqState;
  struct Slot {
    ReqState* req = nullptr;  // null = free
    int64_t sample = 0;
    int64_t pos = 0;          // position where `last` is fed (tokens already in the cache)
    int32_t last = 0;
    Detokenizer detok;
    StopMatcher stop;
  };
  struct Group {  // samples of one request admitted together (one prefill)
    ReqState* req;
    int64_t first_sample;
    std::vector<int64_t> slots;
  };

  void admit();
  void prefill(const std::vector<Group>& groups);
  void decode();
  void compact();
  // Samples one token for each listed slot from logits [R,V] and advances or finishes the slots.
  void advance(const std::vector<int64_t>& slots, const torch::Tensor& logits);
  void finish(int64_t slot, FinishReason why);
  void release(ReqState* r);

  EngineOptions opts_;
  const Tokenizer* tok_;
  Decoder decoder_;
  std::unique_ptr<GraphDecoder> graph_;
  std::vector<int64_t> eos_;
  std::vector<Slot> slots_;
  std::deque<ReqState*> waiting_;
  std::map<uint64_t, std::unique_ptr<ReqState>> requests_;
  uint64_t next_handle_ = 1;
  int64_t running_ = 0;
  EngineStats stats_;
};

}  // namespace rleif::rollout

RLEIF_ENUM_NAMES(rleif::rollout::FinishReason, {rleif::rollout::FinishReason::stop, "stop"},
                 {rleif::rollout::FinishReason::length, "length"}, {rleif::rollout::FinishReason::cancelled, "cancelled"});
RLEIF_ENUM_NAMES(rleif::rollout::Schedule, {rleif::rollout::Schedule::continuous, "continuous"},
                 {rleif::rollout::Schedule::fixed, "fixed"});
