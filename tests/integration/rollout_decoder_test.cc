// rollout::Decoder, the engine's KV-cache forward, on the model fixtures of every family (Llama 2,
// Llama 3 with rope scaling, Mistral with a sliding window shorter than T, Qwen2 with q/k/v biases;
// scripts/fixtures/model_fixtures.py): a prefill then one token at a time equals the model's full
// forward at every position, under each attention kernel; a request in cache row 2 of 3 beside a
// neighbour reads only its own row; positions beyond the cache are an error. These are the cache
// invariants model_test held while the model had a KV cache of its own.
#include <gtest/gtest.h>

#include "model/hf_io.h"
#include "rollout/decoder.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {
using rollout::AttentionKernel;
using torch::indexing::Slice;

// Prefill positions [0, P), then feed one token per step: logits [B,T,V] of every position.
torch::Tensor incremental_logits(rollout::Decoder& dec, const torch::Tensor& ids, int64_t prefill) {
  c10::InferenceMode guard;  // the cache is an inference tensor, written only in this mode
  const int64_t B = ids.size(0), T = ids.size(1);
  auto pos = torch::arange(prefill, torch::kInt64).unsqueeze(0).expand({B, prefill}).contiguous();
  std::vector<torch::Tensor> steps{dec.logits(dec.forward(ids.narrow(1, 0, prefill), pos, {}, prefill))};
  for (int64_t t = prefill; t < T; ++t) {
    torch::Tensor hidden;  // [B,1,H]
    if (dec.fused_decode()) {
      std::vector<int64_t> step_ids(static_cast<size_t>(B)), step_pos(static_cast<size_t>(B), t);
      for (int64_t b = 0; b < B; ++b) step_ids[static_cast<size_t>(b)] = ids[b][t].item<int64_t>();
      hidden = dec.decode_fused(step_ids, step_pos).unsqueeze(1);
    } else {
      hidden = dec.forward(ids.narrow(1, t, 1), torch::full({B, 1}, t, torch::kInt64), {}, t + 1);
    }
    steps.push_back(dec.logits(hidden));
  }
  return torch::cat(steps, 1);
}

class DecoderCacheTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderCacheTest, IncrementalDecodingEqualsFullForward) {
  const std::string dir = model_fixture(GetParam());
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");  // [B,T]
  auto m = model::load_causal_lm(dir);
  torch::Tensor full;
  {
    torch::NoGradGuard ng;
    full = m->forward(ids);  // [B,T,V]
  }
  // fused: the CPU fp32 decode step (rollout/cpu_decode.h) after a matmul prefill.
  for (auto kernel : {AttentionKernel::matmul, AttentionKernel::sdpa, AttentionKernel::fused}) {
    SCOPED_TRACE(GetParam() + " " + enum_name(kernel));
    rollout::Decoder dec(m, ids.size(0), ids.size(1), kernel);
    EXPECT_EQ(dec.fused_decode(), kernel == AttentionKernel::fused);
    EXPECT_LE(max_abs_diff(incremental_logits(dec, ids, 5), full), 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, DecoderCacheTest, ::testing::Values("llama2", "llama3", "mistral", "qwen2"));

// A request prefilled into cache row 2 of 3 while row 0 holds another request, then continued there.
TEST(DecoderTest, CacheRowsSelectSlots) {
  const std::string dir = model_fixture("llama3");
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto m = model::load_causal_lm(dir);
  const int64_t T = ids.size(1);
  torch::Tensor full;
  {
    torch::NoGradGuard ng;
    full = m->forward(ids.index({Slice(0, 1)}));  // [1,T,V]
  }
  rollout::Decoder dec(m, 3, T, AttentionKernel::matmul);
  c10::InferenceMode guard;
  auto positions = [](int64_t from, int64_t to) { return torch::arange(from, to, torch::kInt64).unsqueeze(0); };
  auto row = torch::tensor({2}, torch::kInt64);
  dec.forward(ids.index({Slice(1, 2)}), positions(0, T), torch::tensor({0}, torch::kInt64), T);  // the neighbour
  auto pre = dec.logits(dec.forward(ids.index({Slice(0, 1), Slice(0, 8)}), positions(0, 8), row, 8));
  auto rest = dec.logits(dec.forward(ids.index({Slice(0, 1), Slice(8, T)}), positions(8, T), row, T));
  EXPECT_LE(max_abs_diff(torch::cat({pre, rest}, 1), full), 1e-5);
}

TEST(DecoderTest, PositionsBeyondTheCacheAreAnError) {
  const std::string dir = model_fixture("llama2");
  RLEIF_REQUIRE_PATH(dir);
  auto m = model::load_causal_lm(dir);
  rollout::Decoder dec(m, 1, 4, AttentionKernel::automatic);
  c10::InferenceMode guard;
  auto ids = torch::ones({1, 1}, torch::kInt64);
  EXPECT_THROW(dec.forward(ids, torch::full({1, 1}, 4, torch::kInt64), {}, 5), Error);
  if (dec.fused_decode()) {
    EXPECT_THROW(dec.decode_fused({1}, {4}), Error);
  }
}

}  // namespace
}  // namespace rleif::test
