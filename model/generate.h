// Simple batched generation with a KV cache: greedy or temperature / top-k / top-p sampling.
// This is the straightforward loop behind `rleif generate --prompt` and held-out evaluation; the
// continuously batched engine with per-request seeds lives in rollout/.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "model/causal_lm.h"

namespace rleif::model {

struct SamplingOptions {
  int64_t max_new_tokens = 128;  // tokens generated per prompt at most
  double temperature = 0.0;      // 0 = greedy (argmax)
  double top_p = 1.0;            // nucleus sampling mass; 1 = off
  int64_t top_k = 0;             // keep the k most likely tokens; 0 = off
  int64_t seed = 0;              // sampling RNG seed

  template <class V>
  void visit(V& v) {
    v.field("max_new_tokens", max_new_tokens, "tokens generated per prompt at most");
    v.field("temperature", temperature, "softmax temperature; 0 = greedy");
    v.field("top_p", top_p, "nucleus sampling: keep the smallest set with this probability mass; 1 = off");
    v.field("top_k", top_k, "keep only the k most likely tokens; 0 = off");
    v.field("seed", seed, "sampling RNG seed");
  }
  void validate() const;
};

struct Generation {
  std::vector<int32_t> tokens;   // generated ids (EOS excluded)
  std::vector<float> logprobs;   // log p of each generated token under the (unfiltered) model
  std::string finish_reason;     // "stop" (EOS) or "length"
};

// prompts: token ids per row (non-empty). eos_ids: a row stops when it samples one of them.
// on_token(row, id) is called for every generated token as it is produced.
std::vector<Generation> generate(CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                                 const SamplingOptions& opts, const std::vector<int64_t>& eos_ids,
                                 const std::function<void(size_t, int32_t)>& on_token = {});

// Filters logits [B,V] for sampling: temperature, top-k, top-p. Returns fp32 logits with -inf
// outside the kept set.
torch::Tensor filter_logits(const torch::Tensor& logits, const SamplingOptions& opts);

}  // namespace rleif::model
