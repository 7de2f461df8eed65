// Loading builds the model in the target dtype and copies each stored tensor straight into its
// parameter: every parameter equals the file's tensor bitwise (bf16 file -> bf16, fp32 file -> fp32),
// or the file's tensor converted once (fp32 file -> bf16, bf16 file -> fp32), and the process's
// default dtype is left as it was. Peak memory is measured by bench/model_load_rss (docs/PERFORMANCE.md).
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "model/dtype.h"
#include "model/hf_io.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

// Tensor `name` of dir/model.safetensors, as stored (dtype and bytes).
torch::Tensor stored(const std::string& dir, const std::string& name) {
  SafetensorsFile f(dir + "/model.safetensors");
  const auto& v = f.get(name);
  return torch::from_blob(const_cast<uint8_t*>(v.data), v.shape,
                          torch::TensorOptions().dtype(model::to_torch_dtype(v.dtype)))
      .clone();
}

// Every parameter of `m` equals the stored tensor converted to `dtype`, bit for bit.
void expect_params_equal_file(torch::nn::Module& m, const std::string& dir, torch::ScalarType dtype) {
  int64_t n = 0;
  for (auto& p : m.named_parameters()) {
    ASSERT_EQ(p.value().scalar_type(), dtype) << p.key();
    auto want = stored(dir, p.key()).to(dtype);
    EXPECT_TRUE(torch::equal(p.value(), want)) << dir << ": " << p.key();
    ++n;
  }
  EXPECT_GT(n, 0);
  EXPECT_EQ(c10::get_default_dtype_as_scalartype(), torch::kFloat32) << "the default dtype was not restored";
}

std::string fixture(const std::string& name) {
  std::string dir = model_fixture(name);
  EXPECT_TRUE(path_present(dir)) << "missing fixture " << dir << " (run ctest's fixture_model)";
  return dir;
}

TEST(ModelLoadTest, Fp32FileLoadsBitwiseInFp32AndRoundedInBf16) {
  for (std::string name : {"llama3", "qwen2", "mistral"}) {
    const std::string dir = fixture(name);
    auto a = model::load_causal_lm(dir);
    expect_params_equal_file(*a, dir, torch::kFloat32);
    auto b = model::load_causal_lm(dir, {torch::kBFloat16, torch::kCPU});
    expect_params_equal_file(*b, dir, torch::kBFloat16);
  }
}

TEST(ModelLoadTest, Bf16FileLoadsBitwiseInBf16AndExactlyInFp32) {
  for (std::string name : {"llama3", "qwen2"}) {
    auto lm = model::load_causal_lm(fixture(name));
    const std::string dir = temp_dir("load_bf16") + "/m";
    model::save_causal_lm(lm, dir, "", torch::kBFloat16);
    ASSERT_EQ(stored(dir, "model.embed_tokens.weight").scalar_type(), torch::kBFloat16);
    auto b = model::load_causal_lm(dir, {torch::kBFloat16, torch::kCPU});
    expect_params_equal_file(*b, dir, torch::kBFloat16);
    auto f = model::load_causal_lm(dir);  // bf16 -> fp32 is exact
    expect_params_equal_file(*f, dir, torch::kFloat32);
    // The forward of the bf16 load is the forward of its weights, whichever way they arrived.
    auto ids = torch::arange(12, torch::kInt64).remainder(lm->cfg.vocab_size).view({2, 6});
    torch::NoGradGuard ng;
    auto converted = model::load_causal_lm(fixture(name));
    converted->to(torch::kBFloat16);
    auto bf = model::load_causal_lm(fixture(name), {torch::kBFloat16, torch::kCPU});
    EXPECT_TRUE(torch::equal(bf->forward(ids), converted->forward(ids))) << name;
  }
}

// A fresh score head in bf16 is the fp32 fresh head rounded; the backbone comes from the file.
TEST(ModelLoadTest, FreshScoreHeadInBf16IsTheFp32HeadRounded) {
  const std::string dir = fixture("llama2");
  torch::manual_seed(7);
  auto f = model::load_score_model(dir, {}, /*allow_new_head=*/true);
  torch::manual_seed(7);
  auto b = model::load_score_model(dir, {torch::kBFloat16, torch::kCPU}, /*allow_new_head=*/true);
  EXPECT_TRUE(torch::equal(b->score->weight, f->score->weight.to(torch::kBFloat16)));
  EXPECT_EQ(b->model->embed_tokens->weight.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(b->model->embed_tokens->weight, stored(dir, "model.embed_tokens.weight").to(torch::kBFloat16)));
}

}  // namespace
}  // namespace rleif::test
