// Model invariants: explicit positions, padding, token log-probs, gradient checkpointing, bf16, and
// bitwise save/load round trips. (Incremental decoding with a KV cache is rollout::Decoder's:
// tests/integration/rollout_decoder_test.cc.)
#include <gtest/gtest.h>

#include "core/fs.h"
#include "model/hf_io.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {
using torch::indexing::Slice;

// Rows of different lengths, right-padded with positions continuing: real positions are unaffected
// by the padding and equal a forward of each row alone.
TEST(ModelTest, RightPaddingNeedsNoMask) {
  std::string dir = model_fixture("qwen2");
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto m = model::load_causal_lm(dir);
  torch::NoGradGuard ng;
  auto padded = ids.clone();
  padded.index_put_({1, Slice(12, torch::indexing::None)}, 0);  // row 1 has 12 real tokens
  auto batch = m->forward(padded);
  auto alone = m->forward(ids.index({Slice(1, 2), Slice(0, 12)}));
  EXPECT_LE(max_abs_diff(batch.index({Slice(1, 2), Slice(0, 12)}), alone), 1e-5);
}

// token_logprobs (chunked, never a full [B,T,V] log-softmax) equals log_softmax + gather.
TEST(ModelTest, TokenLogprobsMatchLogSoftmax) {
  std::string dir = model_fixture("llama2");
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto m = model::load_causal_lm(dir);
  torch::NoGradGuard ng;
  auto targets = ids.roll(-1, 1);
  auto want = m->forward(ids).log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
  auto got = m->token_logprobs(ids, targets, {}, /*chunk=*/7);
  EXPECT_LE(max_abs_diff(got, want), 1e-5);
}

// Gradient checkpointing recomputes layers in backward; gradients equal the plain backward.
TEST(ModelTest, GradientCheckpointingGivesTheSameGradients) {
  std::string dir = model_fixture("mistral");
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto grads = [&](bool ckpt) {
    auto m = model::load_causal_lm(dir);
    m->train();
    m->model->set_gradient_checkpointing(ckpt);
    m->forward(ids).log_softmax(-1).mean().backward();
    std::vector<torch::Tensor> g;
    for (auto& p : m->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  auto a = grads(false), b = grads(true);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LE(max_abs_diff(a[i], b[i]), 1e-6) << "parameter " << i;
}

// bf16 weights and activations: within bf16's precision of the fp32 logits (8 mantissa bits,
// relative error ~4e-3 per op; logits here are O(1)).
TEST(ModelTest, Bf16ForwardTracksFp32) {
  std::string dir = model_fixture("llama3");
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto want = load_tensor(dir + "/expected.safetensors", "logits");
  auto m = model::load_causal_lm(dir, {torch::kBFloat16, torch::kCPU});
  EXPECT_EQ(m->parameters().front().scalar_type(), torch::kBFloat16);
  torch::NoGradGuard ng;
  auto got = m->forward(ids);
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  double scale = want.abs().max().item<double>();
  EXPECT_LE(max_abs_diff(got, want), 0.05 * scale);
}

// Save then load is bitwise identical, and saving twice writes identical bytes.
TEST(ModelTest, SaveLoadIsBitwiseIdentical) {
  for (std::string name : {"llama3", "qwen2"}) {
    std::string dir = model_fixture(name);
    RLEIF_REQUIRE_PATH(dir);
    auto a = model::load_causal_lm(dir);
    std::string tmp = temp_dir("roundtrip");
    model::save_causal_lm(a, tmp + "/one");
    auto b = model::load_causal_lm(tmp + "/one");
    auto pa = a->named_parameters(), pb = b->named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << name << " " << p.key();
    model::save_causal_lm(b, tmp + "/two");
    EXPECT_EQ(read_file(tmp + "/one/model.safetensors"), read_file(tmp + "/two/model.safetensors"));
    // Saving over an existing, non-empty model directory replaces it whole.
    model::save_causal_lm(b, tmp + "/one");
    EXPECT_EQ(read_file(tmp + "/one/model.safetensors"), read_file(tmp + "/two/model.safetensors"));
    EXPECT_EQ(b->cfg.rope_type, a->cfg.rope_type);
    EXPECT_EQ(b->cfg.tie_word_embeddings, a->cfg.tie_word_embeddings);
    EXPECT_EQ(b->cfg.num_key_value_heads, a->cfg.num_key_value_heads);
  }
}

TEST(ModelTest, SequenceScoresReadTheLastRealToken) {
  std::string dir = model_fixture("llama_score");
  RLEIF_REQUIRE_PATH(dir);
  auto ids = load_tensor(dir + "/expected.safetensors", "ids");
  auto m = model::load_score_model(dir);
  torch::NoGradGuard ng;
  auto per_token = m->forward(ids);  // [B,T]
  auto lengths = torch::tensor({20, 7, 1}, torch::kInt64);
  auto seq = m->sequence_scores(ids, lengths);
  EXPECT_FLOAT_EQ(seq[0].item<float>(), per_token[0][19].item<float>());
  EXPECT_FLOAT_EQ(seq[1].item<float>(), per_token[1][6].item<float>());
  EXPECT_FLOAT_EQ(seq[2].item<float>(), per_token[2][0].item<float>());
  auto at = m->scores_at(ids, torch::tensor({{3, -1}, {0, 5}, {-1, -1}}, torch::kInt64));
  EXPECT_FLOAT_EQ(at[0][0].item<float>(), per_token[0][3].item<float>());
  EXPECT_EQ(at[0][1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(at[1][1].item<float>(), per_token[1][5].item<float>());
  EXPECT_THROW(m->sequence_scores(ids, torch::tensor({0, 1, 2}, torch::kInt64)), Error);
}

TEST(ModelTest, ScoreHeadCanStartFromACausalLM) {
  std::string dir = model_fixture("llama2");
  RLEIF_REQUIRE_PATH(dir);
  EXPECT_THROW(model::load_score_model(dir), Error);  // no score.weight, not allowed
  torch::manual_seed(0);
  auto m = model::load_score_model(dir, {}, /*allow_new_head=*/true);
  auto lm = model::load_causal_lm(dir);
  EXPECT_TRUE(torch::equal(m->model->embed_tokens->weight, lm->model->embed_tokens->weight));
  EXPECT_GT(m->score->weight.abs().sum().item<float>(), 0.0f);
}

}  // namespace
}  // namespace rleif::test
