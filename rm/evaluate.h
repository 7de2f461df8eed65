// Held-out metrics of a reward model on encoded units: IRM pairwise agreement and Kendall tau with
// the teacher's rankings; PRM step AUC, step accuracy and ProcessBench first-error F1; ORM AUC and
// accuracy; pairwise accuracy. The loss of the kind is reported too.
#pragma once
#include <torch/torch.h>

#include "core/jsonl.h"
#include "rm/dataset.h"
#include "rm/losses.h"
#include "rm/net.h"

namespace rleif::rm {

struct RmEvalOptions {
  int64_t batch_size = 32;    // units per forward pass
  double threshold = 0.5;     // PRM: a step with P(correct) below this is predicted wrong

  template <class V>
  void visit(V& v) {
    v.field("batch_size", batch_size, "units per forward pass during evaluation");
    v.field("threshold", threshold, "PRM: steps with P(correct) below this are predicted wrong (first-error F1)");
  }
  void validate() const;
};

// Scores of every unit: for each unit, the head's logits at its positions ([E_u, C], in unit order).
std::vector<torch::Tensor> unit_logits(RewardNet& m, const RmDataset& d, const torch::Device& device,
                                       int64_t batch_size);

// Metrics as JSON ({"n", "loss", ...} per kind). Runs under NoGradGuard.
json evaluate_rm(RewardNet& m, const RmDataset& d, const torch::Device& device, const RmEvalOptions& opts,
                 const RankLossOptions& loss);

// The loss of one unit from its logits (the SUM over its loss units; see losses.h).
torch::Tensor unit_loss(const Unit& u, RmKind kind, const torch::Tensor& logits, const RankLossOptions& loss);

}  // namespace rleif::rm
