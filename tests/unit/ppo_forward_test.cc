// The PPO trainer's forward passes and experience: log-probs at the sampling temperature, the same
// numbers for a row whatever else is in its batch (packed, padded, alone), micro-batched gradients
// equal to the whole minibatch's, the rollout engine following in-place optimizer steps, rewards on
// the last token, GRPO's cancellation of the per-prompt factor r_I, and per-step reward placement.
#include <gtest/gtest.h>

#include <cmath>

#include "core/fs.h"
#include "model/causal_lm.h"
#include "model/lora.h"
#include "model/score_model.h"
#include "ppo/experience.h"
#include "ppo/forward.h"
#include "ppo/reward.h"
#include "rollout/engine.h"
#include "train/optim.h"
#include "train/sft.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"

namespace rleif::ppo {
namespace {

model::ModelConfig tiny_config() {
  const std::string dir = test::temp_dir("ppo_forward");
  const std::string p = test::write_tiny_config(dir, 2, 32);
  auto mc = model::ModelConfig::from_json(json::parse(read_file(p)), p);
  mc.eos_token_ids = {2};
  mc.bos_token_id = 1;
  return mc;
}

model::CausalLM tiny_lm(uint64_t seed = 3) {
  torch::manual_seed(seed);
  model::CausalLM lm(tiny_config());
  train::init_fresh_weights(lm, 0.2);  // wide weights: peaked distributions, so temperature matters
  return lm;
}

std::vector<SeqRow> some_rows() {
  std::vector<SeqRow> rows;
  torch::manual_seed(11);
  const int plen[] = {5, 9, 3, 7}, alen[] = {6, 2, 11, 4};
  for (int i = 0; i < 4; ++i) {
    SeqRow r;
    auto p = torch::randint(3, 1024, {plen[i]}, torch::kInt64), a = torch::randint(3, 1024, {alen[i]}, torch::kInt64);
    r.prompt.push_back(1);
    for (int j = 0; j < plen[i]; ++j) r.prompt.push_back(static_cast<int32_t>(p[j].item<int64_t>()));
    for (int j = 0; j < alen[i]; ++j) r.response.push_back(static_cast<int32_t>(a[j].item<int64_t>()));
    rows.push_back(r);
  }
  return rows;
}

// log p(response | prompt) at temperature T from one full-sequence forward of the row alone.
torch::Tensor reference_logp(model::CausalLM& lm, const SeqRow& r, double t) {
  std::vector<int64_t> ids(r.prompt.begin(), r.prompt.end());
  ids.insert(ids.end(), r.response.begin(), r.response.end());
  auto x = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  auto logits = lm->forward(x).squeeze(0).to(torch::kFloat64) / t;  // [T,V]
  auto lz = torch::log_softmax(logits, -1);
  const int64_t p = static_cast<int64_t>(r.prompt.size()), a = static_cast<int64_t>(r.response.size());
  std::vector<double> out;
  for (int64_t j = 0; j < a; ++j) out.push_back(lz[p - 1 + j][r.response[static_cast<size_t>(j)]].item<double>());
  return torch::tensor(out, torch::kFloat64);
}

TEST(PpoForward, LogprobsUseTheSamplingTemperature) {
  auto lm = tiny_lm();
  torch::NoGradGuard ng;
  auto rows = some_rows();
  for (double t : {1.0, 0.7}) {
    auto f = policy_forward(lm, rows, {0, 1, 2, 3}, 11, t, true, torch::kCPU);
    for (int64_t i = 0; i < 4; ++i) {
      auto want = reference_logp(lm, rows[static_cast<size_t>(i)], t);
      const int64_t a = want.size(0);
      EXPECT_TRUE(torch::allclose(f.logp[i].narrow(0, 0, a).to(torch::kFloat64), want, 1e-5, 1e-5)) << "T=" << t << " row " << i;
      EXPECT_EQ(f.logp[i].narrow(0, a, 11 - a).abs().sum().item<double>(), 0.0);  // padding
    }
  }
  // The two temperatures really give different numbers on this model.
  auto f1 = policy_forward(lm, rows, {0}, 6, 1.0, false, torch::kCPU).logp;
  auto f2 = policy_forward(lm, rows, {0}, 6, 0.7, false, torch::kCPU).logp;
  EXPECT_GT((f1 - f2).abs().max().item<double>(), 1e-3);
}

TEST(PpoForward, RowNumbersDoNotDependOnTheBatchOrPadding) {
  auto lm = tiny_lm();
  torch::NoGradGuard ng;
  auto rows = some_rows();
  auto all = policy_forward(lm, rows, {0, 1, 2, 3}, 11, 1.0, true, torch::kCPU);
  for (int64_t i = 0; i < 4; ++i) {
    auto alone = policy_forward(lm, rows, {i}, 11, 1.0, true, torch::kCPU);  // one row: the padded path
    EXPECT_TRUE(torch::allclose(all.logp[i], alone.logp[0], 1e-5, 1e-6)) << i;
    EXPECT_TRUE(torch::allclose(all.entropy[i], alone.entropy[0], 1e-5, 1e-6)) << i;
  }
  auto pair = policy_forward(lm, rows, {3, 1}, 11, 1.0, false, torch::kCPU);
  EXPECT_TRUE(torch::allclose(pair.logp[0], all.logp[3], 1e-5, 1e-6));
  // Entropy of a position: -sum p log p of the tempered distribution, positive and below log V.
  EXPECT_GT(all.entropy[0][0].item<double>(), 0.0);
  EXPECT_LT(all.entropy[0][0].item<double>(), std::log(1024.0));

  torch::manual_seed(5);
  model::ScoreModel critic(tiny_config());
  train::init_fresh_weights(*critic, 0.2);
  auto v = critic_values(critic, rows, {0, 1, 2, 3}, 11, torch::kCPU);
  for (int64_t i = 0; i < 4; ++i) {
    auto v1 = critic_values(critic, rows, {i}, 11, torch::kCPU);
    EXPECT_TRUE(torch::allclose(v[i], v1[0], 1e-5, 1e-6)) << i;
  }
  // V(s_t) is the head at the position before token t: the last prompt token for t = 0.
  const auto& r0 = rows[0];
  std::vector<int64_t> ids(r0.prompt.begin(), r0.prompt.end());
  auto sc = critic->forward(torch::tensor(ids, torch::kInt64).unsqueeze(0));  // [1,P]
  EXPECT_NEAR(v[0][0].item<double>(), sc[0][static_cast<int64_t>(ids.size()) - 1].item<double>(), 1e-5);
}

// Samples of one prompt next to each other in idx share the prompt in the packed forward (a group's
// first row whole, the others their responses only): log-probs, entropies, values and the gradients of
// a loss over them equal those of the same rows in an order where no two neighbours share a prompt.
// Groups: 3 samples (one a single token), 1, and 2 samples.
TEST(PpoForward, AdjacentSamplesOfOnePromptShareItWithTheSameNumbers) {
  auto base = some_rows();
  std::vector<SeqRow> rows;
  for (int i : {0, 0, 0, 1, 2, 2}) rows.push_back(base[static_cast<size_t>(i)]);
  rows[1].response = {7};
  rows[2].response.assign(base[3].response.begin(), base[3].response.end());
  rows[5].response.assign(base[1].response.begin(), base[1].response.end());
  const std::vector<int64_t> grouped{0, 1, 2, 3, 4, 5}, apart{0, 3, 1, 4, 2, 5};
  const int64_t width = 11;
  torch::manual_seed(13);
  auto weight = torch::randn({6, width});  // a loss sum(weight * logp) over the rows
  auto lm = tiny_lm();
  torch::manual_seed(5);
  model::ScoreModel critic(tiny_config());
  train::init_fresh_weights(*critic, 0.2);
  struct Out {
    torch::Tensor logp, entropy, values;  // [6, width] in the rows' order
    std::vector<torch::Tensor> lm_grads, critic_grads;
  };
  auto run = [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> back(6);  // back[row] = its place in idx
    for (size_t k = 0; k < idx.size(); ++k) back[static_cast<size_t>(idx[k])] = static_cast<int64_t>(k);
    auto order = torch::tensor(back, torch::kInt64);
    auto f = policy_forward(lm, rows, idx, width, 1.0, true, torch::kCPU);
    auto v = critic_values(critic, rows, idx, width, torch::kCPU);
    Out o{f.logp.index_select(0, order), f.entropy.index_select(0, order), v.index_select(0, order), {}, {}};
    ((o.logp + o.entropy) * weight).sum().backward();
    (o.values * weight).sum().backward();
    for (auto& p : lm->parameters()) o.lm_grads.push_back(p.grad().clone()), p.mutable_grad().zero_();
    for (auto& p : critic->parameters()) o.critic_grads.push_back(p.grad().clone()), p.mutable_grad().zero_();
    o.logp = o.logp.detach(), o.entropy = o.entropy.detach(), o.values = o.values.detach();
    return o;
  };
  const Out shared = run(grouped), unshared = run(apart);
  EXPECT_TRUE(torch::allclose(shared.logp, unshared.logp, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(shared.entropy, unshared.entropy, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(shared.values, unshared.values, 1e-5, 1e-5));
  EXPECT_EQ(shared.logp[1].narrow(0, 1, width - 1).abs().sum().item<double>(), 0.0);  // the one-token row's padding
  auto close = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, const char* what) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      const double scale = b[k].abs().max().item<double>();
      EXPECT_LE((a[k] - b[k]).abs().max().item<double>(), 1e-5 * scale) << what << " param " << k;
    }
  };
  close(shared.lm_grads, unshared.lm_grads, "policy");
  close(shared.critic_grads, unshared.critic_grads, "critic");
}

TEST(PpoForward, MicroBatchGradientsEqualTheMinibatchGradient) {
  auto rows = some_rows();
  auto adv = torch::tensor({{0.5}, {-1.0}, {2.0}, {0.3}}).expand({4, 11}).contiguous();
  for (LossAgg agg : {LossAgg::token_mean, LossAgg::seq_mean_token_mean, LossAgg::seq_mean_token_sum_norm}) {
    auto grads = [&](int64_t micro) {
      auto lm = tiny_lm();
      auto mask = response_mask(rows, {0, 1, 2, 3}, 11, torch::kCPU);
      torch::Tensor old;
      {
        torch::NoGradGuard ng;
        old = policy_forward(lm, rows, {0, 1, 2, 3}, 11, 1.0, false, torch::kCPU).logp + 0.05 * mask;  // ratio != 1
      }
      const double denom = agg == LossAgg::token_mean ? mask.sum().item<double>() : 4.0;
      for (int64_t s = 0; s < 4; s += micro) {
        std::vector<int64_t> idx;
        for (int64_t i = s; i < std::min<int64_t>(4, s + micro); ++i) idx.push_back(i);
        auto ii = torch::tensor(idx, torch::kInt64);
        auto f = policy_forward(lm, rows, idx, 11, 1.0, false, torch::kCPU);
        auto m = mask.index_select(0, ii);
        auto pl = policy_loss(f.logp, old.index_select(0, ii), adv.index_select(0, ii), m, 0.2, 0.2);
        aggregate_loss(pl.loss, m, agg, denom, 11).backward();
      }
      std::vector<torch::Tensor> g;
      for (auto& p : lm->parameters()) g.push_back(p.grad().clone());
      return g;
    };
    auto g4 = grads(4), g1 = grads(1), g3 = grads(3);
    // Equal up to fp32 summation order: the largest difference is within 1e-5 of the largest gradient
    // (a wrong normaliser is off by a factor of the micro-batch count).
    for (size_t k = 0; k < g4.size(); ++k) {
      const double scale = g4[k].abs().max().item<double>();
      EXPECT_LE((g4[k] - g1[k]).abs().max().item<double>(), 1e-5 * scale) << enum_name(agg) << " param " << k;
      EXPECT_LE((g4[k] - g3[k]).abs().max().item<double>(), 1e-5 * scale) << enum_name(agg) << " param " << k;
    }
  }
}

// The rollout of the engine tests: 2 seeded samples of 12 tokens (EOS ignored) of one 4-token prompt.
rollout::Request two_samples_of_12() {
  rollout::Request req;
  req.prompt = {1, 17, 400, 33};
  req.params.n = 2;
  req.params.max_new_tokens = 12;
  req.params.seed = 9;
  req.params.ignore_eos = true;
  return req;
}

TEST(PpoForward, EngineFollowsFusedOptimizerStepsAndKeepsTrainMode) {
  auto lm = tiny_lm();
  lm->train();
  rollout::EngineOptions eo;
  eo.max_batch = 4;
  eo.max_len = 64;
  rollout::Engine engine(lm, nullptr, eo);
  EXPECT_TRUE(lm->is_training()) << "building an engine must not put the policy in eval mode";
  train::AdamWOptions ao;
  ao.lr = 0.05;
  ao.fused = true;
  train::AdamW opt(train::decay_groups(*lm, 0.0), ao);
  const rollout::Request req = two_samples_of_12();
  for (int round = 0; round < 2; ++round) {
    auto c = engine.generate({req});
    std::vector<SeqRow> rows;
    for (auto& s : c[0].samples) rows.push_back(SeqRow{req.prompt, s.tokens});
    torch::Tensor lp;
    {
      torch::NoGradGuard ng;
      lp = policy_forward(lm, rows, {0, 1}, 12, 1.0, false, torch::kCPU).logp;
    }
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t t = 0; t < 12; ++t)
        EXPECT_NEAR(c[0].samples[static_cast<size_t>(i)].logprobs[static_cast<size_t>(t)], lp[i][t].item<double>(), 1e-4)
            << "round " << round << " sample " << i << " token " << t;
    // An optimizer step between rollouts (PPO's loop): the engine must sample from the new weights.
    auto f = policy_forward(lm, rows, {0, 1}, 12, 1.0, false, torch::kCPU);
    (-f.logp.sum()).backward();
    opt.step(ao.lr);
    opt.zero_grad();
  }
  EXPECT_TRUE(lm->is_training());
}

