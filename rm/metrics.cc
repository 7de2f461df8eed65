#include "rm/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace rleif::rm {

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  RLEIF_CHECK(scores.size() == labels.size(), "roc_auc: ", scores.size(), " scores but ", labels.size(),
              " labels; give one label per score");
  // Mann-Whitney: AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg), R_pos the rank sum of the
  // positives with tied scores sharing their average rank (so a tie counts one half).
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0, n_pos = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + 1 + j);  // ranks i+1 .. j, 1-based
    for (size_t t = i; t < j; ++t) {
      const int y = labels[order[t]];
      RLEIF_CHECK(y == 0 || y == 1, "roc_auc: label ", y, " is not 0 or 1");
      if (y == 1) rank_sum += avg_rank, n_pos += 1;
    }
    i = j;
  }
  const double n_neg = static_cast<double>(scores.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

RankAgreement rank_agreement(const std::vector<std::vector<double>>& scores,
                             const std::vector<std::vector<int64_t>>& rankings) {
  RLEIF_CHECK(scores.size() == rankings.size(), "rank_agreement: ", scores.size(), " score lists but ",
              rankings.size(), " rankings; give one ranking per list");
  RankAgreement out;
  double agree = 0, tau_sum = 0;
  for (size_t l = 0; l < scores.size(); ++l) {
    const auto& s = scores[l];
    const auto& rank = rankings[l];
    std::vector<char> seen(s.size(), 0);
    for (int64_t i : rank) {
      RLEIF_CHECK(i >= 0 && static_cast<size_t>(i) < s.size(), "rank_agreement: list ", l, " ranks candidate ", i,
                  " but has ", s.size(), " scores");
      RLEIF_CHECK(!seen[i], "rank_agreement: list ", l, " ranks candidate ", i, " twice");
      seen[i] = 1;
    }
    // Only the ranked candidates count; a list needs two of them to hold a pair.
    if (rank.size() < 2) continue;
    // The teacher orders rank[a] above rank[b] for a < b and has no ties, so Kendall's tau-b is
    // (C - D) / sqrt(n0 (n0 - n_model_ties)) with n0 the number of pairs.
    double concordant = 0, discordant = 0, ties = 0, pairs = 0;
    for (size_t a = 0; a < rank.size(); ++a)
      for (size_t b = a + 1; b < rank.size(); ++b) {
        const double hi = s[rank[a]], lo = s[rank[b]];
        if (hi > lo) concordant += 1;
        else if (hi < lo) discordant += 1;
        else ties += 1;
        pairs += 1;
      }
    agree += concordant + 0.5 * ties;
    out.pairs += static_cast<int64_t>(pairs);
    out.lists += 1;
    // A model that ties every pair has no tau-b (0/0); it counts as no association (0).
    if (pairs > ties) tau_sum += (concordant - discordant) / std::sqrt(pairs * (pairs - ties));
  }
  if (out.pairs == 0) {
    out.pairwise = out.kendall_tau = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  out.pairwise = agree / static_cast<double>(out.pairs);
  out.kendall_tau = tau_sum / static_cast<double>(out.lists);
  return out;
}

int64_t predicted_first_error(const std::vector<double>& step_scores, double threshold) {
  for (size_t s = 0; s < step_scores.size(); ++s)
    if (step_scores[s] < threshold) return static_cast<int64_t>(s);
  return -1;
}

FirstErrorF1 first_error_f1(const std::vector<int64_t>& predicted, const std::vector<int64_t>& truth) {
  RLEIF_CHECK(predicted.size() == truth.size(), "first_error_f1: ", predicted.size(), " predictions but ",
              truth.size(), " labels; give one first-error index per solution");
  FirstErrorF1 out;
  double right_wrong = 0, right_correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    RLEIF_CHECK(truth[i] >= -1 && predicted[i] >= -1, "first_error_f1: solution ", i,
                " has a first-error index below -1 (truth ", truth[i], ", predicted ", predicted[i], ")");
    if (truth[i] < 0) {
      out.n_correct += 1;
      right_correct += predicted[i] < 0 ? 1 : 0;
    } else {
      out.n_wrong += 1;
      right_wrong += predicted[i] == truth[i] ? 1 : 0;
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  out.acc_wrong = out.n_wrong ? right_wrong / static_cast<double>(out.n_wrong) : nan;
  out.acc_correct = out.n_correct ? right_correct / static_cast<double>(out.n_correct) : nan;
  const double sum = out.acc_wrong + out.acc_correct;  // NaN when a class is empty
  out.f1 = sum > 0 ? 2 * out.acc_wrong * out.acc_correct / sum : (std::isnan(sum) ? nan : 0.0);
  return out;
}

}  // namespace rleif::rm
