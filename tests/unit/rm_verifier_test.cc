// The likelihood head (rm/verifier.h): its scored-token mask, its step features against the model's
// own per-token log-probs read by hand, the calibration against the logistic-regression optimum, and a
// tiny likelihood PRM that trains, resumes bit for bit and scores through rm::Scorer as it trained.
#include <gtest/gtest.h>

#include <cmath>

#include "core/fs.h"
#include "core/jsonl.h"
#include "rm/scorer.h"
#include "rm/task.h"
#include "rm/verifier.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"

namespace rleif::rm {
namespace {

class Likelihood : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("rmlik");
    tok_path_ = test::write_math_tokenizer(dir_);
    cfg_path_ = test::write_tiny_config(dir_);
    tok_ = std::make_unique<Tokenizer>(Tokenizer::from_file(tok_path_));
  }
  RmConfig config(const std::string& data, const std::string& out) {
    RmConfig c;
    c.model.config = cfg_path_;
    c.model.tokenizer = tok_path_;
    c.data.kind = RmKind::prm;
    c.data.train = data;
    c.data.eval_split = 0.25;
    c.head.kind = HeadKind::likelihood;
    c.encode.prompt_template = train::PromptTemplate::plain;
    c.encode.max_length = 256;
    c.optim.lr = 3e-3;
    c.optim.weight_decay = 0.0;
    c.train.output_dir = out;
    c.train.max_steps = 30;
    c.train.batch_size = 8;
    c.train.threads = 1;
    c.train.deterministic = true;
    c.train.save_every = 10;
    c.train.log_every_s = 1000;
    return c;
  }
  std::string dir_, tok_path_, cfg_path_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(Likelihood, ScoredTokensAreThoseWhoseTextHoldsADigit) {
  const int64_t V = tok_->vocab_size();
  auto digits = scored_token_mask(*tok_, ScoredTokens::digits, V + 3);  // ids past the tokenizer: never scored
  int64_t n = 0;
  for (int64_t id = 0; id < V; ++id) {
    const std::string t = tok_->decode({static_cast<int32_t>(id)});
    const bool want = t.find_first_of("0123456789") != std::string::npos;
    EXPECT_EQ(digits[id].item<bool>(), want) << "id " << id << " '" << t << "'";
    n += want;
  }
  EXPECT_GT(n, 0);
  EXPECT_LT(n, V);
  for (int64_t id = V; id < V + 3; ++id) EXPECT_FALSE(digits[id].item<bool>());
  EXPECT_TRUE(scored_token_mask(*tok_, ScoredTokens::all, V).all().item<bool>());
}

// Digits are the demo's scored tokens; every token makes the check sensitive to an off-by-one
// (a digit rarely sits next to a step end, any token always does).
class LikelihoodFeature : public Likelihood, public ::testing::WithParamInterface<ScoredTokens> {};

TEST_P(LikelihoodFeature, IsTheRunningMinimumOfScoredResponseLogProbs) {
  model::ModelConfig mc = model::ModelConfig::from_json(json::parse(read_file(cfg_path_)), cfg_path_);
  torch::manual_seed(5);
  model::CausalLM lm(mc);
  lm->eval();
  LikelihoodVerifier v(lm, *tok_, GetParam(), 1.5, 0.25, 2);
  const torch::Tensor mask = v->mask;
  ASSERT_TRUE(torch::equal(mask, scored_token_mask(*tok_, GetParam(), mc.vocab_size)));
  EncodeOptions o;
  o.prompt_template = train::PromptTemplate::plain;
  Encoder enc(*tok_, *tok_->eos_id(), o);
  std::vector<Encoded> seqs;
  for (auto& r : test::math_prm_records(5, 13))
    seqs.push_back(enc.prompt_steps(r["prompt"], r["steps"].get<std::vector<std::string>>(), "t"));
  std::vector<const Encoded*> ptrs;
  for (auto& s : seqs) ptrs.push_back(&s);
  torch::NoGradGuard ng;
  ASSERT_TRUE(lm->model->packed_is_fast(512));
  auto packed = v->features(ptrs, torch::kCPU);  // [E] one packed row
  std::vector<double> want;
  for (auto& s : seqs) {
    ASSERT_GT(s.response_start, 0);
    // log p(ids[t] | ids[:t]) for every t >= 1 from the model's own plain forward.
    std::vector<int64_t> ids(s.ids.begin(), s.ids.end());
    auto in = torch::tensor(ids).unsqueeze(0);
    auto lp = torch::log_softmax(lm->forward(in)[0].to(torch::kFloat64), -1);  // [T,V]
    for (int64_t e : s.ends) {
      double m = 0;
      for (int64_t t = s.response_start; t <= e; ++t) {
        bool scored = mask[ids[static_cast<size_t>(t)]].item<bool>();
        // numbers: also the token right after a digit-bearing response token (where a number stops),
        // but not the sequence's last token (the separator appended after the last step).
        const bool last = t + 1 == static_cast<int64_t>(ids.size());
        if (GetParam() == ScoredTokens::numbers && t > s.response_start && !last)
          scored = scored || mask[ids[static_cast<size_t>(t - 1)]].item<bool>();
        if (scored) m = std::min(m, lp[t - 1][ids[static_cast<size_t>(t)]].item<double>());
      }
      want.push_back(m);
    }
  }
  ASSERT_EQ(packed.numel(), static_cast<int64_t>(want.size()));
  int64_t below_zero = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(packed[static_cast<int64_t>(i)].item<double>(), want[i], 1e-5) << "step end " << i;
    below_zero += want[i] < 0;
  }
  EXPECT_GT(below_zero, 0) << "no step saw a scored token: the test checks nothing";
  // One sequence at a time (right-padded path) gives the same, and the logits are [0, scale*m + bias].
  std::vector<torch::Tensor> alone;
  for (auto* s : ptrs) alone.push_back(v->end_logits({s}, torch::kCPU));
  auto logits = torch::cat(alone, 0);
  EXPECT_LT((logits.select(1, 1) - (1.5 * packed + 0.25)).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(logits.select(1, 0).abs().max().item<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Tokens, LikelihoodFeature,
                         ::testing::Values(ScoredTokens::digits, ScoredTokens::numbers, ScoredTokens::all),
                         [](const auto& info) { return std::string(enum_name(info.param)); });

TEST_F(Likelihood, CalibrationReachesTheLogisticRegressionOptimum) {
  torch::manual_seed(7);
  const int64_t n = 20000;
  auto f = (-torch::rand({n}, torch::kFloat64) * 6).to(torch::kFloat32).to(torch::kFloat64);  // log-probs in [-6, 0]
  auto y = torch::bernoulli(torch::sigmoid(1.5 * f + 2.0));
  model::ModelConfig mc = model::ModelConfig::from_json(json::parse(read_file(cfg_path_)), cfg_path_);
  LikelihoodVerifier v(model::CausalLM(mc), *tok_, ScoredTokens::digits, 1.0, 0.0, 2);
  v->calibrate(f.to(torch::kFloat32), y.to(torch::kFloat32));
  const double w = v->scale.item<double>(), c = v->bias.item<double>();
  EXPECT_NEAR(w, 1.5, 0.15);
  EXPECT_NEAR(c, 2.0, 0.2);
  // The documented objective, computed here independently, is lowest at (w, c) among its neighbours.
  const double sd = f.std(false).item<double>();
  auto objective = [&](double a, double b) {
    return torch::binary_cross_entropy_with_logits(a * f + b, y, {}, {}, at::Reduction::Sum).item<double>() +
           0.5 * (a * sd) * (a * sd);
  };
  const double at_fit = objective(w, c);
  for (double da : {-1e-3, 0.0, 1e-3})
    for (double dc : {-1e-3, 0.0, 1e-3})
      if (da != 0 || dc != 0) EXPECT_LT(at_fit, objective(w + da, c + dc)) << "da " << da << " dc " << dc;
  // Separable labels stay finite (the ridge); a constant feature fits the base rate.
  auto sep = (f > -3).to(torch::kFloat32);
  v->calibrate(f.to(torch::kFloat32), sep);
  EXPECT_TRUE(std::isfinite(v->scale.item<double>()) && v->scale.item<double>() > 0);
  v->calibrate(torch::full({10}, -2.0), torch::tensor({1, 1, 1, 0, 0, 0, 0, 0, 0, 0}, torch::kFloat32));
  EXPECT_NEAR(1.0 / (1.0 + std::exp(-(v->scale.item<double>() * -2.0 + v->bias.item<double>()))), 0.3, 1e-5);
}

TEST_F(Likelihood, TrainsResumesBitwiseAndScoresThroughTheScorer) {
  const auto recs = test::math_prm_records(96, 5);
  const std::string data = test::write_records(dir_ + "/prm.jsonl", recs);
  auto ra = run_rm_train(config(data, dir_ + "/a"), "cfg");
  ASSERT_EQ(ra.status, train::TrainStatus::completed);
  ASSERT_TRUE(ra.last_eval.contains("step_auc"));
  std::vector<double> loss;
  for (auto& j : read_jsonl(dir_ + "/a/metrics.jsonl"))
    if (j.contains("loss")) loss.push_back(j["loss"].get<double>());
  ASSERT_EQ(loss.size(), 30u);
  EXPECT_LT(loss[25] + loss[26] + loss[27] + loss[28] + loss[29], loss[0] + loss[1] + loss[2] + loss[3] + loss[4]);
  json cfg = json::parse(read_file(ra.model_dir + "/config.json"));
  EXPECT_EQ(cfg["architectures"][0], "LlamaForCausalLM");
  RmInfo info = RmInfo::load(ra.model_dir);
  EXPECT_EQ(info.head, HeadKind::likelihood);
  EXPECT_EQ(info.tokens, ScoredTokens::digits);
  // The run rolled back to its step-20 checkpoint as if killed after it, and rerun: the same bits.
  RmConfig b = config(data, dir_ + "/b");
  ASSERT_EQ(run_rm_train(b, "cfg").status, train::TrainStatus::completed);
  remove_tree(dir_ + "/b/model");
  remove_tree(dir_ + "/b/checkpoints/checkpoint-30");
  ASSERT_TRUE(path_exists(dir_ + "/b/checkpoints/checkpoint-20")) << "checkpoint layout changed";
  ASSERT_EQ(run_rm_train(b, "cfg").status, train::TrainStatus::completed);
  EXPECT_EQ(read_file(dir_ + "/a/model/model.safetensors"), read_file(dir_ + "/b/model/model.safetensors"));
  EXPECT_EQ(read_file(dir_ + "/a/model/rleif_rm.json"), read_file(dir_ + "/b/model/rleif_rm.json"));
  // The Scorer reads (scale, bias) and the mask from the directory: its steps are sigmoid of the
  // trained network's logits on the same encoding.
  Scorer scorer(ra.model_dir);
  std::vector<std::pair<std::string, std::vector<std::string>>> items;
  for (int i = 0; i < 4; ++i) items.emplace_back(recs[static_cast<size_t>(i)]["prompt"], recs[static_cast<size_t>(i)]["steps"]);
  auto got = scorer.score_steps(items);
  for (size_t i = 0; i < items.size(); ++i) {
    Encoded e = scorer.encoder().prompt_steps(items[i].first, items[i].second, "t");
    torch::NoGradGuard ng;
    auto p = torch::sigmoid(info.scale * scorer.net().likelihood->features({&e}, torch::kCPU) + info.bias);
    ASSERT_EQ(got[i].steps.size(), static_cast<size_t>(p.numel()));
    for (int64_t s = 0; s < p.numel(); ++s) EXPECT_NEAR(got[i].steps[static_cast<size_t>(s)], p[s].item<double>(), 1e-6);
  }
}

// head.probe adds w . h_e to the logit: w starts at 0 (the first loss is the plain likelihood head's),
// trains, is saved in rleif_rm.json, resumes bit for bit, and the Scorer's steps are
// sigmoid(scale * m + bias + w . h_e) with h_e the backbone's last hidden state at each step end.
TEST_F(Likelihood, AProbeAddsTheStepEndHiddenStateToTheLogit) {
  const auto recs = test::math_prm_records(96, 5);
  const std::string data = test::write_records(dir_ + "/prm.jsonl", recs);
  RmConfig plain = config(data, dir_ + "/plain");
  plain.train.max_steps = 1;
  RmConfig a = config(data, dir_ + "/a");
  a.head.probe = true;
  ASSERT_EQ(run_rm_train(plain, "cfg").status, train::TrainStatus::completed);
  auto ra = run_rm_train(a, "cfg");
  ASSERT_EQ(ra.status, train::TrainStatus::completed);
  auto first_loss = [](const std::string& run) {
    for (auto& j : read_jsonl(run + "/metrics.jsonl"))
      if (j.contains("loss")) return j["loss"].get<double>();
    return -1.0;
  };
  EXPECT_EQ(first_loss(dir_ + "/plain"), first_loss(dir_ + "/a")) << "a zero probe is the likelihood head";
  RmInfo info = RmInfo::load(ra.model_dir);
  ASSERT_EQ(info.probe.size(), 32u) << "one weight per hidden unit of the tiny model";
  double norm = 0;
  for (float w : info.probe) norm += std::abs(w);
  EXPECT_GT(norm, 1e-3) << "the probe trained";
  RmConfig b = config(data, dir_ + "/b");
  b.head.probe = true;
  ASSERT_EQ(run_rm_train(b, "cfg").status, train::TrainStatus::completed);
  remove_tree(dir_ + "/b/model");
  remove_tree(dir_ + "/b/checkpoints/checkpoint-30");
  ASSERT_EQ(run_rm_train(b, "cfg").status, train::TrainStatus::completed);
  EXPECT_EQ(read_file(dir_ + "/a/model/model.safetensors"), read_file(dir_ + "/b/model/model.safetensors"));
  EXPECT_EQ(read_file(dir_ + "/a/model/rleif_rm.json"), read_file(dir_ + "/b/model/rleif_rm.json"));

  Scorer scorer(ra.model_dir);
  auto& v = scorer.net().likelihood;
  const auto w = torch::tensor(info.probe);  // [H]
  for (int i = 0; i < 4; ++i) {
    const auto& r = recs[static_cast<size_t>(i)];
    auto got = scorer.score_steps({{r["prompt"], r["steps"].get<std::vector<std::string>>()}});
    Encoded e = scorer.encoder().prompt_steps(r["prompt"], r["steps"].get<std::vector<std::string>>(), "t");
    torch::NoGradGuard ng;
    auto h = v->lm->model->forward(torch::tensor(e.ids, torch::kInt64).unsqueeze(0)).squeeze(0);  // [T,H]
    auto at = h.index_select(0, torch::tensor(e.ends, torch::kInt64));                            // [E,H]
    auto p = torch::sigmoid(info.scale * v->features({&e}, torch::kCPU) + info.bias + at.matmul(w));
    ASSERT_EQ(got[0].steps.size(), static_cast<size_t>(p.numel()));
    for (int64_t s = 0; s < p.numel(); ++s) EXPECT_NEAR(got[0].steps[static_cast<size_t>(s)], p[s].item<double>(), 1e-5);
  }
}

// Continuing a likelihood PRM keeps the scored tokens it was trained with, whatever head.tokens says,
// and records them.
TEST_F(Likelihood, AContinuedModelKeepsItsScoredTokens) {
  const std::string data = test::write_records(dir_ + "/prm.jsonl", test::math_prm_records(16, 5));
  RmConfig a = config(data, dir_ + "/all");
  a.head.tokens = ScoredTokens::all;
  a.train.max_steps = 2;
  auto ra = run_rm_train(a, "cfg");
  ASSERT_EQ(ra.status, train::TrainStatus::completed);
  RmConfig b = config(data, dir_ + "/more");
  b.model.config.clear();
  b.model.path = ra.model_dir;  // head.tokens stays digits
  b.train.max_steps = 2;
  auto rb = run_rm_train(b, "cfg");
  ASSERT_EQ(rb.status, train::TrainStatus::completed);
  EXPECT_EQ(RmInfo::load(rb.model_dir).tokens, ScoredTokens::all);
  EXPECT_TRUE(Scorer(rb.model_dir).net().likelihood->mask.all().item<bool>());
}

TEST_F(Likelihood, OnlyForAPrmOrAnOrm) {
  const std::string data = test::write_records(dir_ + "/prm.jsonl", test::math_prm_records(8, 5));
  RmConfig c = config(data, dir_ + "/x");
  c.data.kind = RmKind::irm;
  const std::string e1 = test::error_of([&] { RmTask t(c); });
  EXPECT_NE(e1.find("it is for data.kind=prm or orm, not irm"), std::string::npos) << e1;
}

}  // namespace
}  // namespace rleif::rm