// PPO with LoRA: the engine samples the adapted policy (its log-probs equal the training forward's
// with the adapters on), follows optimizer steps that touch only the adapters, and the reference
// (the same model with its adapters off) is the untouched base, bitwise.
TEST(PpoForward, EngineFollowsALoraPolicyWhoseReferenceIsTheBase) {
  auto lm = tiny_lm();
  auto base = tiny_lm();  // the same weights, no adapters
  model::LoraOptions lo;
  lo.r = 4;
  lo.alpha = 8;
  lo.dropout = 0.1;  // training forwards only: the engine and no-grad forwards must not drop
  model::add_lora(*lm, lo);
  {
    torch::manual_seed(5);
    torch::NoGradGuard ng;
    for (auto& p : lm->named_parameters())
      if (p.key().find(".lora_B.") != std::string::npos) p.value().normal_(0.0, 0.1);
  }
  lm->train();
  rollout::EngineOptions eo;
  eo.max_batch = 4;
  eo.max_len = 64;
  rollout::Engine engine(lm, nullptr, eo);
  train::AdamWOptions ao;
  ao.lr = 0.05;
  ao.fused = true;
  auto groups = train::decay_groups(*lm, 0.0);
  for (auto& g : groups)
    for (auto& n : g.names) EXPECT_NE(n.find(".lora_"), std::string::npos) << n << " is trainable";
  train::AdamW opt(groups, ao);
  const rollout::Request req = two_samples_of_12();
  for (int round = 0; round < 2; ++round) {
    auto c = engine.generate({req});
    std::vector<SeqRow> rows;
    for (auto& s : c[0].samples) rows.push_back(SeqRow{req.prompt, s.tokens});
    torch::Tensor lp, ref, want_ref;
    {
      torch::NoGradGuard ng;
      lp = policy_forward(lm, rows, {0, 1}, 12, 1.0, false, torch::kCPU).logp;
      {
        model::LoraDisabled off(*lm);
        ref = policy_forward(lm, rows, {0, 1}, 12, 1.0, false, torch::kCPU).logp;
      }
      want_ref = policy_forward(base, rows, {0, 1}, 12, 1.0, false, torch::kCPU).logp;
    }
    EXPECT_TRUE(torch::equal(ref, want_ref)) << "round " << round << ": adapters off is not the base policy";
    EXPECT_GT((lp - ref).abs().max().item<double>(), 1e-3) << "the adapters change nothing";
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t t = 0; t < 12; ++t)
        EXPECT_NEAR(c[0].samples[static_cast<size_t>(i)].logprobs[static_cast<size_t>(t)], lp[i][t].item<double>(), 1e-4)
            << "round " << round << " sample " << i << " token " << t;
    auto f = policy_forward(lm, rows, {0, 1}, 12, 1.0, false, torch::kCPU);
    (-f.logp.sum()).backward();
    opt.step(ao.lr);
    opt.zero_grad();
  }
}

