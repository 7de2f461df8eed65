// Parity with Hugging Face transformers (the reference): the same checkpoint and token ids give the
// same logits. Fixtures: scripts/fixtures/model_fixtures.py (tiny random models saved by
// transformers 5.x, with its eager-attention outputs). Tolerance: fp32, max abs diff <= 1e-4.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "model/hf_io.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

constexpr double kFp32Tol = 1e-4;

class CausalParity : public ::testing::TestWithParam<std::string> {};

TEST_P(CausalParity, LogitsEqualTransformers) {
  std::string dir = model_fixture(GetParam());
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto want = load_tensor(dir + "/expected.safetensors", "logits");
  auto m = model::load_causal_lm(dir);
  torch::NoGradGuard ng;
  auto got = m->forward(ids);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LE(max_abs_diff(got, want), kFp32Tol) << GetParam();
}

// A directory rleif saves loads in transformers and gives the same logits there.
TEST_P(CausalParity, SavedDirectoryLoadsInTransformers) {
  std::string dir = model_fixture(GetParam());
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto m = model::load_causal_lm(dir);
  std::string tmp = temp_dir("saved_" + GetParam());
  std::string out = tmp + "/model";
  model::save_causal_lm(m, out);
  write_ids_json(ids, tmp + "/ids.json");
  auto r = run_command({python_bin(), source_dir() + "/scripts/fixtures/hf_reference.py", "logits", "--model", out,
                        "--ids", tmp + "/ids.json", "--out", tmp + "/ref.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto ref = load_tensor(tmp + "/ref.safetensors", "logits");
  torch::NoGradGuard ng;
  EXPECT_LE(max_abs_diff(m->forward(ids), ref), kFp32Tol);
}

INSTANTIATE_TEST_SUITE_P(Models, CausalParity, ::testing::Values("llama2", "llama3", "mistral", "qwen2"));

TEST(ScoreParity, PerTokenScoresEqualLlamaForSequenceClassification) {
  std::string dir = model_fixture("llama_score");
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto want = load_tensor(dir + "/expected.safetensors", "logits").squeeze(-1);  // [B,T]
  auto m = model::load_score_model(dir);
  torch::NoGradGuard ng;
  auto got = m->forward(ids);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LE(max_abs_diff(got, want), kFp32Tol);
}

TEST(ScoreParity, SavedScoreModelLoadsInTransformers) {
  std::string dir = model_fixture("llama_score");
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto m = model::load_score_model(dir);
  std::string tmp = temp_dir("saved_score");
  model::save_score_model(m, tmp + "/model");
  auto cfg = json::parse(read_file(tmp + "/model/config.json"));
  EXPECT_EQ(cfg["architectures"][0], "LlamaForSequenceClassification");
  write_ids_json(ids, tmp + "/ids.json");
  auto r = run_command({python_bin(), source_dir() + "/scripts/fixtures/hf_reference.py", "logits", "--model",
                        tmp + "/model", "--ids", tmp + "/ids.json", "--out", tmp + "/ref.safetensors", "--kind",
                        "score"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto ref = load_tensor(tmp + "/ref.safetensors", "logits").squeeze(-1);
  torch::NoGradGuard ng;
  EXPECT_LE(max_abs_diff(m->forward(ids), ref), kFp32Tol);
}

}  // namespace
}  // namespace rleif::test
