// The arithmetic of PPO, GRPO and RLOO on padded [B,A] response tensors: KL estimators, per-token
// rewards, GAE, group baselines, masked whitening, the clipped policy and value losses, loss
// aggregation and the adaptive KL controller. Pure functions of tensors (no model, no state beyond
// the KL controller), so each is tested against hand-computed cases.
//
// Shapes: B sequences, A response positions (right-padded); mask [B,A] is 1 on real response
// tokens (the EOS that ended a response included) and 0 on padding. All float math is fp32.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "core/jsonl.h"
#include "core/options.h"

namespace rleif::ppo {

enum class KlEstimator { k1, k2, k3 };
enum class LossAgg { token_mean, seq_mean_token_mean, seq_mean_token_sum_norm };
enum class Advantage { gae, grpo, rloo, reinforce };
enum class ScaleRewards { group, batch, none };

// Per-token KL estimate of pi vs pi_ref from log-probs [B,A] (Schulman's k1/k2/k3):
// k1 = log r, k2 = (log r)^2 / 2, k3 = exp(-log r) - 1 + log r, with log r = logp - ref_logp
// clamped to [-clamp, clamp] first so every estimate stays finite (k3 at |log r| = 50 would
// overflow otherwise). Zero where mask is 0.
torch::Tensor kl_estimate(const torch::Tensor& logp, const torch::Tensor& ref_logp, const torch::Tensor& mask,
                          KlEstimator k, double clamp = 20.0);

// Per-token rewards [B,A] for PPO: -beta * kl at every real token, plus score[b] added at the last
// real token of row b (the token that ended the response). score [B], kl [B,A], mask [B,A].
// Rows with no real token get nothing (all zero).
torch::Tensor token_rewards(const torch::Tensor& score, const torch::Tensor& kl, const torch::Tensor& mask,
                            double beta);

// Index [B] of the last real token of each row (-1 for an empty row). mask [B,A].
torch::Tensor last_index(const torch::Tensor& mask);

// Generalised advantage estimation over right-padded rows, backwards over A:
// delta_t = r_t + gamma * V_{t+1} - V_t (V after the last real token is 0),
// A_t = delta_t + gamma * lambda * A_{t+1}; returns = A + V. Padding gets 0 in both.
// rewards, values, mask [B,A] -> {advantages [B,A], returns [B,A]}.
std::pair<torch::Tensor, torch::Tensor> gae(const torch::Tensor& rewards, const torch::Tensor& values,
                                            const torch::Tensor& mask, double gamma, double lambda);
// The same by an explicit per-element loop (the reference the tests compare with).
std::pair<torch::Tensor, torch::Tensor> gae_reference(const torch::Tensor& rewards, const torch::Tensor& values,
                                                      const torch::Tensor& mask, double gamma, double lambda);

// Critic-free advantages from one scalar score per sequence. scores [B], group [B] int64 (the
// prompt each sequence answers; samples of one prompt share an id) -> [B] advantage per sequence.
// GRPO (Shao et al. 2024): a = r - mean_group(r), divided by the group's std (unbiased, as TRL)
// for scale=group, by the whole batch's std for scale=batch, by nothing for scale=none (Dr. GRPO);
// std + eps in the denominator (a batch of one has std 0). A group of one sequence has advantage 0 (no baseline exists: it
// teaches nothing, and is counted in `zero_std_share`).
// RLOO (Ahmadian et al. 2024): a = r - mean of the other k-1 rewards of the group; a group of one
// gets 0.
torch::Tensor grpo_advantages(const torch::Tensor& scores, const torch::Tensor& group, ScaleRewards scale,
                              double eps = 1e-4);
torch::Tensor rloo_advantages(const torch::Tensor& scores, const torch::Tensor& group);
// Share of sequences whose group has zero reward spread (max == min) or only one member: [B] -> in [0,1].
double zero_std_share(const torch::Tensor& scores, const torch::Tensor& group);

// Masked whitening: (x - mean) / sqrt(var + eps) over positions where mask is 1 (var unbiased,
// as OpenRLHF/TRL masked_whiten); shift_mean = false adds the mean back. Padding stays 0. With
// fewer than 2 real tokens the variance is taken as 0 (OpenRLHF raises there instead).
torch::Tensor masked_whiten(const torch::Tensor& x, const torch::Tensor& mask, bool shift_mean = true,
                            double eps = 1e-8);
torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask);  // -> [] fp32; 0 for an empty mask

