// ppo::Experience: one iteration's samples and everything the update needs, as right-padded [B,A]
// tensors (DESIGN.md), and the step from rewards to advantages that is shared by PPO, GRPO and RLOO.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ppo/config.h"
#include "ppo/forward.h"

namespace rleif::ppo {

struct Experience {
  std::vector<SeqRow> rows;      // B sequences
  std::vector<int64_t> group;    // [B] prompt index within the iteration (a GRPO / RLOO group)
  int64_t width = 0;             // A: the longest response
  torch::Tensor mask;            // [B,A] 1 on response tokens
  torch::Tensor old_logp;        // [B,A] policy log-probs at sampling time (temperature applied)
  torch::Tensor ref_logp;        // [B,A] reference policy log-probs (undefined without a KL term)
  torch::Tensor values;          // [B,A] critic values at sampling time (gae only)
  torch::Tensor scores;          // [B] terminal reward of each sequence
  torch::Tensor valid;           // [B] bool: rows with a usable reward (undefined = all); others are masked out
  torch::Tensor step_rewards;    // [B,A] per-step rewards at step-end tokens (process supervision) or undefined
  torch::Tensor kl;              // [B,A] KL estimate of old vs reference (0 without a reference)
  torch::Tensor rewards;         // [B,A] per-token rewards entering GAE (gae only)
  torch::Tensor advantages;      // [B,A]
  torch::Tensor returns;         // [B,A] (gae only)
};

// Fills rewards / advantages / returns from scores, step_rewards, kl, values and mask:
// - gae: per-token rewards = score at the last token (+ step rewards) - beta * kl when kl_in=reward,
//   optional reward whitening, then GAE(gamma, lambda); returns = advantages + values.
// - grpo / rloo: the sequence advantage (ppo/algo.h) broadcast over its tokens; KL belongs in the loss.
// - reinforce: the score (minus beta * the sequence's KL when kl_in=reward) broadcast, then whitened.
// Advantages are whitened over the batch for reinforce, and for gae when whiten_advantages; grpo and
// rloo keep the scale their estimator gives (scale_rewards decides grpo's). Rows not `valid` take
// no part in group or batch statistics and get advantage 0. Last, negative advantages are multiplied
// by negative_scale (0: only better-than-baseline samples teach).
void compute_advantages(Experience& e, const AlgoOptions& a, double beta);

}  // namespace rleif::ppo
