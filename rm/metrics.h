// Reward-model metrics: ranking agreement with a teacher, step AUC, ProcessBench first-error F1.
// Plain C++ over scores already computed (no LibTorch).
#pragma once
#include <cstdint>
#include <vector>

namespace rleif::rm {

// Area under the ROC curve of scores against binary labels (1 = positive): the probability that a
// random positive outscores a random negative, ties counting one half (Mann-Whitney U). NaN when a
// class is empty.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// Agreement of model scores with teacher rankings over many lists.
struct RankAgreement {
  double pairwise = 0;     // share of within-list pairs the model orders as the teacher does (ties: half)
  double kendall_tau = 0;  // mean over lists of Kendall's tau-b between scores and the teacher order
  int64_t pairs = 0;
  int64_t lists = 0;
};
// scores[l][i]: the model's score of candidate i of list l; rankings[l]: candidate indices best first.
RankAgreement rank_agreement(const std::vector<std::vector<double>>& scores,
                             const std::vector<std::vector<int64_t>>& rankings);

// ProcessBench (Zheng et al. 2024): a PRM predicts a solution's first wrong step as the first step
// whose P(correct) is below a threshold (-1 = none). Accuracy on wrong solutions (exact index) and on
// correct ones (-1 predicted), and their harmonic mean.
struct FirstErrorF1 {
  double acc_wrong = 0, acc_correct = 0, f1 = 0;
  int64_t n_wrong = 0, n_correct = 0;
};
int64_t predicted_first_error(const std::vector<double>& step_scores, double threshold = 0.5);
// predicted / truth: first wrong step per solution, -1 = none.
FirstErrorF1 first_error_f1(const std::vector<int64_t>& predicted, const std::vector<int64_t>& truth);

}  // namespace rleif::rm
