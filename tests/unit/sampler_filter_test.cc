// Sampler: exact top-k / top-p / min-p / temperature filtering on crafted logits, inverse-CDF draws,
// batch independence, and the counter-based random stream.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "rollout/sampling.h"

namespace rleif::rollout {
namespace {

// Probabilities 0.5, 0.2, 0.15, 0.1, 0.05 placed at shuffled token ids (so index mapping is tested).
const std::vector<int64_t> kIds = {3, 0, 4, 1, 2};
const std::vector<double> kProbs = {0.5, 0.2, 0.15, 0.1, 0.05};

torch::Tensor crafted_logits() {  // [1,5]
  auto l = torch::zeros({1, 5});
  for (size_t i = 0; i < kIds.size(); ++i) l[0][kIds[i]] = std::log(kProbs[i]) + 1.7;  // shift: softmax-invariant
  return l;
}

// The filtered distribution scattered back to vocabulary order: [V].
torch::Tensor vocab_dist(const torch::Tensor& logits, const SamplingParams& p) {
  auto rp = RowParams::make({&p}, {0.0}, torch::kCPU);
  auto [probs, idx] = filtered_distribution(logits, rp);
  return torch::zeros({logits.size(1)}).scatter(0, idx[0], probs[0]);
}

// Expected distribution keeping the first `keep` ranked tokens of kProbs^(1/temp), renormalised.
torch::Tensor expected(size_t keep, double temp = 1.0) {
  auto e = torch::zeros({5}, torch::kFloat64);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += std::pow(kProbs[i], 1.0 / temp);
  for (size_t i = 0; i < keep; ++i) e[kIds[i]] = std::pow(kProbs[i], 1.0 / temp) / total;
  return e.to(torch::kFloat32);
}

void expect_dist(const torch::Tensor& got, const torch::Tensor& want) {
  EXPECT_TRUE(torch::allclose(got, want, 0, 1e-6)) << "got " << got << "\nwant " << want;
}

TEST(Sampler, TopKKeepsExactlyKMostLikely) {
  SamplingParams p;
  p.top_k = 2;
  expect_dist(vocab_dist(crafted_logits(), p), expected(2));
  p.top_k = 4;
  expect_dist(vocab_dist(crafted_logits(), p), expected(4));
  p.top_k = 50;  // larger than the vocabulary: no-op
  expect_dist(vocab_dist(crafted_logits(), p), expected(5));
}

TEST(Sampler, TopPKeepsSmallestSetReachingMass) {
  SamplingParams p;
  // Mass before each ranked token: 0, .5, .7, .85, .95. A token stays while that is < top_p.
  for (auto [top_p, keep] : std::vector<std::pair<double, size_t>>{{0.3, 1}, {0.6, 2}, {0.8, 3}, {0.9, 4}, {0.99, 5}}) {
    p.top_p = top_p;
    SCOPED_TRACE(top_p);
    expect_dist(vocab_dist(crafted_logits(), p), expected(keep));
  }
}

TEST(Sampler, MinPIsRelativeToTopProbability) {
  SamplingParams p;
  // Ratios to the top: 1, .4, .3, .2, .1.
  for (auto [min_p, keep] : std::vector<std::pair<double, size_t>>{{0.45, 1}, {0.35, 2}, {0.25, 3}, {0.15, 4}, {0.05, 5}}) {
    p.min_p = min_p;
    SCOPED_TRACE(min_p);
    expect_dist(vocab_dist(crafted_logits(), p), expected(keep));
  }
}

TEST(Sampler, FiltersComposeInHuggingFaceOrder) {
  SamplingParams p;
  p.top_k = 4;   // .5 .2 .15 .1 renormalised by .95: mass before = 0, .526, .737, .895
  p.top_p = 0.8; // -> keeps 3
  expect_dist(vocab_dist(crafted_logits(), p), expected(3));
  p.min_p = 0.35;  // ratios .4, .3 -> keeps 2
  expect_dist(vocab_dist(crafted_logits(), p), expected(2));
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  SamplingParams p;
  p.temperature = 2.0;
  p.top_k = 5;
  expect_dist(vocab_dist(crafted_logits(), p), expected(5, 2.0));
  p.temperature = 0.5;
  expect_dist(vocab_dist(crafted_logits(), p), expected(5, 0.5));
  // Top-p applies to the tempered distribution: at T=0.5 the masses are .25,.04,.0225,.01,.0025
  // over .325 -> .769 first, so top_p 0.75 keeps just the top token.
  p.top_k = 0;
  p.top_p = 0.75;
  expect_dist(vocab_dist(crafted_logits(), p), expected(1, 0.5));
}

TEST(Sampler, DrawsReachKeptTokensOnly) {
  SamplingParams p;
  p.top_k = 2;  // kept: id 3 (0.714), id 0 (0.286)
  std::set<int64_t> seen;
  for (double u : {0.0, 0.28, 0.29, 0.5, 0.7, 0.72, 1.0 - 1.0 / (1 << 24)}) {
    auto rp = RowParams::make({&p}, {u}, torch::kCPU);
    const int64_t t = sample_tokens(crafted_logits(), rp)[0].item<int64_t>();
    EXPECT_EQ(sample_tokens_cpu(crafted_logits(), {&p}, {u})[0], t) << "u " << u;
    EXPECT_TRUE(t == 3 || t == 0) << "u " << u << " drew dropped token " << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 2u) << "both kept tokens are drawn";
  // Without filters the draw walks the vocabulary in id order: ids 0 (.2), 1 (.1), 2 (.05), 3 (.5), 4.
  SamplingParams plain;
  auto rp = RowParams::make({&plain, &plain, &plain}, {0.1, 0.25, 0.9}, torch::kCPU);
  auto t = sample_tokens(crafted_logits().expand({3, 5}), rp);
  EXPECT_EQ(t[0].item<int64_t>(), 0);
  EXPECT_EQ(t[1].item<int64_t>(), 1);
  EXPECT_EQ(t[2].item<int64_t>(), 4);
}

TEST(Sampler, FrequenciesMatchTheFilteredDistribution) {
  SamplingParams p;
  p.top_p = 0.9;  // keeps 4 tokens: .5 .2 .15 .1 over .95
  const int n = 20000;
  std::vector<const SamplingParams*> ps(n, &p);
  std::vector<double> us(n);
  for (int i = 0; i < n; ++i) us[i] = stream_uniform(42, 0, static_cast<uint64_t>(i));
  auto rp = RowParams::make(ps, us, torch::kCPU);
  auto tokens = sample_tokens(crafted_logits().expand({n, 5}), rp);
  auto counts = torch::bincount(tokens, {}, 5).to(torch::kFloat64);
  auto want = expected(4).to(torch::kFloat64);
  for (int64_t v = 0; v < 5; ++v) {
    const double q = want[v].item<double>(), c = counts[v].item<double>();
    const double sigma = std::sqrt(n * q * (1 - q)) + 1e-9;
    EXPECT_LE(std::abs(c - n * q), 5 * sigma) << "token " << v << ": " << c << " draws, expected " << n * q;
  }
  EXPECT_EQ(counts[2].item<double>(), 0);  // the dropped token (p=.05) is never drawn
}

TEST(Sampler, RowResultDoesNotDependOnNeighbours) {
  SamplingParams a;
  a.top_p = 0.9;
  a.temperature = 0.8;
  SamplingParams topk, greedy, plain;
  topk.top_k = 3;  // neighbours with another filter, greedy, and none
  greedy.temperature = 0;
  auto logits = torch::randn({4, 300}, torch::TensorOptions().dtype(torch::kFloat32)) * 3;
  for (int i = 0; i < 200; ++i) {
    const double u = stream_uniform(7, 1, static_cast<uint64_t>(i));
    auto alone = sample_tokens(logits.narrow(0, 0, 1), RowParams::make({&a}, {u}, torch::kCPU))[0].item<int64_t>();
    auto mixed = sample_tokens(logits, RowParams::make({&a, &topk, &greedy, &plain}, {u, 0.3, 0.0, u}, torch::kCPU));
    ASSERT_EQ(mixed[0].item<int64_t>(), alone) << "draw " << i;
    // A row without filters draws the same token beside filtered rows as beside plain ones.
    auto plain_alone = sample_tokens(logits.narrow(0, 3, 1), RowParams::make({&plain}, {u}, torch::kCPU));
    ASSERT_EQ(mixed[3].item<int64_t>(), plain_alone[0].item<int64_t>()) << "draw " << i;
    ASSERT_EQ(mixed[2].item<int64_t>(), logits[2].argmax().item<int64_t>());
  }
  // Rows that all cap k take the partial top-k path; the result equals the full sort's.
  SamplingParams k2;
  k2.top_k = 2;
  SamplingParams k2p;
  k2p.top_k = 2;
  k2p.top_p = 0.999;  // forces nothing but keeps the row in the filtered path
  for (int i = 0; i < 100; ++i) {
    const double u = stream_uniform(9, 0, static_cast<uint64_t>(i));
    auto with_sort = sample_tokens(logits, RowParams::make({&k2, &k2, &k2, &plain}, {u, u, u, u}, torch::kCPU));
    auto with_topk = sample_tokens(logits, RowParams::make({&k2, &k2, &k2, &k2p}, {u, u, u, u}, torch::kCPU));
    ASSERT_TRUE(torch::equal(with_sort.narrow(0, 0, 3), with_topk.narrow(0, 0, 3))) << "draw " << i;
  }
}

TEST(Sampler, NearTiesDoNotChangeTheDraw) {
  // A flat distribution (an untrained model) whose logits move by rounding-sized amounts, as when the
  // same row is computed in another batch: many near-tied tokens change rank. Drawing in rank order
  // would then pick another token in most draws; in vocabulary order only a uniform within ~1e-6 of
  // a token boundary, or a token at the top-p edge, can change the draw.
  torch::manual_seed(3);
  const int64_t v = 2000;
  auto logits = torch::randn({1, v}) * 1e-2;
  auto moved = logits + torch::randn({1, v}) * 1e-6;
  SamplingParams topp, topk, minp;
  topp.top_p = 0.95;
  topk.top_k = 1500;
  minp.min_p = 0.5;
  for (const SamplingParams* p : {&topp, &topk, &minp}) {
    int changed = 0, changed_cpu = 0;
    const int n = 300;
    for (int i = 0; i < n; ++i) {
      const double u = stream_uniform(5, 0, static_cast<uint64_t>(i));
      auto a = sample_tokens(logits, RowParams::make({p}, {u}, torch::kCPU))[0].item<int64_t>();
      auto b = sample_tokens(moved, RowParams::make({p}, {u}, torch::kCPU))[0].item<int64_t>();
      changed += a != b;
      changed_cpu += sample_tokens_cpu(logits, {p}, {u})[0] != sample_tokens_cpu(moved, {p}, {u})[0];
    }
    EXPECT_LE(changed, n / 100) << "top_k " << p->top_k << " top_p " << p->top_p << " min_p " << p->min_p;
    EXPECT_LE(changed_cpu, n / 100) << "top_k " << p->top_k << " top_p " << p->top_p << " min_p " << p->min_p;
  }
}

TEST(Sampler, CpuLoopSamplerEqualsTensorSampler) {
  // The fused CPU sampler against its reference, over every filter combination and many draws.
  std::vector<SamplingParams> kinds(8);
  kinds[0].temperature = 0;
  kinds[1].temperature = 0.7;
  kinds[2].top_k = 5;
  kinds[3].top_p = 0.8;
  kinds[4].min_p = 0.05;
  kinds[5].top_k = 40, kinds[5].top_p = 0.9, kinds[5].temperature = 1.3;
  kinds[6].top_p = 0.95, kinds[6].min_p = 0.02, kinds[6].temperature = 0.5;
  kinds[7].top_k = 300;  // the whole vocabulary
  torch::manual_seed(4);
  auto logits = torch::randn({16, 300}) * 3;
  int64_t compared = 0;
  for (uint64_t step = 0; step < 60; ++step) {
    std::vector<const SamplingParams*> ps;
    std::vector<double> us;
    for (int64_t r = 0; r < 16; ++r) {
      ps.push_back(&kinds[(r + step) % kinds.size()]);
      us.push_back(ps.back()->greedy() ? 0.0 : stream_uniform(11, static_cast<uint64_t>(r), step));
    }
    auto ref = sample_tokens(logits, RowParams::make(ps, us, torch::kCPU));
    auto got = sample_tokens_cpu(logits, ps, us);
    for (int64_t r = 0; r < 16; ++r, ++compared)
      ASSERT_EQ(got[r], ref[r].item<int64_t>()) << "row " << r << " step " << step;
  }
  EXPECT_EQ(compared, 960);
}

TEST(Sampler, StreamUniformIsACounterBasedStream) {
  std::set<double> seen;
  double sum = 0;
  for (uint64_t s = 0; s < 3; ++s)
    for (uint64_t j = 0; j < 3; ++j)
      for (uint64_t t = 0; t < 500; ++t) {
        const double u = stream_uniform(s, j, t);
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        ASSERT_EQ(u, stream_uniform(s, j, t));
        seen.insert(u);
        sum += u;
      }
  EXPECT_GT(seen.size(), 4490u);  // distinct across seeds, samples and steps (24-bit draws)
  EXPECT_NEAR(sum / 4500, 0.5, 0.02);
}

TEST(Sampler, TokenLogprobsAreTheRawModelLogSoftmax) {
  auto logits = torch::randn({3, 11});
  auto tokens = torch::tensor({4, 0, 10}, torch::kInt64);
  auto lp = token_logprobs(logits, tokens);
  auto ref = torch::log_softmax(logits, -1).gather(1, tokens.unsqueeze(1)).squeeze(1);
  EXPECT_LT((lp - ref).abs().max().item<float>(), 1e-6);
}

TEST(Sampler, ValidateNamesTheFieldAndRange) {
  auto msg = [](auto edit) {
    SamplingParams p;
    edit(p);
    try {
      p.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg([](SamplingParams& p) { p.top_p = 0; }).find("top_p"), std::string::npos);
  EXPECT_NE(msg([](SamplingParams& p) { p.temperature = -1; }).find("temperature"), std::string::npos);
  EXPECT_NE(msg([](SamplingParams& p) { p.min_p = 1.5; }).find("min_p"), std::string::npos);
  EXPECT_NE(msg([](SamplingParams& p) { p.n = 0; }).find("sampling.n"), std::string::npos);
  EXPECT_NE(msg([](SamplingParams& p) { p.stop = {""}; }).find("empty"), std::string::npos);
  EXPECT_EQ(msg([](SamplingParams& p) { p.top_k = 5; }), "");
}

}  // namespace
}  // namespace rleif::rollout
