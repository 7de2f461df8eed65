#include "rm/losses.h"

#include "core/error.h"

namespace rleif::rm {
namespace F = torch::nn::functional;

void RankLossOptions::validate() const {
  RLEIF_CHECK(margin >= 0, "loss.margin = ", margin, ": must be >= 0");
  RLEIF_CHECK(center_coef >= 0, "loss.center_coef = ", center_coef, ": must be >= 0 (0 = no centering)");
}

torch::Tensor ranking_loss(const torch::Tensor& scores, const std::vector<int64_t>& sizes,
                           const std::vector<std::vector<int64_t>>& rankings, const RankLossOptions& opts) {
  RLEIF_CHECK(sizes.size() == rankings.size(), "ranking_loss: ", sizes.size(), " lists but ", rankings.size(), " rankings");
  torch::Tensor s = scores.to(torch::kFloat32);  // [N]
  torch::Tensor total = torch::zeros({}, s.options());
  int64_t offset = 0;
  for (size_t l = 0; l < sizes.size(); ++l) {
    const int64_t K = sizes[l];
    RLEIF_CHECK(K >= 2 && static_cast<int64_t>(rankings[l].size()) == K, "ranking_loss: list ", l, " has ", K,
                " candidates and a ranking of ", rankings[l].size());
    std::vector<int64_t> order(rankings[l]);
    for (auto& i : order) i += offset;
    torch::Tensor r = s.index_select(0, torch::tensor(order, torch::kInt64).to(s.device()));  // [K] best first
    // Pairs (j, k) with j ranked above k: the upper triangle of the K x K difference matrix.
    auto upper = torch::ones({K, K}, torch::TensorOptions().dtype(torch::kBool).device(s.device())).triu(1);
    auto diff = (r.unsqueeze(1) - r.unsqueeze(0)).masked_select(upper);                 // [C(K,2)] r_j - r_k
    torch::Tensor list_loss;
    if (opts.kind == RankLoss::bradley_terry) {
      list_loss = -F::logsigmoid(diff - opts.margin).mean();
    } else {
      // -sum_{k<K} [r_k - logsumexp_{j>=k} r_j]: reverse cumulative logsumexp over the order.
      auto rev_lse = torch::logcumsumexp(r.flip(0), 0).flip(0);                           // [K]
      list_loss = (rev_lse - r).slice(0, 0, K - 1).sum() / static_cast<double>(K - 1);
    }
    if (opts.center_coef > 0) {
      auto sums = (r.unsqueeze(1) + r.unsqueeze(0)).masked_select(upper);
      list_loss = list_loss + opts.center_coef * sums.pow(2).mean();
    }
    total = total + list_loss;
    offset += K;
  }
  RLEIF_CHECK(offset == s.size(0), "ranking_loss: the lists cover ", offset, " candidates but there are ", s.size(0), " scores");
  return total;
}

torch::Tensor pairwise_loss(const torch::Tensor& chosen, const torch::Tensor& rejected, const torch::Tensor& margin,
                            double center_coef) {
  auto c = chosen.to(torch::kFloat32), r = rejected.to(torch::kFloat32);  // [P]
  auto d = c - r;
  if (margin.defined()) d = d - margin.to(d.options());
  auto loss = -F::logsigmoid(d);
  if (center_coef > 0) loss = loss + center_coef * (c + r).pow(2);
  return loss.sum();
}

torch::Tensor outcome_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  return F::binary_cross_entropy_with_logits(logits.to(torch::kFloat32), labels.to(torch::kFloat32),
                                             F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum));
}

torch::Tensor step_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  RLEIF_CHECK(logits.dim() == 2 && logits.size(1) == 2, "step_loss: logits ", logits.sizes(), " must be [N,2]");
  auto lab = labels.to(logits.device(), torch::kFloat32);  // [N]
  auto valid = lab >= 0;
  if (!valid.any().item<bool>()) return (logits.to(torch::kFloat32) * 0).sum();  // keeps the graph, finite
  auto lp = torch::log_softmax(logits.to(torch::kFloat32), -1);                 // [N,2]
  auto p = lab.clamp(0, 1);
  auto nll = -(p * lp.select(1, 1) + (1 - p) * lp.select(1, 0));                 // [N]
  return nll.masked_select(valid).sum();
}

torch::Tensor step_probability(const torch::Tensor& logits) {
  return torch::softmax(logits.to(torch::kFloat32), -1).select(-1, 1);
}

}  // namespace rleif::rm
