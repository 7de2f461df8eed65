#include "rm/evaluate.h"

#include <cmath>

#include "rm/metrics.h"

namespace rleif::rm {

void RmEvalOptions::validate() const {
  RLEIF_CHECK(batch_size >= 1, "eval.batch_size = ", batch_size, ": must be >= 1");
  RLEIF_CHECK(threshold > 0 && threshold < 1, "eval.threshold = ", threshold, ": must be in (0, 1)");
}

std::vector<torch::Tensor> unit_logits(RewardNet& m, const RmDataset& d, const torch::Device& device,
                                       int64_t batch_size) {
  std::vector<torch::Tensor> out;
  out.reserve(d.units.size());
  for (size_t b = 0; b < d.units.size(); b += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(d.units.size(), b + static_cast<size_t>(batch_size));
    std::vector<const Encoded*> seqs;
    std::vector<int64_t> counts;
    for (size_t i = b; i < e; ++i) {
      int64_t c = 0;
      for (auto& s : d.units[i].seqs) {
        seqs.push_back(&s);
        c += static_cast<int64_t>(s.ends.size());
      }
      counts.push_back(c);
    }
    auto logits = m.end_logits(seqs, device).cpu();  // [E,C]
    int64_t off = 0;
    for (int64_t c : counts) {
      out.push_back(logits.slice(0, off, off + c));
      off += c;
    }
  }
  return out;
}

torch::Tensor unit_loss(const Unit& u, RmKind kind, const torch::Tensor& logits, const RankLossOptions& loss) {
  switch (kind) {
    case RmKind::irm:
      return ranking_loss(logits.select(1, 0), {static_cast<int64_t>(u.seqs.size())}, {u.ranking}, loss);
    case RmKind::prm:
      return step_loss(logits, torch::tensor(u.labels, torch::kFloat32));
    case RmKind::orm:
      return outcome_loss(logits.select(1, 0), torch::tensor(u.labels, torch::kFloat32).to(logits.device()));
    case RmKind::pairwise: {
      auto s = logits.select(1, 0);
      return pairwise_loss(s.slice(0, 0, 1), s.slice(0, 1, 2),
                           torch::full({1}, static_cast<double>(u.margin), s.options()), loss.center_coef);
    }
  }
  RLEIF_FAIL("unit_loss: unknown reward-model kind");
}

json evaluate_rm(RewardNet& m, const RmDataset& d, const torch::Device& device, const RmEvalOptions& opts,
                 const RankLossOptions& loss_opts) {
  torch::NoGradGuard ng;
  json out{{"n", d.units.size()}};
  if (d.units.empty()) return out;
  auto logits = unit_logits(m, d, device, opts.batch_size);
  double loss = 0, weight = 0;
  for (size_t i = 0; i < d.units.size(); ++i) {
    loss += unit_loss(d.units[i], d.kind, logits[i], loss_opts).item<double>();
    weight += d.weight(i);
  }
  out["loss"] = weight > 0 ? loss / weight : 0.0;
  switch (d.kind) {
    case RmKind::irm: {
      std::vector<std::vector<double>> scores;
      std::vector<std::vector<int64_t>> rankings;
      for (size_t i = 0; i < d.units.size(); ++i) {
        auto s = logits[i].select(1, 0).to(torch::kFloat64).contiguous();
        scores.emplace_back(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
        rankings.push_back(d.units[i].ranking);
      }
      RankAgreement a = rank_agreement(scores, rankings);
      out["pairwise_agreement"] = a.pairwise;
      out["kendall_tau"] = a.kendall_tau;
      out["pairs"] = a.pairs;
      break;
    }
    case RmKind::prm: {
      std::vector<double> probs;
      std::vector<int> labels;
      std::vector<int64_t> predicted, truth;
      int64_t right = 0;
      for (size_t i = 0; i < d.units.size(); ++i) {
        auto p = step_probability(logits[i]).to(torch::kFloat64).contiguous();
        std::vector<double> ps(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
        const Unit& u = d.units[i];
        for (size_t s = 0; s < ps.size(); ++s) {
          if (u.labels[s] < 0) continue;
          probs.push_back(ps[s]);
          labels.push_back(u.labels[s] >= 0.5f ? 1 : 0);
          right += (ps[s] >= opts.threshold) == (u.labels[s] >= 0.5f);
        }
        // First-error F1 only where the whole labelled prefix was kept (no truncation past the error).
        if (static_cast<int64_t>(ps.size()) == u.steps_total || (u.first_error >= 0 && u.first_error < static_cast<int64_t>(ps.size()))) {
          predicted.push_back(predicted_first_error(ps, opts.threshold));
          truth.push_back(u.first_error);
        }
      }
      out["step_auc"] = roc_auc(probs, labels);
      out["step_accuracy"] = probs.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(probs.size());
      out["steps"] = probs.size();
      FirstErrorF1 f = first_error_f1(predicted, truth);
      out["first_error_f1"] = f.f1;
      out["first_error_acc_wrong"] = f.acc_wrong;
      out["first_error_acc_correct"] = f.acc_correct;
      break;
    }
    case RmKind::orm: {
      std::vector<double> scores;
      std::vector<int> labels;
      int64_t right = 0;
      for (size_t i = 0; i < d.units.size(); ++i) {
        double s = logits[i][0][0].item<double>();
        int l = d.units[i].labels[0] >= 0.5f ? 1 : 0;
        scores.push_back(s);
        labels.push_back(l);
        right += (s >= 0) == (l == 1);
      }
      out["auc"] = roc_auc(scores, labels);
      out["accuracy"] = static_cast<double>(right) / static_cast<double>(scores.size());
      break;
    }
    case RmKind::pairwise: {
      double right = 0, margin = 0;
      for (size_t i = 0; i < d.units.size(); ++i) {
        double c = logits[i][0][0].item<double>(), r = logits[i][1][0].item<double>();
        right += c > r ? 1.0 : (c == r ? 0.5 : 0.0);
        margin += c - r;
      }
      out["accuracy"] = right / static_cast<double>(d.units.size());
      out["mean_margin"] = margin / static_cast<double>(d.units.size());
      break;
    }
  }
  for (auto& [k, v] : out.items())
    if (v.is_number_float() && !std::isfinite(v.get<double>())) v = nullptr;  // NaN (e.g. AUC with one class) -> null
  return out;
}

}  // namespace rleif::rm