// Reduces a per-token loss [B,A] to a scalar. token_mean: sum over real tokens / their count;
// seq_mean_token_mean: mean over rows of each row's token mean (rows without tokens skipped);
// seq_mean_token_sum_norm (Dr. GRPO): sum over real tokens / (rows * norm_len), norm_len = A when 0.
// `denominator` > 0 replaces the count of the reduction (tokens, rows) so micro-batches of one
// minibatch sum to the minibatch's loss: pass the minibatch's token count (token_mean), count of
// rows with at least one token (seq_mean_token_mean) or row count (seq_mean_token_sum_norm). Pass
// norm_len explicitly when micro-batches are cut to different widths A.
torch::Tensor aggregate_loss(const torch::Tensor& loss, const torch::Tensor& mask, LossAgg agg,
                             double denominator = 0, int64_t norm_len = 0);

struct PolicyLossOut {
  torch::Tensor loss;      // [B,A] per-token loss (0 on padding), before aggregation
  torch::Tensor clipped;   // [B,A] float: 1 where the clipped term was taken (clipfrac's numerator)
  torch::Tensor ratio;     // [B,A] exp(logp - old_logp); 0 on padding
};
// PPO clipped surrogate: -min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A); with
// dual_clip = c > 1 (Ye et al. 2020), for A < 0 the loss is further capped at -c * A.
// logp, old_logp, advantages, mask [B,A]. log-ratio clamped to [-20, 20] before exp.
PolicyLossOut policy_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& advantages,
                          const torch::Tensor& mask, double eps_low, double eps_high, double dual_clip = 0);

struct ValueLossOut {
  torch::Tensor loss;     // [B,A] 0.5 * max((V - R)^2, (V_old + clip(V - V_old, +-eps) - R)^2); 0 on padding
  torch::Tensor clipped;  // [B,A] 1 where the clipped term was larger
};
// eps <= 0: no clipping, 0.5 * (V - R)^2.
ValueLossOut value_loss(const torch::Tensor& values, const torch::Tensor& old_values, const torch::Tensor& returns,
                        const torch::Tensor& mask, double eps);

// Entropy of each position's distribution from logits [N,V] (any float dtype) -> [N] fp32 (also
// [..., V] -> [...]). A -inf logit (a banned token) contributes 0, not NaN.
torch::Tensor entropy_from_logits(const torch::Tensor& logits);

// 1 - Var(returns - values) / Var(returns) over real tokens (NaN-free: 0 when Var(returns) = 0).
double explained_variance(const torch::Tensor& values, const torch::Tensor& returns, const torch::Tensor& mask);

struct KlControlOptions {
  double beta = 0.05;      // initial KL coefficient
  double target = 0;       // target KL per sequence; 0 = fixed beta
  double horizon = 10000;  // samples over which beta adapts (Ziegler et al.)

  template <class V>
  void visit(V& v) {
    v.field("beta", beta, "KL coefficient (initial when adaptive)");
    v.field("target", target, "target KL per sequence for the adaptive controller; 0 = fixed beta");
    v.field("horizon", horizon, "samples over which the adaptive controller moves beta (Ziegler et al.)");
  }
  void validate() const;
};

// Ziegler et al. 2019's adaptive controller: e = clip(kl / target - 1, -0.2, 0.2);
// beta *= 1 + e * n / horizon. Fixed when target is 0.
class KlController {
 public:
  explicit KlController(const KlControlOptions& o) : opts_(o), beta_(o.beta) {}
  double beta() const { return beta_; }
  void update(double kl, int64_t n_samples);
  json state() const;                                    // {"beta": ...}
  void load_state(const json& j, const std::string& where);

 private:
  KlControlOptions opts_;
  double beta_;
};

}  // namespace rleif::ppo

RLEIF_ENUM_NAMES(rleif::ppo::KlEstimator, {rleif::ppo::KlEstimator::k1, "k1"}, {rleif::ppo::KlEstimator::k2, "k2"},
                 {rleif::ppo::KlEstimator::k3, "k3"});
RLEIF_ENUM_NAMES(rleif::ppo::LossAgg, {rleif::ppo::LossAgg::token_mean, "token_mean"},
                 {rleif::ppo::LossAgg::seq_mean_token_mean, "seq_mean_token_mean"},
                 {rleif::ppo::LossAgg::seq_mean_token_sum_norm, "seq_mean_token_sum_norm"});
RLEIF_ENUM_NAMES(rleif::ppo::Advantage, {rleif::ppo::Advantage::gae, "gae"}, {rleif::ppo::Advantage::grpo, "grpo"},
                 {rleif::ppo::Advantage::rloo, "rloo"}, {rleif::ppo::Advantage::reinforce, "reinforce"});
RLEIF_ENUM_NAMES(rleif::ppo::ScaleRewards, {rleif::ppo::ScaleRewards::group, "group"},
                 {rleif::ppo::ScaleRewards::batch, "batch"}, {rleif::ppo::ScaleRewards::none, "none"});
