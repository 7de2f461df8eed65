// The network of a reward model: a ScoreModel (linear score head, every kind) or a likelihood
// verifier (rm/verifier.h, PRM and ORM). Training, evaluation and scoring read logits through it alone.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/score_model.h"
#include "rm/encode.h"
#include "rm/verifier.h"

namespace rleif::rm {

struct RewardNet {
  model::ScoreModel classifier{nullptr};  // set for HeadKind::classifier
  LikelihoodVerifier likelihood{nullptr}; // set for HeadKind::likelihood

  HeadKind head() const { return likelihood ? HeadKind::likelihood : HeadKind::classifier; }
  // Logits at every score position, in order of sequences then positions: [E,C] fp32.
  torch::Tensor end_logits(const std::vector<const Encoded*>& seqs, const torch::Device& device);
  torch::nn::Module& module();
  model::Transformer& backbone();
};

}  // namespace rleif::rm
