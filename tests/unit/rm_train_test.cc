// Reward-model losses against hand-computed values, the encoding (step ends, truncation, errors), the
// padding-free forward against per-sequence forwards, and a tiny PRM / IRM that learns.
#include <gtest/gtest.h>

#include <cmath>

#include "core/fs.h"
#include "model/score_model.h"
#include "rm/dataset.h"
#include "rm/evaluate.h"
#include "rm/losses.h"
#include "rm/task.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"

namespace rleif::rm {
namespace {

double logsig(double x) { return -std::log1p(std::exp(-x)); }

TEST(RmLoss, BradleyTerryAveragesAllPairsOfEachList) {
  // List 0: 3 candidates ranked [2, 0, 1]; list 1: 2 candidates ranked [1, 0].
  auto s = torch::tensor({0.5, -1.0, 2.0, 0.3, 0.7}, torch::kFloat64);
  RankLossOptions o;
  o.margin = 0.25;
  double got = ranking_loss(s, {3, 2}, {{2, 0, 1}, {1, 0}}, o).item<double>();
  const double r0 = 0.5, r1 = -1.0, r2 = 2.0;  // order best..worst: r2 > r0 > r1
  double l0 = -(logsig(r2 - r0 - 0.25) + logsig(r2 - r1 - 0.25) + logsig(r0 - r1 - 0.25)) / 3.0;
  double l1 = -logsig(0.7 - 0.3 - 0.25);
  EXPECT_NEAR(got, l0 + l1, 1e-6);
}

TEST(RmLoss, CenteringAddsMeanSquaredPairSums) {
  auto s = torch::tensor({0.5, -1.0, 2.0}, torch::kFloat64);
  RankLossOptions o;
  o.center_coef = 0.1;
  double plain = ranking_loss(s, {3}, {{2, 0, 1}}, RankLossOptions{}).item<double>();
  double got = ranking_loss(s, {3}, {{2, 0, 1}}, o).item<double>();
  double c = (std::pow(2.0 + 0.5, 2) + std::pow(2.0 - 1.0, 2) + std::pow(0.5 - 1.0, 2)) / 3.0;
  EXPECT_NEAR(got - plain, 0.1 * c, 1e-6);
}

TEST(RmLoss, ListMleIsPlackettLuceAndEqualsBradleyTerryForTwo) {
  auto s = torch::tensor({0.5, -1.0, 2.0}, torch::kFloat64);
  RankLossOptions o;
  o.kind = RankLoss::listmle;
  double got = ranking_loss(s, {3}, {{2, 0, 1}}, o).item<double>();
  // -[log softmax(2, .5, -1)[2] + log softmax(.5, -1)[.5]] / 2
  double a = 2.0 - std::log(std::exp(2.0) + std::exp(0.5) + std::exp(-1.0));
  double b = 0.5 - std::log(std::exp(0.5) + std::exp(-1.0));
  EXPECT_NEAR(got, -(a + b) / 2.0, 1e-6);
  auto two = torch::tensor({0.2, 1.1}, torch::kFloat64);
  EXPECT_NEAR(ranking_loss(two, {2}, {{1, 0}}, o).item<double>(),
              ranking_loss(two, {2}, {{1, 0}}, RankLossOptions{}).item<double>(), 1e-6);
}

TEST(RmLoss, PairwiseWithMarginAndCentering) {
  auto c = torch::tensor({1.0, 0.0}), r = torch::tensor({0.5, 0.5}), m = torch::tensor({0.0, 1.0});
  double got = pairwise_loss(c, r, m, 0.01).item<double>();
  double want = -logsig(0.5) + 0.01 * 1.5 * 1.5 - logsig(-0.5 - 1.0) + 0.01 * 0.25;
  EXPECT_NEAR(got, want, 1e-5);
}

TEST(RmLoss, OutcomeIsBinaryCrossEntropyOnTheLogit) {
  auto l = torch::tensor({2.0, -1.0}), y = torch::tensor({1.0, 0.25});
  double want = -logsig(2.0) - (0.25 * logsig(-1.0) + 0.75 * logsig(1.0));
  EXPECT_NEAR(outcome_loss(l, y).item<double>(), want, 1e-5);
}

TEST(RmLoss, StepLossHardSoftAndUnlabelled) {
  auto logits = torch::tensor({{0.0, 1.0}, {2.0, -1.0}, {0.3, 0.3}}, torch::kFloat32);
  auto lp = torch::log_softmax(logits.to(torch::kFloat64), -1);
  // hard 1, soft 0.25, unlabelled
  double want = -lp[0][1].item<double>() - (0.25 * lp[1][1].item<double>() + 0.75 * lp[1][0].item<double>());
  EXPECT_NEAR(step_loss(logits, torch::tensor({1.0f, 0.25f, -1.0f})).item<double>(), want, 1e-5);
  // A batch without any labelled step: a finite zero that still backpropagates.
  auto x = logits.clone().requires_grad_(true);
  auto none = step_loss(x, torch::tensor({-1.0f, -1.0f, -1.0f}));
  EXPECT_EQ(none.item<double>(), 0.0);
  none.backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
  EXPECT_NEAR(step_probability(logits)[0].item<double>(), 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
}

class RmEncode : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("rmenc");
    tok_ = std::make_unique<Tokenizer>(Tokenizer::from_file(test::write_math_tokenizer(dir_)));
    eos_ = *tok_->eos_id();
  }
  std::string dir_;
  std::unique_ptr<Tokenizer> tok_;
  int32_t eos_ = 0;
};

TEST_F(RmEncode, StepEndsAreTheLastTokenOfEachStepAndSeparator) {
  EncodeOptions o;
  o.prompt_template = train::PromptTemplate::plain;
  Encoder enc(*tok_, eos_, o);
  std::vector<std::string> steps{"Ben has 12 + 5 = 17 marbles.", "The answer is: 17"};
  Encoded e = enc.prompt_steps("Ava has 12 marbles.", steps, "t");
  ASSERT_EQ(e.ends.size(), 2u);
  const auto nl = tok_->encode("\n", false);
  ASSERT_EQ(nl.size(), 1u);
  for (int64_t end : e.ends) EXPECT_EQ(e.ids[static_cast<size_t>(end)], nl[0]);
  EXPECT_EQ(e.ends.back(), static_cast<int64_t>(e.ids.size()) - 1);
  // Prompt then each step + separator tokenised alone, back to back.
  auto want = tok_->encode("Ava has 12 marbles.", true);
  for (auto& s : steps) {
    auto seg = tok_->encode(s + "\n", false);
    want.insert(want.end(), seg.begin(), seg.end());
  }
  EXPECT_EQ(e.ids, want);
}

TEST_F(RmEncode, TruncationKeepsWholeStepsAndCountsTheRest) {
  EncodeOptions o;
  o.prompt_template = train::PromptTemplate::plain;
  std::vector<std::string> steps(20, "Ben has 12 + 5 = 17 marbles.");
  Encoded full = Encoder(*tok_, eos_, o).prompt_steps("Ava has 12 marbles.", steps, "t");
  o.max_length = full.ends[4] + 1;  // room for exactly five steps
  Encoder enc(*tok_, eos_, o);
  Encoded e = enc.prompt_steps("Ava has 12 marbles.", steps, "t");
  EXPECT_EQ(e.ends.size(), 5u);
  EXPECT_EQ(e.dropped_steps, 15);
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(enc.stats().truncated, 1);
  EXPECT_EQ(enc.stats().dropped_steps, 15);
  o.overlong = train::Overlong::skip;
  Encoder skip(*tok_, eos_, o);
  EXPECT_TRUE(skip.prompt_steps("Ava has 12 marbles.", steps, "t").ids.empty());
  EXPECT_EQ(skip.stats().skipped, 1);
  o.overlong = train::Overlong::error;
  Encoder err(*tok_, eos_, o);
  try {
    err.prompt_steps("Ava has 12 marbles.", steps, "data.jsonl:7 (p7)");
    FAIL() << "expected an error";
  } catch (const Error& ex) {
    EXPECT_NE(std::string(ex.what()).find("data.jsonl:7"), std::string::npos) << ex.what();
    EXPECT_NE(std::string(ex.what()).find("max_length"), std::string::npos) << ex.what();
  }
}

TEST_F(RmEncode, SequenceScoreIsReadAtEosAlsoAfterTruncation) {
  EncodeOptions o;
  o.prompt_template = train::PromptTemplate::plain;
  o.max_length = 8;
  Encoder enc(*tok_, eos_, o);
  Encoded e = enc.prompt_response("Ava has 12 marbles. Ben has 5 more.", "Ben has 12 + 5 = 17 marbles.", "t");
  ASSERT_EQ(e.ids.size(), 8u);
  EXPECT_EQ(e.ids.back(), eos_);
  EXPECT_EQ(e.ends, std::vector<int64_t>{7});
  EXPECT_EQ(enc.stats().truncated, 1);
}

TEST_F(RmEncode, PackedForwardEqualsEachSequenceAlone) {
  const std::string cfg_path = test::write_tiny_config(dir_);
  model::ModelConfig mc = model::ModelConfig::from_json(json::parse(read_file(cfg_path)), cfg_path);
  mc.num_labels = 2;
  torch::manual_seed(3);
  model::ScoreModel m(mc);
  m->eval();
  EncodeOptions o;
  o.prompt_template = train::PromptTemplate::plain;
  Encoder enc(*tok_, eos_, o);
  std::vector<Encoded> seqs;
  for (auto& r : test::math_prm_records(5, 11))
    seqs.push_back(enc.prompt_steps(r["prompt"], r["steps"].get<std::vector<std::string>>(), "t"));
  std::vector<const Encoded*> ptrs;
  for (auto& s : seqs) ptrs.push_back(&s);
  torch::NoGradGuard ng;
  ASSERT_TRUE(m->model->packed_is_fast(512));
  auto packed = end_logits(m, ptrs, torch::kCPU);  // one packed row
  std::vector<torch::Tensor> alone;
  for (auto* s : ptrs) alone.push_back(end_logits(m, {s}, torch::kCPU));
  auto want = torch::cat(alone, 0);
  ASSERT_EQ(packed.sizes(), want.sizes());
  EXPECT_LT((packed - want).abs().max().item<double>(), 1e-5);
  // And against the model's plain per-token forward read at the ends.
  auto full = m->forward(torch::tensor(std::vector<int64_t>(seqs[2].ids.begin(), seqs[2].ids.end())).unsqueeze(0));  // [1,T,2]
  auto at = full[0].index_select(0, torch::tensor(seqs[2].ends));
  EXPECT_LT((at - alone[2]).abs().max().item<double>(), 1e-5);
}

// A tiny PRM / IRM trained on the math domain from scratch: the loss falls and a run killed and
// resumed ends with the same weights bit for bit.
class RmTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("rmtrain");
    tok_path_ = test::write_math_tokenizer(dir_);
    cfg_path_ = test::write_tiny_config(dir_);
  }
  RmConfig config(RmKind kind, const std::string& data, const std::string& out) {
    RmConfig c;
    c.model.config = cfg_path_;
    c.model.tokenizer = tok_path_;
    c.data.kind = kind;
    c.data.train = data;
    c.data.eval_split = 0.25;
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
  static std::vector<double> losses(const std::string& out) {
    std::vector<double> l;
    for (auto& j : read_jsonl(out + "/metrics.jsonl"))
      if (j.contains("loss")) l.push_back(j["loss"].get<double>());
    return l;
  }
  std::string dir_, tok_path_, cfg_path_;
};

