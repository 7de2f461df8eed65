#include "model/score_model.h"

#include "core/error.h"

namespace rleif::model {

ScoreModelImpl::ScoreModelImpl(const ModelConfig& c) : cfg(c) {
  model = register_module("model", Transformer(cfg));
  score = register_module("score",
                          torch::nn::Linear(torch::nn::LinearOptions(cfg.hidden_size, cfg.num_labels).bias(false)));
}

torch::Tensor ScoreModelImpl::forward(const torch::Tensor& ids, const torch::Tensor& positions) {
  auto s = score(model(ids, positions));  // [B,T,C]
  return cfg.num_labels == 1 ? s.squeeze(-1) : s;
}

torch::Tensor ScoreModelImpl::sequence_scores(const torch::Tensor& ids, const torch::Tensor& lengths) {
  RLEIF_CHECK(lengths.dim() == 1 && lengths.size(0) == ids.size(0), "sequence_scores: lengths ", lengths.sizes(),
              " must be [B] for ids ", ids.sizes());
  RLEIF_CHECK(lengths.min().item<int64_t>() >= 1 && lengths.max().item<int64_t>() <= ids.size(1),
              "sequence_scores: every length must be in [1, ", ids.size(1), "]");
  auto idx = (lengths.to(torch::kInt64) - 1).unsqueeze(1);  // [B,1]
  return scores_at(ids, idx).squeeze(1);
}

torch::Tensor ScoreModelImpl::scores_at(const torch::Tensor& ids, const torch::Tensor& index) {
  auto s = score(model(ids));  // [B,T,C]
  auto valid = index >= 0;
  auto safe = index.clamp_min(0).to(torch::kInt64);  // [B,S]
  auto picked = s.gather(1, safe.unsqueeze(-1).expand({safe.size(0), safe.size(1), s.size(-1)}));  // [B,S,C]
  picked = picked * valid.unsqueeze(-1).to(picked.scalar_type());
  return cfg.num_labels == 1 ? picked.squeeze(-1) : picked;
}

}  // namespace rleif::model
