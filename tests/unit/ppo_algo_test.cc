// PPO / GRPO / RLOO arithmetic (ppo/algo.h) against hand-computed literals; GAE also against the
// explicit per-element loop gae_reference on random right-padded rows.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "ppo/algo.h"
#include "tests/test_util.h"

namespace rleif::ppo {
namespace {

using test::error_of;
using torch::Tensor;
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor F(torch::detail::TensorDataContainer d) { return torch::tensor(std::move(d)).to(torch::kFloat); }

// Same shape and every element within tol (the message prints both tensors).
void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-6) {
  ASSERT_EQ(got.sizes(), want.sizes()) << "got\n" << got << "\nwant\n" << want;
  const double diff = (got.to(torch::kDouble) - want.to(torch::kDouble)).abs().max().item<double>();
  EXPECT_LE(diff, tol) << "got\n" << got << "\nwant\n" << want;
}

// ---------------------------------------------------------------- KL estimators

TEST(PpoAlgo, KlEstimatorsHandComputed) {
  // log r = logp - ref = [0.5, -1.0] on real tokens; the third token is padding (log r = 3 there).
  auto logp = F({{-1.0, -2.0, 3.0}});
  auto ref = F({{-1.5, -1.0, 0.0}});
  auto mask = F({{1, 1, 0}});
  expect_close(kl_estimate(logp, ref, mask, KlEstimator::k1), F({{0.5, -1.0, 0.0}}));
  expect_close(kl_estimate(logp, ref, mask, KlEstimator::k2), F({{0.125, 0.5, 0.0}}));
  // k3 = exp(-log r) - 1 + log r: exp(-0.5) - 0.5 = 0.10653066, exp(1) - 2 = 0.71828183.
  expect_close(kl_estimate(logp, ref, mask, KlEstimator::k3), F({{0.10653066, 0.71828183, 0.0}}));
  // Any float dtype in, fp32 out.
  auto k3_bf16 = kl_estimate(logp.to(torch::kBFloat16), ref.to(torch::kBFloat16), mask, KlEstimator::k3);
  EXPECT_EQ(k3_bf16.scalar_type(), torch::kFloat);
  expect_close(k3_bf16, F({{0.10653066, 0.71828183, 0.0}}), 1e-6);
}

TEST(PpoAlgo, KlEstimatorsFiniteAtLargeLogRatioAndClamped) {
  // log r = +50, -50, +100, -100: clamped to +-20 first, so k3 = exp(20) - 21 at -20 and
  // exp(-20) + 19 at +20 (exp(100) overflows fp32 without the clamp).
  auto logp = F({{50.0, -50.0, 100.0, -100.0}});
  auto ref = torch::zeros_like(logp);
  auto mask = torch::ones_like(logp);
  for (auto k : {KlEstimator::k1, KlEstimator::k2, KlEstimator::k3}) {
    auto kl = kl_estimate(logp, ref, mask, k);
    EXPECT_TRUE(torch::isfinite(kl).all().item<bool>()) << enum_name(k) << ": " << kl;
  }
  expect_close(kl_estimate(logp, ref, mask, KlEstimator::k1), F({{20.0, -20.0, 20.0, -20.0}}));
  expect_close(kl_estimate(logp, ref, mask, KlEstimator::k2), F({{200.0, 200.0, 200.0, 200.0}}));
  const double lo = std::exp(-20.0) + 19.0, hi = std::exp(20.0) - 21.0;
  auto k3 = kl_estimate(logp, ref, mask, KlEstimator::k3);
  EXPECT_NEAR(k3[0][0].item<double>(), lo, 1e-5);
  EXPECT_NEAR(k3[0][1].item<double>() / hi, 1.0, 1e-6);
  EXPECT_NEAR(k3[0][3].item<double>() / hi, 1.0, 1e-6);
  // A custom clamp of 5.
  expect_close(kl_estimate(logp, ref, mask, KlEstimator::k1, 5.0), F({{5.0, -5.0, 5.0, -5.0}}));
}

TEST(PpoAlgo, KlEstimatorsZeroOnPaddingEvenForNonFiniteInputs) {
  auto logp = F({{-1.0, 7.0, 9.0}});
  auto ref = F({{-1.0, -kInf, 0.0}});  // padding may hold anything, -inf included
  auto mask = F({{1, 0, 0}});
  for (auto k : {KlEstimator::k1, KlEstimator::k2, KlEstimator::k3})
    expect_close(kl_estimate(logp, ref, mask, k), F({{0.0, 0.0, 0.0}}));
}

TEST(PpoAlgo, ShapeMismatchesNameTheShapes) {
  auto a = torch::zeros({2, 3}), b = torch::zeros({2, 4});
  std::string e = error_of([&] { kl_estimate(a, b, a, KlEstimator::k1); });
  EXPECT_NE(e.find("[2,4]"), std::string::npos) << e;
  EXPECT_NE(e.find("[2,3]"), std::string::npos) << e;
  e = error_of([&] { gae(a, a, b, 1.0, 0.95); });
  EXPECT_NE(e.find("'mask' has shape [2,4]"), std::string::npos) << e;
  e = error_of([&] { policy_loss(a, a, b, a, 0.2, 0.2); });
  EXPECT_NE(e.find("[2,4]"), std::string::npos) << e;
  e = error_of([&] { token_rewards(torch::zeros({3}), a, a, 0.1); });
  EXPECT_NE(e.find("'score' has shape [3]"), std::string::npos) << e;
  e = error_of([&] { grpo_advantages(torch::zeros({3}), torch::zeros({2}, torch::kLong), ScaleRewards::group); });
  EXPECT_NE(e.find("'group' has shape [2]"), std::string::npos) << e;
}

// ---------------------------------------------------------------- per-token rewards

TEST(PpoAlgo, TokenRewardsKlEverywhereScoreOnLastRealToken) {
  auto kl = F({{0.1, 0.2, 0.3}, {0.4, 0.5, 9.0}, {7.0, 7.0, 7.0}});
  auto mask = F({{1, 1, 1}, {1, 1, 0}, {0, 0, 0}});
  auto score = F({1.0, 2.0, 5.0});
  // beta 0.5: row 0 ends at 2: [-0.05, -0.1, -0.15 + 1]; row 1 ends at 1: [-0.2, -0.25 + 2, 0];
  // row 2 is empty: nothing, its score included.
  expect_close(token_rewards(score, kl, mask, 0.5), F({{-0.05, -0.1, 0.85}, {-0.2, 1.75, 0.0}, {0.0, 0.0, 0.0}}));
  auto last = last_index(mask);
  EXPECT_EQ(last.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(last, torch::tensor({2, 1, -1}, torch::kLong))) << last;
}

// ---------------------------------------------------------------- GAE

TEST(PpoAlgo, GaeHandComputedOneByThree) {
  // rewards [0,0,1], values [0.5,0.6,0.7], gamma 1, lambda 0.95:
  // t=2: delta = 1 + 0 - 0.7 = 0.3; A = 0.3
  // t=1: delta = 0 + 0.7 - 0.6 = 0.1; A = 0.1 + 0.95 * 0.3 = 0.385
  // t=0: delta = 0 + 0.6 - 0.5 = 0.1; A = 0.1 + 0.95 * 0.385 = 0.46575
  // returns = A + V = [0.96575, 0.985, 1.0]. Two padding columns with garbage change nothing.
  auto r = F({{0.0, 0.0, 1.0, 5.0, -3.0}});
  auto v = F({{0.5, 0.6, 0.7, 9.0, 4.0}});
  auto m = F({{1, 1, 1, 0, 0}});
  auto want_a = F({{0.46575, 0.385, 0.3, 0.0, 0.0}});
  auto want_r = F({{0.96575, 0.985, 1.0, 0.0, 0.0}});
  auto [a, ret] = gae(r, v, m, 1.0, 0.95);
  expect_close(a, want_a);
  expect_close(ret, want_r);
  auto [ar, retr] = gae_reference(r, v, m, 1.0, 0.95);
  expect_close(ar, want_a);
  expect_close(retr, want_r);
  // gamma 0.5, lambda 0: A_t = r_t + 0.5 V_{t+1} - V_t = [0.3 - 0.5, 0.35 - 0.6, 1 - 0.7].
  expect_close(gae(r, v, m, 0.5, 0.0).first, F({{-0.2, -0.25, 0.3, 0.0, 0.0}}));
}

// Random right-padded rows (one empty, one full) with garbage in the padding.
struct Rows {
  Tensor r, v, m;
};
Rows random_rows(int64_t B, int64_t A, uint64_t seed) {
  torch::manual_seed(seed);
  auto len = torch::randint(0, A + 1, {B}, torch::kLong);
  len[0] = 0;
  len[1] = A;
  auto m = (torch::arange(A).unsqueeze(0) < len.unsqueeze(1)).to(torch::kFloat);
  return {torch::randn({B, A}), torch::randn({B, A}), m};
}

TEST(PpoAlgo, GaeMatchesExplicitLoopOnRandomRows) {
  Rows x = random_rows(6, 9, 3);
  for (auto [g, l] : std::vector<std::pair<double, double>>{{1.0, 0.95}, {0.99, 0.9}, {1.0, 1.0}, {0.5, 0.0}}) {
    SCOPED_TRACE("gamma " + std::to_string(g) + " lambda " + std::to_string(l));
    auto [a, ret] = gae(x.r, x.v, x.m, g, l);
    auto [ar, retr] = gae_reference(x.r, x.v, x.m, g, l);
    expect_close(a, ar, 1e-5);
    expect_close(ret, retr, 1e-5);
    EXPECT_EQ(a.masked_select(x.m == 0).abs().sum().item<double>(), 0.0);
    EXPECT_EQ(ret.masked_select(x.m == 0).abs().sum().item<double>(), 0.0);
  }
  // bf16 inputs are accepted; the math and the result are fp32.
  auto a16 = gae(x.r.to(torch::kBFloat16), x.v.to(torch::kBFloat16), x.m, 1.0, 0.95).first;
  EXPECT_EQ(a16.scalar_type(), torch::kFloat);
}

TEST(PpoAlgo, GaeWithUnitGammaLambdaIsRewardToGoMinusValue) {
  Rows x = random_rows(5, 7, 11);
  auto rm = x.r * x.m;
  // Reward-to-go: reverse cumulative sum over the real tokens.
  auto to_go = rm.flip(1).cumsum(1).flip(1);
  auto [a, ret] = gae(x.r, x.v, x.m, 1.0, 1.0);
  expect_close(a, (to_go - x.v) * x.m, 1e-5);
  expect_close(ret, to_go * x.m, 1e-5);
}

// ---------------------------------------------------------------- GRPO / RLOO

TEST(PpoAlgo, GrpoTwoGroupsAllScales) {
  // Groups 7 (scores 1,2,3: mean 2, unbiased std 1) and 3 (scores 0,4: mean 2, std sqrt(8)).
  auto s = F({1.0, 2.0, 3.0, 0.0, 4.0});
  auto g = torch::tensor({7, 7, 7, 3, 3}, torch::kLong);
  expect_close(grpo_advantages(s, g, ScaleRewards::group, 0.0), F({-1.0, 0.0, 1.0, -0.70710678, 0.70710678}));
  // eps in the denominator: 1 / (1 + 1e-4), 2 / (sqrt(8) + 1e-4).
  expect_close(grpo_advantages(s, g, ScaleRewards::group),
               F({-0.99990001, 0.0, 0.99990001, -0.70708178, 0.70708178}));
  // batch: the same centred rewards over the batch's unbiased std sqrt(10 / 4) = 1.58113883.
  expect_close(grpo_advantages(s, g, ScaleRewards::batch, 0.0),
               F({-0.63245553, 0.0, 0.63245553, -1.26491106, 1.26491106}));
  expect_close(grpo_advantages(s, g, ScaleRewards::none), F({-1.0, 0.0, 1.0, -2.0, 2.0}));
}

TEST(PpoAlgo, GrpoSingleMemberGroupGetsZero) {
  // Group 1 (0, 2): mean 1, std sqrt(2); group 2 has one member (5).
  auto s = F({0.0, 2.0, 5.0});
  auto g = torch::tensor({1, 1, 2}, torch::kLong);
  expect_close(grpo_advantages(s, g, ScaleRewards::group, 0.0), F({-0.70710678, 0.70710678, 0.0}));
  expect_close(grpo_advantages(s, g, ScaleRewards::none), F({-1.0, 1.0, 0.0}));
  EXPECT_EQ(grpo_advantages(s, g, ScaleRewards::batch)[2].item<double>(), 0.0);
  auto one = grpo_advantages(F({4.0}), torch::tensor({0}, torch::kLong), ScaleRewards::batch);
  EXPECT_EQ(one.item<double>(), 0.0);
  EXPECT_TRUE(torch::isfinite(grpo_advantages(F({3.0, 3.0}), torch::tensor({0, 0}, torch::kLong),
                                              ScaleRewards::group))
                  .all()
                  .item<bool>());
}

// RLEIF rewards are r = r_I * r_A with r_I one number per prompt (the instruction reward). With
// scale=group, a group's advantages are invariant to multiplying all its rewards by c > 0
// ((c r - c mean) / (c std + eps)), so r_I cancels up to eps and only r_A ranks the samples of a
// prompt; with scale=none (Dr. GRPO) r_I scales the advantages.
TEST(PpoAlgo, GrpoGroupScaleCancelsPerPromptRewardFactor) {
  auto r_a = F({0.2, 0.9, 0.5, 0.1, 0.8, 0.3});
  auto g = torch::tensor({0, 0, 0, 1, 1, 1}, torch::kLong);
  auto r_i = F({0.5, 0.5, 0.5, 3.0, 3.0, 3.0});  // per prompt
  auto r = r_i * r_a;
  expect_close(grpo_advantages(r, g, ScaleRewards::group, 0.0), grpo_advantages(r_a, g, ScaleRewards::group, 0.0),
               1e-5);
  // With the default eps the difference is of the order eps / std (here < 1e-3).
  auto a_eps = grpo_advantages(r, g, ScaleRewards::group), b_eps = grpo_advantages(r_a, g, ScaleRewards::group);
  expect_close(a_eps, b_eps, 2e-3);
  EXPECT_GT((a_eps - b_eps).abs().max().item<double>(), 0.0);  // eps does not cancel exactly
  // scale=none: the advantages are r_I times those of r_A, not equal.
  auto none = grpo_advantages(r, g, ScaleRewards::none), none_a = grpo_advantages(r_a, g, ScaleRewards::none);
  expect_close(none, r_i * none_a, 1e-6);
  EXPECT_GT((none - none_a).abs().max().item<double>(), 0.1);
  // scale=batch does not cancel a factor that differs between prompts.
  auto batch = grpo_advantages(r, g, ScaleRewards::batch), batch_a = grpo_advantages(r_a, g, ScaleRewards::batch);
  EXPECT_GT((batch - batch_a).abs().max().item<double>(), 0.1);
}

TEST(PpoAlgo, RlooHandComputed) {
  // Group 7 (1,2,3): 1 - 2.5, 2 - 2, 3 - 1.5; group 3 (0,4): 0 - 4, 4 - 0; group 5 alone: 0.
  auto s = F({1.0, 2.0, 3.0, 0.0, 4.0, 9.0});
  auto g = torch::tensor({7, 7, 7, 3, 3, 5}, torch::kLong);
  expect_close(rloo_advantages(s, g), F({-1.5, 0.0, 1.5, -4.0, 4.0, 0.0}));
}

TEST(PpoAlgo, ZeroStdShare) {
  // Group 0 flat (2 seqs), group 1 spread, group 2 single (1), group 3 flat (3): 6 of 8.
  auto s = F({1.0, 1.0, 0.0, 1.0, 5.0, 2.0, 2.0, 2.0});
  auto g = torch::tensor({0, 0, 1, 1, 2, 3, 3, 3}, torch::kLong);
  EXPECT_DOUBLE_EQ(zero_std_share(s, g), 0.75);
  EXPECT_DOUBLE_EQ(zero_std_share(F({0.0, 1.0}), torch::tensor({4, 4}, torch::kLong)), 0.0);
}

// ---------------------------------------------------------------- whitening and aggregation

TEST(PpoAlgo, MaskedWhiten) {
  // Real values 1..5: mean 3, unbiased var (4 + 1 + 0 + 1 + 4) / 4 = 2.5.
  auto x = F({{1.0, 2.0, 3.0, 100.0}, {4.0, 5.0, 100.0, -100.0}});
  auto m = F({{1, 1, 1, 0}, {1, 1, 0, 0}});
  const double s = std::sqrt(2.5);
  auto w = masked_whiten(x, m);
  expect_close(w, F({{-2 / s, -1 / s, 0.0, 0.0}, {1 / s, 2 / s, 0.0, 0.0}}), 1e-6);
  auto real = w.masked_select(m > 0);
  EXPECT_NEAR(real.mean().item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(real.var(/*unbiased=*/true).item<double>(), 1.0, 1e-5);
  auto k = masked_whiten(x, m, /*shift_mean=*/false);
  expect_close(k, F({{3 - 2 / s, 3 - 1 / s, 3.0, 0.0}, {3 + 1 / s, 3 + 2 / s, 0.0, 0.0}}), 1e-6);
  EXPECT_NEAR(k.masked_select(m > 0).mean().item<double>(), 3.0, 1e-6);
  EXPECT_NEAR(masked_mean(x, m).item<double>(), 3.0, 1e-6);
  EXPECT_EQ(masked_mean(x, torch::zeros_like(m)).item<double>(), 0.0);
}

TEST(PpoAlgo, AggregateLossHandComputed) {
  // Tokens 1,2,3 (row 0), 4 (row 1), row 2 empty; padding holds 9.
  auto l = F({{1.0, 2.0, 3.0, 9.0}, {4.0, 9.0, 9.0, 9.0}, {9.0, 9.0, 9.0, 9.0}});
  auto m = F({{1, 1, 1, 0}, {1, 0, 0, 0}, {0, 0, 0, 0}});
  EXPECT_NEAR(aggregate_loss(l, m, LossAgg::token_mean).item<double>(), 10.0 / 4, 1e-6);
  // Row means 2 and 4; the empty row is skipped.
  EXPECT_NEAR(aggregate_loss(l, m, LossAgg::seq_mean_token_mean).item<double>(), 3.0, 1e-6);
  // Dr. GRPO: 10 / (3 rows * A = 4), or 10 / (3 * 5) with norm_len 5.
  EXPECT_NEAR(aggregate_loss(l, m, LossAgg::seq_mean_token_sum_norm).item<double>(), 10.0 / 12, 1e-6);
  EXPECT_NEAR(aggregate_loss(l, m, LossAgg::seq_mean_token_sum_norm, 0, 5).item<double>(), 10.0 / 15, 1e-6);
  // An explicit denominator replaces the count.
  EXPECT_NEAR(aggregate_loss(l, m, LossAgg::token_mean, 8).item<double>(), 10.0 / 8, 1e-6);
  EXPECT_NEAR(aggregate_loss(l, m, LossAgg::seq_mean_token_mean, 4).item<double>(), 6.0 / 4, 1e-6);
  // Gradients flow through.
  auto lg = l.clone().requires_grad_(true);
  aggregate_loss(lg, m, LossAgg::token_mean).backward();
  expect_close(lg.grad(), m / 4);
}

TEST(PpoAlgo, AggregateLossMicroBatchesSumToMinibatch) {
  Rows x = random_rows(7, 6, 5);
  x.m[0][0] = 1;  // every row non-empty, so the seq modes count the same rows
  auto loss = x.r;
  const double tokens = x.m.sum().item<double>(), rows = 7;
  for (auto agg : {LossAgg::token_mean, LossAgg::seq_mean_token_mean, LossAgg::seq_mean_token_sum_norm}) {
    SCOPED_TRACE(enum_name(agg));
    const double denom = agg == LossAgg::token_mean ? tokens : rows;
    const double whole = aggregate_loss(loss, x.m, agg).item<double>();
    double parts = 0;
    for (auto [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {2, 3}, {3, 7}})
      parts += aggregate_loss(loss.slice(0, lo, hi), x.m.slice(0, lo, hi), agg, denom).item<double>();
    EXPECT_NEAR(parts, whole, 1e-5);
  }
}

// ---------------------------------------------------------------- losses

TEST(PpoAlgo, PolicyLossRatioOneWhenOnPolicy) {
  auto logp = F({{-0.3, -2.0, -1.1}});
  auto adv = F({{1.5, -0.5, 2.0}});
  auto m = F({{1, 1, 0}});
  auto out = policy_loss(logp, logp, adv, m, 0.2, 0.2);
  expect_close(out.ratio, F({{1.0, 1.0, 0.0}}), 0.0);
  expect_close(out.clipped, F({{0.0, 0.0, 0.0}}), 0.0);
  expect_close(out.loss, F({{-1.5, 0.5, 0.0}}));
}

TEST(PpoAlgo, PolicyLossClipHandComputed) {
  // ratios 1.5, 1.5, 0.5, 0.5 with A = +1, -1, +1, -1, eps 0.2; loss = max(-rA, -clip(r)A):
  // r 1.5 A +1: max(-1.5, -1.2) = -1.2 (clipped); r 1.5 A -1: max(1.5, 1.2) = 1.5;
  // r 0.5 A +1: max(-0.5, -0.8) = -0.5;           r 0.5 A -1: max(0.5, 0.8) = 0.8 (clipped).
  auto old = torch::zeros({1, 5});
  auto logp = F({{std::log(1.5), std::log(1.5), std::log(0.5), std::log(0.5), 4.0}});
  auto adv = F({{1.0, -1.0, 1.0, -1.0, 1.0}});
  auto m = F({{1, 1, 1, 1, 0}});
  auto out = policy_loss(logp, old, adv, m, 0.2, 0.2);
  expect_close(out.loss, F({{-1.2, 1.5, -0.5, 0.8, 0.0}}));
  expect_close(out.clipped, F({{1.0, 0.0, 0.0, 1.0, 0.0}}), 0.0);
  expect_close(out.ratio, F({{1.5, 1.5, 0.5, 0.5, 0.0}}));
  // Asymmetric clip (clip-higher): eps_low 0.3, eps_high 0.28 -> 1.28 and 0.7.
  auto asym = policy_loss(logp, old, adv, m, 0.3, 0.28);
  expect_close(asym.loss, F({{-1.28, 1.5, -0.5, 0.7, 0.0}}));
}

TEST(PpoAlgo, PolicyLossDualClipCapsNegativeAdvantages) {
  // ratio 5: A = -1 -> max(5, 1.2) = 5 capped at -3 * A = 3; A = -2 -> 10 capped at 6;
  // A = +1 -> max(-5, -1.2) = -1.2 (no cap); ratio 1.5, A = -1 -> 1.5 < 3 unchanged.
  auto old = torch::zeros({1, 4});
  auto logp = F({{std::log(5.0), std::log(5.0), std::log(5.0), std::log(1.5)}});
  auto adv = F({{-1.0, -2.0, 1.0, -1.0}});
  auto m = torch::ones({1, 4});
  expect_close(policy_loss(logp, old, adv, m, 0.2, 0.2, 3.0).loss, F({{3.0, 6.0, -1.2, 1.5}}), 1e-5);
  expect_close(policy_loss(logp, old, adv, m, 0.2, 0.2).loss, F({{5.0, 10.0, -1.2, 1.5}}), 1e-5);
  EXPECT_NE(error_of([&] { policy_loss(logp, old, adv, m, 0.2, 0.2, 0.5); }).find("dual_clip"), std::string::npos);
  // A log-ratio of 100 is clamped to 20 before exp: finite.
  auto big = policy_loss(F({{100.0}}), F({{0.0}}), F({{-1.0}}), F({{1}}), 0.2, 0.2);
  EXPECT_TRUE(torch::isfinite(big.loss).all().item<bool>());
}

TEST(PpoAlgo, ValueLossClippedAndUnclipped) {
  // eps 0.2: pos 0: (1-2)^2 = 1 vs (0.5 + 0.2 - 2)^2 = 1.69 -> 0.845 (clipped);
  // pos 1: (2-0.5)^2 = 2.25 vs (1 + 0.2 - 0.5)^2 = 0.49 -> 1.125; pos 2: 1 vs 1 -> 0.5; pos 3 padding.
  auto v = F({{1.0, 2.0, 0.0, 50.0}});
  auto old = F({{0.5, 1.0, 0.0, -50.0}});
  auto ret = F({{2.0, 0.5, 1.0, 7.0}});
  auto m = F({{1, 1, 1, 0}});
  auto c = value_loss(v, old, ret, m, 0.2);
  expect_close(c.loss, F({{0.845, 1.125, 0.5, 0.0}}));
  expect_close(c.clipped, F({{1.0, 0.0, 0.0, 0.0}}), 0.0);
  auto u = value_loss(v, old, ret, m, 0.0);
  expect_close(u.loss, F({{0.5, 1.125, 0.5, 0.0}}));
  expect_close(u.clipped, torch::zeros({1, 4}), 0.0);
  auto big = value_loss(F({{1e6}}), F({{-1e6}}), F({{3e5}}), F({{1}}), 0.2);
  EXPECT_TRUE(torch::isfinite(big.loss).all().item<bool>());
}

TEST(PpoAlgo, EntropyFromLogits) {
  auto logits = F({{0.0, 0.0, 0.0, 0.0}, {1.0, 2.0, 3.0, 4.0}, {0.5, -kInf, 1.0, -kInf}});
  auto h = entropy_from_logits(logits);
  ASSERT_EQ(h.sizes(), torch::IntArrayRef({3}));
  // The reference in the test: -sum p log p in double, terms with p = 0 left out.
  std::vector<double> want;
  for (int64_t i = 0; i < 3; ++i) {
    auto row = logits[i].to(torch::kDouble);
    auto p = torch::softmax(row, 0);
    double s = 0;
    for (int64_t j = 0; j < 4; ++j) {
      const double pj = p[j].item<double>();
      if (pj > 0) s -= pj * std::log(pj);
    }
    want.push_back(s);
  }
  EXPECT_NEAR(want[0], std::log(4.0), 1e-12);
  expect_close(h, torch::tensor(want), 1e-6);
  auto h16 = entropy_from_logits(logits.to(torch::kBFloat16));
  EXPECT_EQ(h16.scalar_type(), torch::kFloat);
  EXPECT_NEAR(h16[0].item<double>(), std::log(4.0), 1e-6);
}

TEST(PpoAlgo, ExplainedVariance) {
  auto ret = F({{1.0, 2.0, 3.0, 4.0, 99.0}});
  auto m = F({{1, 1, 1, 1, 0}});
  EXPECT_NEAR(explained_variance(ret, ret, m), 1.0, 1e-12);
  // R - V = [0,0,0,-1]: var 0.1875; var R = 1.25 -> 1 - 0.15 = 0.85 (padding ignored).
  EXPECT_NEAR(explained_variance(F({{1.0, 2.0, 3.0, 5.0, -7.0}}), ret, m), 0.85, 1e-6);
  const double flat = explained_variance(F({{0.3, 0.1, 0.2, 0.0}}), F({{0.1, 0.1, 0.1, 0.1}}), torch::ones({1, 4}));
  EXPECT_EQ(flat, 0.0);
}

// ---------------------------------------------------------------- KL controller

TEST(PpoAlgo, KlControllerFixedWhenTargetZero) {
  KlControlOptions o;
  o.beta = 0.1;
  KlController c(o);
  c.update(100.0, 1000);
  EXPECT_DOUBLE_EQ(c.beta(), 0.1);
}

TEST(PpoAlgo, KlControllerAdaptiveHandComputed) {
  KlControlOptions o;
  o.beta = 0.1;
  o.target = 6;
  o.horizon = 10000;
  KlController c(o);
  c.update(12.0, 100);  // e = clip(12/6 - 1, +-0.2) = 0.2
  EXPECT_NEAR(c.beta(), 0.1 * (1 + 0.2 * 100 / 10000), 1e-15);
  KlController d(o);
  d.update(5.4, 100);  // e = 5.4/6 - 1 = -0.1 (inside the clip)
  EXPECT_NEAR(d.beta(), 0.1 * (1 - 0.1 * 100 / 10000), 1e-15);
}

TEST(PpoAlgo, KlControllerStateRoundTripAndBadState) {
  KlControlOptions o;
  o.beta = 0.1;
  o.target = 6;
  KlController c(o);
  c.update(12.0, 500);
  KlController d(o);
  d.load_state(c.state(), "ckpt/trainer_state.json");
  EXPECT_EQ(d.beta(), c.beta());
  EXPECT_EQ(c.state().at("beta").get<double>(), c.beta());
  for (const json& bad : {json{{"beta", "x"}}, json{{"kl", 1}}, json::array(), json{{"beta", -1.0}}}) {
    const std::string e = error_of([&] { d.load_state(bad, "ckpt/trainer_state.json"); });
    EXPECT_NE(e.find("ckpt/trainer_state.json"), std::string::npos) << e;
  }
  EXPECT_EQ(d.beta(), c.beta());  // a failed load keeps the old beta
}

TEST(PpoAlgo, KlControlOptionsValidate) {
  KlControlOptions o;
  EXPECT_NO_THROW(o.validate());
  o.beta = -0.1;
  EXPECT_NE(error_of([&] { o.validate(); }).find("algo.kl.beta"), std::string::npos);
  o = KlControlOptions{};
  o.target = -1;
  EXPECT_NE(error_of([&] { o.validate(); }).find("algo.kl.target"), std::string::npos);
  o = KlControlOptions{};
  o.horizon = 0;
  EXPECT_NE(error_of([&] { o.validate(); }).find("algo.kl.horizon"), std::string::npos);
}

TEST(PpoAlgo, EnumNames) {
  EXPECT_STREQ(enum_name(KlEstimator::k3), "k3");
  EXPECT_EQ(parse_enum<LossAgg>("seq_mean_token_sum_norm", "x"), LossAgg::seq_mean_token_sum_norm);
  EXPECT_EQ(parse_enum<ScaleRewards>("none", "x"), ScaleRewards::none);
  EXPECT_EQ(parse_enum<Advantage>("rloo", "x"), Advantage::rloo);
}

}  // namespace
}  // namespace rleif::ppo
