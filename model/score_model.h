// ScoreModel: backbone + linear score head (no bias), the LlamaForSequenceClassification layout.
// Per-token scores [B,T] (num_labels == 1) or [B,T,C]; a sequence score is read at the last real
// token, a PRM step score at each step-end token.
#pragma once
#include "model/transformer.h"

namespace rleif::model {

struct ScoreModelImpl : torch::nn::Module {
  explicit ScoreModelImpl(const ModelConfig& cfg);
  // ids [B,T] -> scores [B,T] when num_labels == 1, else [B,T,C].
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions = {});
  // Score at the last real token: ids [B,T] right-padded, lengths [B] -> [B] (or [B,C]).
  torch::Tensor sequence_scores(const torch::Tensor& ids, const torch::Tensor& lengths);
  // Scores at given token indices: ids [B,T], index [B,S] (-1 = padding) -> [B,S] (padding = 0).
  torch::Tensor scores_at(const torch::Tensor& ids, const torch::Tensor& index);

  ModelConfig cfg;
  Transformer model{nullptr};
  torch::nn::Linear score{nullptr};
};
TORCH_MODULE(ScoreModel);

}  // namespace rleif::model
