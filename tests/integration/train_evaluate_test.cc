// train::evaluate_greedy on the rollout engine, over the tiny random Llama with the GPT-2 tokenizer
// (scripts/fixtures/rollout_models.py): its rows equal a naive full-forward greedy loop scored the
// WizardMath way at every batch size and come in input order; a stop string ends decoding; the
// training model keeps its mode and parameters, trains afterwards, and an in-place weight update
// between evaluations shows in the next one (no stale packed weights).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "model/hf_io.h"
#include "tests/test_util.h"
#include "train/evaluate.h"

namespace rleif::train {
namespace {

std::string fixture() { return test::fixtures_dir() + "/rollout_models/llama"; }

std::vector<EvalProblem> problems() {
  return {{"a", "What is 3 + 4?", "7"},
          {"b", "Tom has 5 apples and buys 7 more. How many apples does he have now?", "12"},
          {"c", "Half of 18?", "9"},
          {"d", "A train travels 60 km in an hour. How far does it travel in 3 hours at the same speed?", "180"},
          {"e", "2 * 21", "42"}};
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::string cut_at_stop(std::string text, const std::vector<std::string>& stop) {
  size_t cut = std::string::npos;
  for (const auto& s : stop) cut = std::min(cut, text.find(s));
  if (cut != std::string::npos) text.resize(cut);
  return text;
}

// The reference: recompute the whole sequence each step and take the argmax; stop at an EOS id
// (not counted), at the token whose text completes a stop string (vLLM's rule), or after
// max_new_tokens; the completion is the decoded text cut at the first stop string.
EvalRow naive(model::CausalLM& lm, const Tokenizer& tok, const EvalProblem& p, const GreedyEvalOptions& o,
              const std::vector<int64_t>& eos) {
  torch::NoGradGuard ng;
  auto ids = tok.encode(render_prompt(o.prompt_template, p.question), true);
  std::vector<int32_t> gen;
  EvalRow r;
  r.id = p.id;
  r.finish_reason = "length";
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    auto t = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kInt64).unsqueeze(0);
    const auto next = static_cast<int32_t>(lm->forward(t).select(1, t.size(1) - 1).argmax(-1).item<int64_t>());
    if (contains(eos, next)) {
      r.finish_reason = "stop";
      break;
    }
    gen.push_back(next);
    ids.push_back(next);
    const std::string text = tok.decode(gen, true);
    if (cut_at_stop(text, o.stop).size() < text.size()) {
      r.finish_reason = "stop";
      break;
    }
  }
  r.tokens = static_cast<int64_t>(gen.size());
  r.completion = cut_at_stop(tok.decode(gen, true), o.stop);
  return r;
}

struct Fixture {
  model::CausalLM lm{nullptr};
  std::unique_ptr<Tokenizer> tok;
  std::vector<int64_t> eos;
};

Fixture load() {
  Fixture f;
  f.lm = model::load_causal_lm(fixture());
  f.tok = std::make_unique<Tokenizer>(Tokenizer::from_file(fixture() + "/tokenizer.json"));
  f.eos = stop_token_ids(*f.tok, f.lm->cfg);
  return f;
}

std::vector<EvalRow> run(Fixture& f, const std::vector<EvalProblem>& ps, const GreedyEvalOptions& o,
                         EvalSummary* sum = nullptr) {
  std::vector<EvalRow> rows;
  EvalSummary s = evaluate_greedy(f.lm, *f.tok, ps, o, f.eos, [&](const EvalRow& r) { rows.push_back(r); });
  if (sum) *sum = s;
  return rows;
}

void expect_rows_equal(const std::vector<EvalRow>& got, const std::vector<EvalRow>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("problem " + want[i].id);
    EXPECT_EQ(got[i].id, want[i].id);  // input order
    EXPECT_EQ(got[i].completion, want[i].completion);
    EXPECT_EQ(got[i].tokens, want[i].tokens);
    EXPECT_EQ(got[i].finish_reason, want[i].finish_reason);
  }
}

class EvaluateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RLEIF_REQUIRE_PATH(fixture() + "/tokenizer.json");
    torch::set_num_threads(1);
  }
};

