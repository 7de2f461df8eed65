// Reward-model losses. Each returns the SUM of its unit losses (lists, pairs, solutions or labelled
// steps) as a scalar fp32 tensor, so the Trainer's mean over all units of an optimizer step makes k
// micro-batches equal one k-times batch.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/options.h"

namespace rleif::rm {

enum class RankLoss {
  bradley_terry,  // all C(K,2) pairs of a list as one batch element (InstructGPT Eq. 1, WizardMath v3 Eq. 1)
  listmle,        // Plackett-Luce likelihood of the teacher's order (Xia et al. 2008)
};

struct RankLossOptions {
  RankLoss kind = RankLoss::bradley_terry;
  double margin = 0.0;          // m in -log sigma(r_j - r_k - m) (WizardMath v3 leaves it unstated)
  double center_coef = 0.0;     // + coef * mean over pairs of (r_j + r_k)^2 (Eisenstein et al.; TRL's centering)

  template <class V>
  void visit(V& v) {
    v.field("kind", kind, "IRM ranking loss: bradley_terry (all pairs of a list) | listmle (Plackett-Luce)");
    v.field("margin", margin, "margin m in -log sigma(r_better - r_worse - m); 0 = plain Bradley-Terry");
    v.field("center_coef", center_coef, "reward centering: + coef * mean((r_j + r_k)^2) over the pairs (0 = off)");
  }
  void validate() const;
};

// scores [N] of all candidates of the micro-batch's lists back to back; list l has sizes[l]
// candidates and rankings[l] (indices into its own candidates, best first). Per list: the mean over
// its C(K,2) pairs (bradley_terry) or the Plackett-Luce NLL / (K-1) (listmle), plus centering.
// Returns the sum over lists.
torch::Tensor ranking_loss(const torch::Tensor& scores, const std::vector<int64_t>& sizes,
                           const std::vector<std::vector<int64_t>>& rankings, const RankLossOptions& opts);

// Pairwise preferences: chosen [P], rejected [P], margin [P] (or undefined) -> sum over pairs of
// -log sigma(r_c - r_r - m) + center_coef * (r_c + r_r)^2 (TRL RewardTrainer).
torch::Tensor pairwise_loss(const torch::Tensor& chosen, const torch::Tensor& rejected, const torch::Tensor& margin,
                            double center_coef);

// Outcome supervision (Cobbe et al. 2021 with a BCE head): logits [N], labels [N] in [0,1] -> sum of
// binary cross-entropy.
torch::Tensor outcome_loss(const torch::Tensor& logits, const torch::Tensor& labels);

// Process supervision: step logits [N,2] (class 1 = correct) at step-end tokens, labels [N] in [0,1]
// or -1 (unlabelled, ignored) -> sum over labelled steps of the cross-entropy against [1-p, p] (a
// hard label is the usual CE; a soft one is Math-Shepherd's soft estimate). No labelled step -> 0.
torch::Tensor step_loss(const torch::Tensor& logits, const torch::Tensor& labels);

// P(correct) of each step from its two logits: [N,2] -> [N].
torch::Tensor step_probability(const torch::Tensor& logits);

}  // namespace rleif::rm

RLEIF_ENUM_NAMES(rleif::rm::RankLoss, {rleif::rm::RankLoss::bradley_terry, "bradley_terry"},
                 {rleif::rm::RankLoss::listmle, "listmle"});
