// Reward-model metrics against hand-computed literals and brute-force references.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "rm/metrics.h"

namespace rleif::rm {
namespace {

TEST(RmMetrics, RocAucHandComputed) {
  // Positives 0.35, 0.8; negatives 0.1, 0.4: 3 of 4 pairs ordered -> 0.75.
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  // A tied positive/negative pair counts one half: (0.5 + 1 + 1 + 1) / 4.
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5, 0.2, 0.9}, {1, 0, 0, 1}), 0.875);
  EXPECT_DOUBLE_EQ(roc_auc({1, 2, 3}, {1, 1, 0}), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc({7, 7, 7, 7}, {1, 0, 1, 0}), 0.5);
}

TEST(RmMetrics, RocAucMatchesBruteForcePairs) {
  // Reference: numpy, rng = default_rng(7), scores round(random(12), 1), labels integers(0, 2, 12),
  // AUC = mean over every (positive, negative) pair of [p > n] + 0.5 [p == n] (no ranks involved).
  const std::vector<double> s{0.6, 0.9, 0.8, 0.2, 0.3, 0.9, 0.0, 0.8, 0.8, 0.5, 0.3, 0.3};
  const std::vector<int> y{1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_NEAR(roc_auc(s, y), 0.57407407407407407, 1e-15);
}

TEST(RmMetrics, RocAucEmptyClassIsNaNAndBadInputThrows) {
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.2}, {1, 1})));
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.2}, {0, 0})));
  EXPECT_TRUE(std::isnan(roc_auc({}, {})));
  EXPECT_THROW(roc_auc({0.1, 0.2}, {1}), Error);
  EXPECT_THROW(roc_auc({0.1, 0.2}, {1, 2}), Error);
}

TEST(RmMetrics, RankAgreementHandComputed) {
  // List 0: teacher 0 > 2 > 1, model 3 > 2 > 1: all 3 pairs agree, tau 1.
  // List 1: teacher 0 > 1 > 2, model 1 = 1 > 0: pairs tie, agree, agree -> 2.5 of 3;
  //   tau-b = (C - D) / sqrt(n0 (n0 - model ties)) = 2 / sqrt(3 * 2).
  RankAgreement r = rank_agreement({{3, 1, 2}, {1, 1, 0}}, {{0, 2, 1}, {0, 1, 2}});
  EXPECT_EQ(r.pairs, 6);
  EXPECT_EQ(r.lists, 2);
  EXPECT_DOUBLE_EQ(r.pairwise, 5.5 / 6);
  EXPECT_NEAR(r.kendall_tau, (1 + 2 / std::sqrt(6.0)) / 2, 1e-15);
  // A reversed list: tau -1, no agreement.
  RankAgreement rev = rank_agreement({{1, 2, 3, 4}}, {{0, 1, 2, 3}});
  EXPECT_DOUBLE_EQ(rev.pairwise, 0.0);
  EXPECT_DOUBLE_EQ(rev.kendall_tau, -1.0);
}

TEST(RmMetrics, RankAgreementMatchesBruteForceTauB) {
  // Reference: numpy brute force over pairs with tau-b = (C - D) / sqrt((n0 - tx)(n0 - ty)), the
  // teacher's order as ranks 6..1 (no ties), model scores with ties; the same pairs for agreement.
  RankAgreement r = rank_agreement({{0.3, 0.1, 0.3, 0.9, 0.5, 0.1}}, {{3, 0, 2, 4, 1, 5}});
  EXPECT_NEAR(r.kendall_tau, 0.64450338663548956, 1e-14);
  EXPECT_NEAR(r.pairwise, 12.0 / 15, 1e-15);
  EXPECT_EQ(r.pairs, 15);
}

TEST(RmMetrics, RankAgreementPartialAndDegenerateLists) {
  // Only ranked candidates count; a one-candidate ranking holds no pair; an all-tied model has no
  // tau-b and counts as 0.
  RankAgreement r = rank_agreement({{5, 9, 1}, {2}, {4, 4}}, {{0, 2}, {0}, {1, 0}});
  EXPECT_EQ(r.lists, 2);
  EXPECT_EQ(r.pairs, 2);
  EXPECT_DOUBLE_EQ(r.pairwise, (1 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(r.kendall_tau, (1 + 0) / 2.0);
  EXPECT_TRUE(std::isnan(rank_agreement({{1.0}}, {{0}}).pairwise));
  EXPECT_THROW(rank_agreement({{1, 2}}, {{0, 2}}), Error);      // index out of range
  EXPECT_THROW(rank_agreement({{1, 2}}, {{0, 0}}), Error);      // ranked twice
  EXPECT_THROW(rank_agreement({{1, 2}}, {{0, 1}, {0}}), Error);  // list count mismatch
}

TEST(RmMetrics, PredictedFirstError) {
  EXPECT_EQ(predicted_first_error({0.9, 0.8, 0.3, 0.9}), 2);
  EXPECT_EQ(predicted_first_error({0.9, 0.8, 0.3, 0.9}, 0.85), 1);
  EXPECT_EQ(predicted_first_error({0.9, 0.5, 0.7}), -1);  // 0.5 is not below 0.5
  EXPECT_EQ(predicted_first_error({}), -1);
}

TEST(RmMetrics, FirstErrorF1HandComputed) {
  // Correct solutions (truth -1): 2, of which 1 predicted -1 -> 1/2.
  // Wrong ones: truth 2, 0, 1 predicted 2, 0, -1 -> 2/3. F1 = 2 (1/2)(2/3) / (1/2 + 2/3) = 4/7.
  FirstErrorF1 f = first_error_f1({-1, 3, 2, 0, -1}, {-1, -1, 2, 0, 1});
  EXPECT_EQ(f.n_correct, 2);
  EXPECT_EQ(f.n_wrong, 3);
  EXPECT_DOUBLE_EQ(f.acc_correct, 0.5);
  EXPECT_DOUBLE_EQ(f.acc_wrong, 2.0 / 3);
  EXPECT_NEAR(f.f1, 4.0 / 7, 1e-15);
  // A wrong solution flagged one step late is a miss (acc_wrong 0), so F1 is 0.
  FirstErrorF1 late = first_error_f1({2, -1}, {1, -1});
  EXPECT_DOUBLE_EQ(late.acc_wrong, 0.0);
  EXPECT_DOUBLE_EQ(late.acc_correct, 1.0);
  EXPECT_DOUBLE_EQ(late.f1, 0.0);
  EXPECT_TRUE(std::isnan(first_error_f1({-1}, {-1}).f1));  // no wrong solutions
  EXPECT_THROW(first_error_f1({-1}, {-1, 2}), Error);
}

}  // namespace
}  // namespace rleif::rm