TEST_F(EvaluateTest, RowsEqualNaiveGreedyAtEveryBatchSizeInInputOrder) {
  auto f = load();
  const auto ps = problems();
  GreedyEvalOptions o;
  o.max_new_tokens = 12;
  std::vector<EvalRow> want;
  int64_t want_tokens = 0;
  for (const auto& p : ps) {
    want.push_back(naive(f.lm, *f.tok, p, o, f.eos));
    want_tokens += want.back().tokens;
  }
  for (int64_t batch : {1, 2, 8}) {
    SCOPED_TRACE("batch_size " + std::to_string(batch));
    o.batch_size = batch;  // 2 < 5 problems: rows are refilled as they finish
    EvalSummary sum;
    auto rows = run(f, ps, o, &sum);
    expect_rows_equal(rows, want);
    EXPECT_EQ(sum.n, 5);
    EXPECT_EQ(sum.tokens, want_tokens);
    for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].truth, ps[i].truth);
  }
}

// A stop string taken from the middle of a completion ends decoding at the token that completes it.
TEST_F(EvaluateTest, StopStringsEndDecoding) {
  auto f = load();
  const auto ps = problems();
  GreedyEvalOptions o;
  o.max_new_tokens = 16;
  o.stop = {};
  auto free_rows = run(f, ps, o);
  ASSERT_EQ(free_rows.size(), ps.size());
  const std::string& text = free_rows[1].completion;
  ASSERT_GE(text.size(), 12u) << text;
  // Three letters from the middle of problem b's free-running completion.
  size_t at = text.size() / 2;
  while (at + 3 < text.size() && !(std::isalpha(static_cast<unsigned char>(text[at])) &&
                                   std::isalpha(static_cast<unsigned char>(text[at + 1])) &&
                                   std::isalpha(static_cast<unsigned char>(text[at + 2]))))
    ++at;
  ASSERT_LT(at + 3, text.size()) << "no three letters in a row after the middle of: " << text;
  o.stop = {text.substr(at, 3), "Instruction"};
  std::vector<EvalRow> want;
  for (const auto& p : ps) want.push_back(naive(f.lm, *f.tok, p, o, f.eos));
  ASSERT_EQ(want[1].finish_reason, "stop");
  ASSERT_LT(want[1].tokens, free_rows[1].tokens);
  // With 2 rows, b finishes before a: the rows must still be reported in input order.
  ASSERT_LT(want[1].tokens, want[0].tokens);
  o.batch_size = 2;
  expect_rows_equal(run(f, ps, o), want);
}

TEST_F(EvaluateTest, TrainingModelKeepsModeAndWeightsAndUpdatesAreSeen) {
  auto f = load();
  const auto ps = problems();
  GreedyEvalOptions o;
  o.max_new_tokens = 8;
  o.batch_size = 3;
  f.lm->train();
  std::vector<torch::Tensor> before;
  for (const auto& p : f.lm->parameters()) before.push_back(p.detach().clone());
  auto first = run(f, ps, o);
  EXPECT_TRUE(f.lm->is_training());
  auto params = f.lm->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::equal(params[i], before[i])) << "parameter " << i;
    EXPECT_TRUE(params[i].requires_grad()) << "parameter " << i;
  }
  // The model still trains: a backward pass and an in-place (optimizer-like) update of lm_head.
  auto ids = torch::tensor({464, 3290, 318, 257}, torch::kInt64).unsqueeze(0);
  f.lm->forward(ids).log_softmax(-1).mean().backward();
  ASSERT_TRUE(f.lm->lm_head->weight.grad().defined());
  {
    torch::NoGradGuard ng;
    f.lm->lm_head->weight.add_(torch::randn_like(f.lm->lm_head->weight), 0.5);
  }
  auto second = run(f, ps, o);
  std::vector<EvalRow> want;
  for (const auto& p : ps) want.push_back(naive(f.lm, *f.tok, p, o, f.eos));
  expect_rows_equal(second, want);
  bool changed = false;
  for (size_t i = 0; i < ps.size(); ++i) changed = changed || second[i].completion != first[i].completion;
  EXPECT_TRUE(changed) << "the weight update changed no completion; the check above proves nothing";

  f.lm->eval();
  run(f, ps, o);
  EXPECT_FALSE(f.lm->is_training());
}

TEST_F(EvaluateTest, PromptLongerThanTheModelIsAnErrorNamingTheProblem) {
  auto f = load();
  std::string q;
  for (int i = 0; i < 600; ++i) q += " seven";
  GreedyEvalOptions o;
  o.max_new_tokens = 4;
  try {
    run(f, {{"long-one", q, "7"}}, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("problem 'long-one'"), std::string::npos) << what;
    EXPECT_NE(what.find("max_position_embeddings"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace rleif::train
