// Sampling: per-request parameters, exact logit filters (temperature, top-k, top-p, min-p) and a
// counter-based random stream, so a request's tokens depend only on (seed, sample index, step),
// never on which other requests share the batch.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"

namespace rleif::rollout {

// How one request's tokens are drawn and when its samples stop.
struct SamplingParams {
  int64_t n = 1;                 // samples per prompt; they share one prefill
  int64_t max_new_tokens = 256;  // generated tokens per sample at most
  double temperature = 1.0;      // softmax temperature; 0 = greedy (argmax)
  int64_t top_k = 0;             // keep the k most likely tokens; 0 = off
  double top_p = 1.0;            // keep the smallest set of tokens holding >= top_p mass; 1 = off
  double min_p = 0.0;            // drop tokens with p < min_p * p_max (Nguyen et al. 2024); 0 = off
  int64_t seed = -1;             // random stream of the request; -1 = drawn from the OS
  std::vector<std::string> stop;           // stop strings (excluded from the text)
  std::vector<int64_t> stop_token_ids;     // extra stop token ids besides the model's EOS ids
  bool ignore_eos = false;       // keep going past EOS (benchmarks with fixed lengths)
  int64_t top_logprobs = 0;      // also return this many most likely tokens per step (0-20)

  template <class V>
  void visit(V& v) {
    v.field("n", n, "samples per prompt (they share one prefill)");
    v.field("max_new_tokens", max_new_tokens, "generated tokens per sample at most");
    v.field("temperature", temperature, "softmax temperature; 0 = greedy");
    v.field("top_k", top_k, "keep the k most likely tokens; 0 = off");
    v.field("top_p", top_p, "nucleus sampling mass; 1 = off");
    v.field("min_p", min_p, "drop tokens below min_p * the top probability; 0 = off");
    v.field("seed", seed, "random seed of each request; -1 = random");
    v.field("stop", stop, "stop strings, excluded from the returned text");
    v.field("stop_token_ids", stop_token_ids, "stop token ids besides the model's EOS ids");
    v.field("ignore_eos", ignore_eos, "do not stop at EOS (fixed-length benchmarks)");
    v.field("top_logprobs", top_logprobs, "alternatives returned per generated token (0-20)");
  }
  // Range checks with messages naming the field and the allowed range.
  void validate() const;
  bool greedy() const { return temperature == 0.0; }
};

// The uniform draw in [0, 1) for step `step` of sample `sample` of a request seeded `seed`
// (splitmix64 over the triple): independent of batch composition and admission order.
double stream_uniform(uint64_t seed, uint64_t sample, uint64_t step);

// Per-row sampling parameters of one batch, as tensors on the logits' device.
struct RowParams {
  torch::Tensor temperature;  // [B] fp32, 0 = greedy
  torch::Tensor top_k;        // [B] int64, 0 = off
  torch::Tensor top_p;        // [B] fp32, 1 = off
  torch::Tensor min_p;        // [B] fp32, 0 = off
  torch::Tensor uniform;      // [B] fp32 in [0, 1)
  torch::Tensor key;          // [B] int64: the race key of filtered rows (the uniform's 24 bits)
  torch::Tensor filtered;     // [B] bool: the row uses top-k / top-p / min-p (filtered before the draw)
  bool any_greedy = false, any_sampled = false, any_filter = false, any_plain = false;
  int64_t max_top_k = 0;      // largest top_k among rows (0 when some sampled row has none)
  // Builds the tensors from one SamplingParams per row and one uniform per row.
  static RowParams make(const std::vector<const SamplingParams*>& params, const std::vector<double>& uniforms,
                        const torch::Device& device);
};

// Returns the filtered distribution of each sampled row in sorted order: probs [B,K] (renormalised,
// zeros for dropped tokens) and their token ids [B,K], descending by logit. Filters apply in the
// Hugging Face order: temperature, top-k, top-p (on the top-k renormalised mass), min-p.
// logits [B,V] fp32.
std::pair<torch::Tensor, torch::Tensor> filtered_distribution(const torch::Tensor& logits, const RowParams& p);

// Draws one token per row: argmax for greedy rows; for rows with a filter, an exponential race
// (argmax p_i / E_i, E_i ~ Exp(1) hashed from the row's uniform and the token id) over the filtered
// distribution, which rounding noise in the logits cannot move; for rows without one, inverse-CDF
// sampling with the row's uniform over the softmax in vocabulary order (each row's rule is its own,
// never its batch's). logits [B,V] (any float dtype) -> tokens [B] int64.
torch::Tensor sample_tokens(const torch::Tensor& logits, const RowParams& p);

// The same draw as sample_tokens, computed row by row in plain loops: for fp32 logits on the CPU,
// where the ~30 small tensor ops of the filtered path cost more than the arithmetic. Same filters,
// same draw rules (inverse-CDF cumulative sums in double, as ATen's CPU cumsum); sample_tokens is its
// reference. logits [B,V] contiguous fp32 CPU -> B token ids.
std::vector<int64_t> sample_tokens_cpu(const torch::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                       const std::vector<double>& uniforms);

// log p(token) under the unmodified model distribution (what the trainer recomputes):
// logits [B,V], tokens [B] -> [B] fp32.
torch::Tensor token_logprobs(const torch::Tensor& logits, const torch::Tensor& tokens);

}  // namespace rleif::rollout
