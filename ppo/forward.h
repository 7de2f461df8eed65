// The trainer's forward passes over sampled sequences: per-token log-probs (at the sampling
// temperature) and entropies of the policy, and per-token values of the critic, each read at the
// state before every response token. Sequences run padding-free (one packed row, each attending only
// to itself, a prompt shared by adjacent rows run once) where the backbone does that without a mask
// (CPU fp32), else right-padded; either way a row's numbers do not depend on the other rows or on padding.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "model/causal_lm.h"
#include "model/score_model.h"

namespace rleif::ppo {

// One sampled sequence: prompt ids (BOS included) and the generated ids (the EOS or stop token that
// ended it included).
struct SeqRow {
  std::vector<int32_t> prompt;
  std::vector<int32_t> response;
};

// Hidden states [M,H] of the positions that predict each response token of rows[idx[0]], rows[idx[1]], ...
// (position P-1 .. P+A-2 of a row with prompt length P and response length A), rows back to back:
// M = sum of the response lengths. In the packed path consecutive rows of idx with equal prompts run
// their prompt once (keep a prompt's samples adjacent in idx to benefit).
torch::Tensor response_states(model::TransformerImpl& backbone, const std::vector<SeqRow>& rows,
                              const std::vector<int64_t>& idx, const torch::Device& device);

// Scatters ragged per-token values [M] (rows back to back, as response_states orders them) into
// [idx.size(), width] right-padded with 0.
torch::Tensor to_padded(const torch::Tensor& flat, const std::vector<SeqRow>& rows, const std::vector<int64_t>& idx,
                        int64_t width);

struct PolicyForward {
  torch::Tensor logp;     // [b, width] fp32 log pi(a_t | s_t) at `temperature`; 0 on padding
  torch::Tensor entropy;  // [b, width] fp32 entropy of pi(. | s_t) at `temperature` (undefined unless asked)
};
// Log-probs of the response tokens under `lm` with logits / temperature; `chunk` positions at a time
// go through lm_head so a [M,V] fp32 log-softmax is never whole.
PolicyForward policy_forward(model::CausalLM& lm, const std::vector<SeqRow>& rows, const std::vector<int64_t>& idx,
                             int64_t width, double temperature, bool entropy, const torch::Device& device,
                             int64_t chunk = 1024);

// Critic values V(s_t) [b, width] fp32 (0 on padding) from a one-label ScoreModel.
torch::Tensor critic_values(model::ScoreModel& critic, const std::vector<SeqRow>& rows, const std::vector<int64_t>& idx,
                            int64_t width, const torch::Device& device);

// Response mask [b, width] fp32 of rows idx.
torch::Tensor response_mask(const std::vector<SeqRow>& rows, const std::vector<int64_t>& idx, int64_t width,
                            const torch::Device& device);

}  // namespace rleif::ppo
