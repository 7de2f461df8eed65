// Reward models written by rleif load in transformers (LlamaForTokenClassification for a PRM,
// LlamaForSequenceClassification for an ORM / IRM) and score the same sequences within 1e-4:
// scripts/fixtures/rm_hf_scores.py runs transformers on a right-padded batch with an attention mask,
// so the sequence score is transformers' own pooling at the last real token.
#include <gtest/gtest.h>

#include <cmath>

#include "core/fs.h"
#include "rm/scorer.h"
#include "rm/task.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"

namespace rleif::rm {
namespace {

class RmParity : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("rmparity");
    tok_path_ = test::write_math_tokenizer(dir_);
    cfg_path_ = test::write_tiny_config(dir_);
  }
  std::string train(RmKind kind, const std::string& data, HeadKind head = HeadKind::classifier, bool probe = false) {
    RmConfig c;
    c.head.kind = head;
    c.head.probe = probe;
    if (probe) c.head.tokens = ScoredTokens::numbers;  // the demo's head: both parts the reference must add
    c.model.config = cfg_path_;
    c.model.tokenizer = tok_path_;
    c.data.kind = kind;
    c.data.train = data;
    c.encode.prompt_template = train::PromptTemplate::alpaca;
    c.optim.lr = 3e-3;
    c.train.output_dir = dir_ + "/" + enum_name(kind) + "-" + enum_name(head) + (probe ? "-probe" : "");
    c.train.max_steps = 8;
    c.train.batch_size = 8;
    c.train.threads = 1;
    c.train.log_every_s = 1000;
    auto r = run_rm_train(c, "cfg");
    EXPECT_EQ(r.status, train::TrainStatus::completed);
    return r.model_dir;
  }
  // transformers' scores for the sequences rleif encodes.
  json reference(const std::string& model_dir, const std::vector<Encoded>& seqs, bool at_last_token = false) {
    json in = json::array();
    for (auto& s : seqs) in.push_back(json{{"ids", s.ids}, {"ends", s.ends}, {"response_start", s.response_start}});
    write_file_atomic(dir_ + "/seqs.json", in.dump());
    std::vector<std::string> argv{test::python_bin(), test::source_dir() + "/scripts/fixtures/rm_hf_scores.py", "--model",
                                  model_dir, "--input", dir_ + "/seqs.json", "--out", dir_ + "/ref.json"};
    if (at_last_token) argv.push_back("--at-last-token");
    auto r = test::run_command(argv);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return json::parse(read_file(dir_ + "/ref.json"));
  }
  std::string dir_, tok_path_, cfg_path_;
};

TEST_F(RmParity, PrmStepScoresEqualTransformersTokenClassification) {
  auto recs = test::math_prm_records(24, 21);
  const std::string model_dir = train(RmKind::prm, test::write_records(dir_ + "/prm.jsonl", recs));
  Scorer scorer(model_dir);
  ASSERT_EQ(scorer.kind(), RmKind::prm);
  std::vector<std::pair<std::string, std::vector<std::string>>> items;
  std::vector<Encoded> seqs;
  for (int i = 0; i < 6; ++i) {
    auto& r = recs[static_cast<size_t>(i)];
    items.emplace_back(r["prompt"], r["steps"].get<std::vector<std::string>>());
    seqs.push_back(scorer.encoder().prompt_steps(items.back().first, items.back().second, "t"));
  }
  auto got = scorer.score_steps(items);
  json ref = reference(model_dir, seqs);
  ASSERT_EQ(ref["architecture"], "LlamaForTokenClassification");
  for (size_t i = 0; i < got.size(); ++i) {
    auto want = ref["scores"][i]["steps"].get<std::vector<double>>();
    ASSERT_EQ(got[i].steps.size(), want.size());
    for (size_t s = 0; s < want.size(); ++s) EXPECT_NEAR(got[i].steps[s], want[s], 1e-4) << "solution " << i << " step " << s;
  }
}

// A likelihood PRM is a LlamaForCausalLM: the reference reads transformers' log-softmax at every scored
// response token (tokenizers' decode of the id holds a digit) and applies rleif_rm.json's scale and bias,
// and with a probe (and head.tokens = numbers) adds w . h at the step end, h transformers' last hidden
// state, and scores each token right after a digit-bearing one too.
class RmParityProbe : public RmParity, public ::testing::WithParamInterface<bool> {};

