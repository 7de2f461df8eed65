// model/fused_train.h: the fused fp32 CPU training kernels (RMSNorm, RoPE, SwiGLU) against the
// tensor-op formulas they replace, values and gradients (the references run in fp64 through autograd),
// and a whole model's gradients with the kernels (fp32, training) against the same model in fp64
// (which takes the tensor-op path).
#include <gtest/gtest.h>

#include "model/causal_lm.h"
#include "model/fused_train.h"

namespace rleif::model {
namespace {

double max_rel(const torch::Tensor& got, const torch::Tensor& want) {
  auto w = want.to(torch::kFloat64), g = got.to(torch::kFloat64);
  return ((g - w).abs().max() / w.abs().max().clamp_min(1e-30)).item<double>();
}

// Runs f on fp32 leaves (the fused kernel) and ref on fp64 copies (autograd through tensor ops),
// backpropagates the same random upstream gradient, and compares outputs and input gradients.
void check(const std::vector<torch::Tensor>& inputs, const std::function<torch::Tensor(std::vector<torch::Tensor>&)>& f,
           const std::function<torch::Tensor(std::vector<torch::Tensor>&)>& ref, double tol) {
  std::vector<torch::Tensor> a, b;
  for (auto& x : inputs) {
    a.push_back(x.to(torch::kFloat32).detach().requires_grad_(x.requires_grad()));
    b.push_back(x.to(torch::kFloat64).detach().requires_grad_(x.requires_grad()));
  }
  auto ya = f(a), yb = ref(b);
  ASSERT_EQ(ya.sizes(), yb.sizes());
  EXPECT_LT(max_rel(ya, yb), tol) << "forward";
  auto up = torch::randn(ya.sizes(), torch::kFloat64);
  ya.backward(up.to(torch::kFloat32));
  yb.backward(up);
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].requires_grad()) EXPECT_LT(max_rel(a[i].grad(), b[i].grad()), tol) << "gradient of input " << i;
}

TEST(FusedTrain, RmsNormValuesAndGradients) {
  torch::manual_seed(1);
  auto x = torch::randn({3, 5, 48}, torch::kFloat64) * 2 + 0.3;
  auto w = torch::randn({48}, torch::kFloat64);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  check({x, w}, [](auto& v) { return fused::rms_norm(v[0], v[1], 1e-6); },
        [](auto& v) { return v[1] * (v[0] * torch::rsqrt(v[0].pow(2).mean(-1, true) + 1e-6)); }, 2e-6);
  // A non-contiguous input (a transposed view) gives the same result as its contiguous copy.
  auto base = torch::randn({48, 7});
  auto wf = torch::randn({48});
  EXPECT_TRUE(torch::allclose(fused::rms_norm(base.t(), wf, 1e-5), fused::rms_norm(base.t().contiguous(), wf, 1e-5)));
}

TEST(FusedTrain, RopeValuesAndGradients) {
  torch::manual_seed(2);
  const int64_t B = 2, T = 6, H = 3, D = 16;
  auto x = torch::randn({B, T, H, D}, torch::kFloat64);
  x.set_requires_grad(true);
  // Independent halves (not the model's cat(freqs, freqs)), so a swapped index shows.
  auto cos = torch::randn({B, T, D}, torch::kFloat64), sin = torch::randn({B, T, D}, torch::kFloat64);
  check({x, cos, sin}, [](auto& v) { return fused::rope(v[0], v[1], v[2]); },
        [](auto& v) {
          auto x1 = v[0].narrow(-1, 0, D / 2), x2 = v[0].narrow(-1, D / 2, D / 2);
          auto rot = torch::cat({-x2, x1}, -1);  // rotate_half
          return v[0] * v[1].unsqueeze(2) + rot * v[2].unsqueeze(2);
        },
        1e-6);
}

TEST(FusedTrain, SwigluValuesAndGradients) {
  torch::manual_seed(3);
  auto g = torch::randn({4, 9, 40}, torch::kFloat64) * 3;
  auto u = torch::randn({4, 9, 40}, torch::kFloat64);
  g.set_requires_grad(true);
  u.set_requires_grad(true);
  check({g, u}, [](auto& v) { return fused::swiglu(v[0], v[1]); },
        [](auto& v) { return torch::silu(v[0]) * v[1]; }, 1e-6);
}

TEST(FusedTrain, AppliesOnlyToCpuFp32WhileRecordingGradients) {
  auto x = torch::zeros({2, 2});
  EXPECT_TRUE(fused::applies(x));
  EXPECT_FALSE(fused::applies(x.to(torch::kFloat64)));
  EXPECT_FALSE(fused::applies(x.to(torch::kBFloat16)));
  {
    torch::NoGradGuard g;
    EXPECT_FALSE(fused::applies(x));
  }
  {
    c10::InferenceMode g;
    EXPECT_FALSE(fused::applies(x));
  }
}

TEST(FusedTrain, ModelGradientsMatchTheTensorOpPathInFp64) {
  ModelConfig cfg = ModelConfig::from_json(
      nlohmann::json{{"model_type", "llama"}, {"vocab_size", 50}, {"hidden_size", 32}, {"intermediate_size", 48},
                     {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                     {"max_position_embeddings", 64}},
      "test");
  torch::manual_seed(4);
  CausalLM m32(cfg);
  for (auto& p : m32->parameters()) {
    torch::NoGradGuard g;
    p.copy_(torch::randn(p.sizes()) * 0.2 + (p.dim() == 1 ? 1.0 : 0.0));
  }
  CausalLM m64(cfg);
  {
    torch::NoGradGuard g;
    auto src = m32->named_parameters();
    for (auto& p : m64->named_parameters()) p.value().copy_(src[p.key()]);
  }
  m64->to(torch::kFloat64);
  auto ids = torch::randint(0, 50, {3, 11}, torch::kInt64);
  auto loss = [&](CausalLM& m) {
    auto logits = m->forward(ids);  // [B,T,V]
    return torch::nn::functional::cross_entropy(logits.narrow(1, 0, 10).reshape({-1, 50}).to(torch::kFloat64),
                                                ids.narrow(1, 1, 10).reshape({-1}));
  };
  auto l32 = loss(m32), l64 = loss(m64);
  EXPECT_NEAR(l32.item<double>(), l64.item<double>(), 1e-5);
  l32.backward();
  l64.backward();
  auto g64 = m64->named_parameters();
  for (auto& p : m32->named_parameters())
    EXPECT_LT(max_rel(p.value().grad(), g64[p.key()].grad()), 1e-4) << p.key();
}

}  // namespace
}  // namespace rleif::model