TEST_F(RmTrain, PrmLossFallsAndTheModelSavesAsTokenClassification) {
  const std::string data = test::write_records(dir_ + "/prm.jsonl", test::math_prm_records(96, 5));
  RmConfig c = config(RmKind::prm, data, dir_ + "/prm");
  auto r = run_rm_train(c, "cfg");
  ASSERT_EQ(r.status, train::TrainStatus::completed);
  auto l = losses(dir_ + "/prm");
  ASSERT_EQ(l.size(), 30u);
  EXPECT_LT(l.back(), l.front());
  ASSERT_TRUE(r.last_eval.contains("step_auc"));
  EXPECT_TRUE(r.last_eval.contains("first_error_f1"));
  json cfg = json::parse(read_file(r.model_dir + "/config.json"));
  EXPECT_EQ(cfg["architectures"][0], "LlamaForTokenClassification");
  EXPECT_EQ(cfg["token_classification_bias"], false);
  EXPECT_EQ(cfg["id2label"].size(), 2u);
  EXPECT_EQ(RmInfo::load(r.model_dir).kind, RmKind::prm);
  json stats = json::parse(read_file(dir_ + "/prm/data_stats.json"));
  EXPECT_EQ(stats["train_units"].get<int64_t>() + stats["eval_units"].get<int64_t>(), 96);
}

