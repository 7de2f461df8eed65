#include "rm/net.h"

#include "core/error.h"
#include "rm/dataset.h"

namespace rleif::rm {

torch::Tensor RewardNet::end_logits(const std::vector<const Encoded*>& seqs, const torch::Device& device) {
  if (likelihood) return likelihood->end_logits(seqs, device);
  RLEIF_CHECK(!classifier.is_empty(), "reward model: no network loaded");
  return rm::end_logits(classifier, seqs, device);
}

torch::nn::Module& RewardNet::module() {
  if (likelihood) return *likelihood;
  RLEIF_CHECK(!classifier.is_empty(), "reward model: no network loaded");
  return *classifier;
}

model::Transformer& RewardNet::backbone() {
  if (likelihood) return likelihood->lm->model;
  RLEIF_CHECK(!classifier.is_empty(), "reward model: no network loaded");
  return classifier->model;
}

}  // namespace rleif::rm