TEST(PpoExperience, TerminalRewardLandsOnTheLastTokenAndKlEverywhere) {
  Experience e;
  e.mask = torch::tensor({{1.f, 1.f, 1.f}, {1.f, 0.f, 0.f}});
  e.scores = torch::tensor({2.f, -1.f});
  e.kl = torch::tensor({{0.1f, 0.2f, 0.3f}, {0.5f, 0.f, 0.f}});
  e.values = torch::zeros({2, 3});
  AlgoOptions a;
  a.whiten_advantages = false;
  a.lambda = 1.0;
  compute_advantages(e, a, 0.5);
  auto want = torch::tensor({{-0.05f, -0.1f, 2.f - 0.15f}, {-1.f - 0.25f, 0.f, 0.f}});
  EXPECT_TRUE(torch::allclose(e.rewards, want, 1e-6, 1e-6)) << e.rewards;
  // gamma = lambda = 1, V = 0: the advantage is the reward still to come.
  auto adv = torch::tensor({{1.7f, 1.75f, 1.85f}, {-1.25f, 0.f, 0.f}});
  EXPECT_TRUE(torch::allclose(e.advantages, adv, 1e-6, 1e-6)) << e.advantages;
  // KL in the loss instead: the reward carries the score alone.
  a.kl_in = KlPlacement::loss;
  compute_advantages(e, a, 0.5);
  EXPECT_FLOAT_EQ(e.rewards[0][0].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(e.rewards[0][2].item<float>(), 2.f);
}

TEST(PpoExperience, GrpoWithGroupStdCancelsThePerPromptFactor) {
  // r = r_I * r_A: r_I is one number per prompt, so with the group's std it cancels (WizardMath's
  // instruction reward then changes nothing under GRPO); with scale_rewards=none it scales.
  Experience e;
  e.mask = torch::ones({6, 2});
  e.group = {0, 0, 0, 1, 1, 1};
  auto r_a = torch::tensor({0.9f, 0.2f, 0.5f, 0.7f, 0.1f, 0.4f});
  AlgoOptions a;
  a.advantage = Advantage::grpo;
  a.kl.beta = 0;
  e.scores = r_a;
  compute_advantages(e, a, 0.0);
  auto plain = e.advantages.clone();
  e.scores = r_a * torch::tensor({0.3f, 0.3f, 0.3f, 0.8f, 0.8f, 0.8f});
  compute_advantages(e, a, 0.0);
  EXPECT_TRUE(torch::allclose(e.advantages, plain, 1e-3, 1e-3)) << e.advantages << plain;
  a.scale_rewards = ScaleRewards::none;
  compute_advantages(e, a, 0.0);
  auto scaled = e.advantages.clone();
  e.scores = r_a;
  compute_advantages(e, a, 0.0);
  EXPECT_FALSE(torch::allclose(scaled, e.advantages, 1e-3, 1e-3));
}

TEST(PpoExperience, NegativeScaleShrinksOnlyBelowBaselineSamples) {
  // GRPO, scale_rewards=none: a = r - mean_group. negative_scale multiplies a < 0 only, on every
  // estimator, after the estimator (the baseline is still the group's mean).
  Experience e;
  e.mask = torch::tensor({{1.f, 1.f}, {1.f, 0.f}, {1.f, 1.f}, {1.f, 1.f}});
  e.group = {0, 0, 1, 1};
  e.scores = torch::tensor({1.f, 0.f, 0.25f, 0.75f});
  AlgoOptions a;
  a.advantage = Advantage::grpo;
  a.scale_rewards = ScaleRewards::none;
  compute_advantages(e, a, 0.0);
  EXPECT_TRUE(torch::allclose(e.advantages, torch::tensor({{0.5f, 0.5f}, {-0.5f, 0.f}, {-0.25f, -0.25f}, {0.25f, 0.25f}})))
      << e.advantages;
  a.negative_scale = 0.2;
  compute_advantages(e, a, 0.0);
  EXPECT_TRUE(torch::allclose(e.advantages, torch::tensor({{0.5f, 0.5f}, {-0.1f, 0.f}, {-0.05f, -0.05f}, {0.25f, 0.25f}})))
      << e.advantages;
  // Positive only, on GAE: the critic's returns keep the full signal.
  a.advantage = Advantage::gae;
  a.whiten_advantages = false;
  a.lambda = 1.0;
  a.negative_scale = 0;
  e.scores = torch::tensor({1.f, -1.f, 0.25f, 0.75f});
  e.values = torch::zeros({4, 2});
  compute_advantages(e, a, 0.0);
  EXPECT_FLOAT_EQ(e.advantages[1][0].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(e.returns[1][0].item<float>(), -1.f);
  EXPECT_FLOAT_EQ(e.advantages[0][0].item<float>(), 1.f);
  EXPECT_FLOAT_EQ(e.returns[2][0].item<float>(), 0.25f);
  a.negative_scale = 1.5;
  EXPECT_THROW(a.validate(), Error);
}

// The terminal reward takes the missing-EOS and missing-answer penalties on top of the reward itself;
// a response states an answer with "The answer is" or "####".
TEST(PpoReward, MissingEosAndMissingAnswerArePenalised) {
  RewardOptions o;
  o.kind = RewardKind::rule;
  o.missing_eos_penalty = 1.0;
  o.missing_answer_penalty = 0.5;
  Rewarder r(o, train::PromptTemplate::plain, "cpu");
  auto s = r.score({{"q", "2 + 2 = 4\nThe answer is: 4", "4", true},
                    {"q", "2 + 2 = 5\nThe answer is: 5", "4", true},
                    {"q", "2 + 2 = 4\n#### 4", "4", true},
                    {"q", "2 + 2 = 4", "4", true},
                    {"q", "2 + 2 = 4 and so", "4", false},
                    {"q", "2 + 2 = 4\nThe answer is: 4", "4", false}});
  ASSERT_EQ(s.size(), 6u);
  const std::vector<double> want{1.0, 0.0, 1.0, -0.5, -1.5, 0.0};
  const std::vector<bool> answered{true, true, true, false, false, true};
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_DOUBLE_EQ(s[i].score, want[i]) << i;
    EXPECT_EQ(s[i].answered, answered[i]) << i;
  }
  o.missing_answer_penalty = -1;
  EXPECT_THROW(o.validate(), Error);
}

TEST(PpoReward, MidrankAmongReferenceLogits) {
  const std::vector<double> ref{-2.0, -1.0, 0.5, 0.5, 3.0};
  EXPECT_DOUBLE_EQ(midrank(ref, -5.0), 0.0);
  EXPECT_DOUBLE_EQ(midrank(ref, 9.0), 1.0);
  EXPECT_DOUBLE_EQ(midrank(ref, -2.0), 0.5 / 5);       // its own entry counts half
  EXPECT_DOUBLE_EQ(midrank(ref, 0.0), 2.0 / 5);        // above two
  EXPECT_DOUBLE_EQ(midrank(ref, 0.5), (2 + 1.0) / 5);  // a tie of two counts 1
  EXPECT_DOUBLE_EQ(midrank(ref, 0.5 + 1e-9), (2 + 1.0) / 5) << "last-bit differences are ties";
  EXPECT_DOUBLE_EQ(midrank(ref, 0.5 + 1e-3), 4.0 / 5);
  EXPECT_THROW(midrank({}, 1.0), Error);
  RewardOptions o;
  o.kind = RewardKind::rleif;
  o.irm = o.prm = "x";
  o.irm_reference_prompts = 0;
  EXPECT_THROW(o.validate(), Error);
}

TEST(PpoReward, StepEndsMapToTheTokensThatFinishThem) {
  const std::string text = "a = 1 + 2 = 3.\n\nb = 3 * 2 = 6.\nThe answer is: 6";
  auto ends = step_end_offsets(text);
  ASSERT_EQ(ends.size(), 3u);
  EXPECT_EQ(ends[0], 14);
  EXPECT_EQ(text[static_cast<size_t>(ends[1])], '\n');
  EXPECT_EQ(ends[2], static_cast<int64_t>(text.size()));
  // Tokens covering text [0,5), [5,14), [14,16), [16,31), [31,end): each step ends inside one.
  std::vector<int64_t> text_ends = {5, 14, 16, 31, static_cast<int64_t>(text.size())};
  auto toks = offsets_to_tokens(ends, text_ends);
  EXPECT_EQ(toks, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(offsets_to_tokens({999}, text_ends), (std::vector<int64_t>{4}));
}

}  // namespace
}  // namespace rleif::ppo