TEST_F(RmTrain, IrmResumeIsBitwiseTheUninterruptedRun) {
  const std::string data = test::write_records(dir_ + "/irm.jsonl", test::math_irm_records(48, 4, 9));
  RmConfig a = config(RmKind::irm, data, dir_ + "/a");
  auto ra = run_rm_train(a, "cfg");
  ASSERT_EQ(ra.status, train::TrainStatus::completed);
  ASSERT_TRUE(ra.last_eval.contains("pairwise_agreement"));
  // The same run, then rolled back to its step-20 checkpoint as if killed after it, and rerun.
  RmConfig b = config(RmKind::irm, data, dir_ + "/b");
  auto rb = run_rm_train(b, "cfg");
  ASSERT_EQ(rb.status, train::TrainStatus::completed);
  // Delete the newest checkpoint and the model: the rerun resumes from step 20 and redoes 21-30.
  remove_tree(dir_ + "/b/model");
  remove_tree(dir_ + "/b/checkpoints/checkpoint-30");
  ASSERT_TRUE(path_exists(dir_ + "/b/checkpoints/checkpoint-20")) << "checkpoint layout changed";
  auto rc = run_rm_train(b, "cfg");
  ASSERT_EQ(rc.status, train::TrainStatus::completed);
  EXPECT_EQ(read_file(dir_ + "/a/model/model.safetensors"), read_file(dir_ + "/b/model/model.safetensors"));
  EXPECT_EQ(losses(dir_ + "/a"), losses(dir_ + "/b"));
}

}  // namespace
}  // namespace rleif::rm
