#include "ppo/experience.h"

#include "core/error.h"

namespace rleif::ppo {

void compute_advantages(Experience& e, const AlgoOptions& a, double beta) {
  const int64_t b = e.mask.size(0);
  RLEIF_CHECK(e.scores.defined() && e.scores.size(0) == b, "ppo: ", b, " sequences but scores are ",
              e.scores.defined() ? e.scores.sizes() : torch::IntArrayRef{});
  auto kl = e.kl.defined() ? e.kl : torch::zeros_like(e.mask);
  const double kl_beta = a.kl_in == KlPlacement::reward ? beta : 0.0;
  switch (a.advantage) {
    case Advantage::gae: {
      RLEIF_CHECK(e.values.defined(), "ppo: gae needs critic values");
      auto r = token_rewards(e.scores, kl, e.mask, kl_beta);  // [B,A]
      if (e.step_rewards.defined()) r = r + e.step_rewards * e.mask;
      if (a.whiten_rewards) r = masked_whiten(r, e.mask, /*shift_mean=*/false);
      e.rewards = r;
      auto [adv, ret] = gae(r, e.values, e.mask, a.gamma, a.lambda);
      e.returns = ret;
      e.advantages = a.whiten_advantages ? masked_whiten(adv, e.mask) : adv;
      break;
    }
    case Advantage::grpo:
    case Advantage::rloo: {
      auto g = torch::tensor(e.group, torch::kInt64);
      auto s = e.scores.to(torch::kFloat32).cpu();
      torch::Tensor seq;
      if (e.valid.defined()) {
        auto keep = e.valid.cpu().nonzero().squeeze(1);  // rows with a usable reward
        auto gs = g.index_select(0, keep), ss = s.index_select(0, keep);
        seq = torch::zeros({b}, torch::kFloat32);
        if (keep.numel() > 0)
          seq.index_copy_(0, keep, a.advantage == Advantage::grpo ? grpo_advantages(ss, gs, a.scale_rewards)
                                                                  : rloo_advantages(ss, gs));
      } else {
        seq = a.advantage == Advantage::grpo ? grpo_advantages(s, g, a.scale_rewards) : rloo_advantages(s, g);
      }
      if (kl_beta > 0) {
        // KL in the reward (an option; GRPO's own place for it is the loss): the sequence's summed KL.
        seq = seq - kl_beta * (kl * e.mask).sum(1).cpu();
      }
      auto adv = seq.to(e.mask.device()).unsqueeze(1) * e.mask;  // [B,A]
      e.advantages = adv;  // scaled by scale_rewards, never whitened (that would undo scale_rewards=none)
      e.rewards = adv;
      break;
    }
    case Advantage::reinforce: {
      auto seq = e.scores.to(torch::kFloat32).to(e.mask.device());
      if (kl_beta > 0) seq = seq - kl_beta * (kl * e.mask).sum(1);
      auto adv = seq.unsqueeze(1) * e.mask;
      e.advantages = masked_whiten(adv, e.mask);
      e.rewards = adv;
      break;
    }
  }
  // After whitening and group scaling, so the estimator's baseline is still the one that splits better
  // from worse; the returns the critic learns are untouched.
  if (a.negative_scale != 1.0)
    e.advantages = torch::where(e.advantages < 0, e.advantages * a.negative_scale, e.advantages);
}

}  // namespace rleif::ppo