TEST_P(RmParityProbe, LikelihoodPrmStepScoresEqualTransformersCausalLmLogProbs) {
  auto recs = test::math_prm_records(24, 21);
  const std::string model_dir =
      train(RmKind::prm, test::write_records(dir_ + "/prm.jsonl", recs), HeadKind::likelihood, GetParam());
  Scorer scorer(model_dir);
  ASSERT_EQ(scorer.net().head(), HeadKind::likelihood);
  ASSERT_EQ(scorer.net().likelihood->probe.defined(), GetParam());
  if (GetParam()) EXPECT_GT(scorer.net().likelihood->probe.abs().max().item<double>(), 1e-3) << "the probe trained";
  std::vector<std::pair<std::string, std::vector<std::string>>> items;
  std::vector<Encoded> seqs;
  for (int i = 0; i < 6; ++i) {
    auto& r = recs[static_cast<size_t>(i)];
    items.emplace_back(r["prompt"], r["steps"].get<std::vector<std::string>>());
    seqs.push_back(scorer.encoder().prompt_steps(items.back().first, items.back().second, "t"));
  }
  auto got = scorer.score_steps(items);
  json ref = reference(model_dir, seqs);
  ASSERT_EQ(ref["architecture"], "LlamaForCausalLM");
  int64_t below_one = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    auto want = ref["scores"][i]["steps"].get<std::vector<double>>();
    ASSERT_EQ(got[i].steps.size(), want.size());
    for (size_t s = 0; s < want.size(); ++s) {
      EXPECT_NEAR(got[i].steps[s], want[s], 1e-4) << "solution " << i << " step " << s;
      below_one += std::abs(want[s] - want[0]) > 1e-3;
    }
  }
  EXPECT_GT(below_one, 0) << "every step scored alike: the scored tokens changed nothing";
}

INSTANTIATE_TEST_SUITE_P(Probe, RmParityProbe, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "WithProbeAndNumbers" : "Digits"; });

TEST_F(RmParity, LikelihoodOrmScoreEqualsTransformersCausalLmLogProbs) {
  std::vector<json> orm;
  for (auto& r : test::math_prm_records(24, 29)) {
    std::string resp;
    for (auto& s : r["steps"]) resp += s.get<std::string>() + "\n";
    orm.push_back(json{{"prompt", r["prompt"]}, {"response", resp}, {"label", r["labels"].back()}});
  }
  const std::string model_dir = train(RmKind::orm, test::write_records(dir_ + "/orm.jsonl", orm), HeadKind::likelihood);
  Scorer scorer(model_dir);
  ASSERT_EQ(scorer.net().head(), HeadKind::likelihood);
  std::vector<std::pair<std::string, std::string>> items;
  std::vector<Encoded> seqs;
  for (int i = 0; i < 6; ++i) {
    items.emplace_back(orm[static_cast<size_t>(i)]["prompt"], orm[static_cast<size_t>(i)]["response"]);
    seqs.push_back(scorer.encoder().prompt_response(items.back().first, items.back().second, "t"));
  }
  auto got = scorer.score(items);
  json ref = reference(model_dir, seqs);
  ASSERT_EQ(ref["architecture"], "LlamaForCausalLM");
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i].score, ref["scores"][i]["score"].get<double>(), 1e-4) << "solution " << i;
}

TEST_F(RmParity, OrmScoreEqualsTransformersSequenceClassificationAtTheLastRealToken) {
  std::vector<json> orm;
  for (auto& r : test::math_prm_records(24, 23)) {
    std::string resp;
    for (auto& s : r["steps"]) resp += s.get<std::string>() + "\n";
    orm.push_back(json{{"prompt", r["prompt"]}, {"response", resp}, {"label", r["labels"].back()}});
  }
  const std::string model_dir = train(RmKind::orm, test::write_records(dir_ + "/orm.jsonl", orm));
  Scorer scorer(model_dir);
  std::vector<std::pair<std::string, std::string>> items;
  std::vector<Encoded> seqs;
  for (int i = 0; i < 6; ++i) {  // different lengths: the batch is right-padded on the transformers side
    items.emplace_back(orm[static_cast<size_t>(i)]["prompt"], orm[static_cast<size_t>(i)]["response"]);
    seqs.push_back(scorer.encoder().prompt_response(items.back().first, items.back().second, "t"));
  }
  auto got = scorer.score(items);
  json ref = reference(model_dir, seqs);
  ASSERT_EQ(ref["architecture"], "LlamaForSequenceClassification");
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i].score, ref["scores"][i]["score"].get<double>(), 1e-4) << "solution " << i;

  // pad == eos (many Llama checkpoints): rleif still reads the score at the EOS that ends each
  // sequence, by length. transformers' pooling would skip that EOS as padding, so the reference is
  // its score head on its own last hidden state at the last real token.
  json cfg = json::parse(read_file(model_dir + "/config.json"));
  cfg["pad_token_id"] = cfg["eos_token_id"];
  write_file_atomic(model_dir + "/config.json", cfg.dump(2));
  Scorer same_pad(model_dir);
  auto got2 = same_pad.score(items);
  json ref2 = reference(model_dir, seqs, /*at_last_token=*/true);
  for (size_t i = 0; i < got2.size(); ++i) {
    EXPECT_DOUBLE_EQ(got2[i].score, got[i].score) << "solution " << i;
    EXPECT_NEAR(got2[i].score, ref2["scores"][i]["score"].get<double>(), 1e-4) << "solution " << i;
  }
}

}  // namespace
}  // namespace rleif::rm
