// rleif's AdamW and gradient clipping against torch.optim.AdamW and clip_grad_norm_, with expected
// values from scripts/fixtures/train_adamw.py (the venv's PyTorch, CPU, fp32): six steps with a
// changing learning rate, two weight-decay groups and clipping active on some steps.
#include <gtest/gtest.h>

#include "tests/test_util.h"
#include "train/optim.h"
#include "train/tensor_io.h"

namespace rleif::train {
namespace {

const char* kNames[] = {"w1", "w2", "norm", "bias"};
constexpr int kSteps = 6;

class AdamWGolden : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    const std::string path = test::fixtures_dir() + "/train_adamw/adamw.safetensors";
    RLEIF_REQUIRE_PATH(path);
    ref_ = load_tensors(path);
  }
  torch::Tensor ref(const std::string& k) {
    auto it = ref_.find(k);
    EXPECT_NE(it, ref_.end()) << k;
    return it == ref_.end() ? torch::Tensor() : it->second;
  }
  std::map<std::string, torch::Tensor> ref_;
};

TEST_P(AdamWGolden, MatchesTorchBitwise) {
  const bool fused = GetParam();
  const std::string impl = fused ? "fused" : "reference";
  at::set_num_threads(1);
  std::map<std::string, torch::Tensor> p;
  for (auto* n : kNames) p[n] = ref(std::string("init/") + n).clone().set_requires_grad(true);
  ParamGroup decay{{"w1", "w2"}, {p["w1"], p["w2"]}, 0.1};
  ParamGroup no_decay{{"norm", "bias"}, {p["norm"], p["bias"]}, 0.0};
  AdamWOptions o;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.fused = fused;
  AdamW opt({decay, no_decay}, o);
  std::vector<torch::Tensor> all{p["w1"], p["w2"], p["norm"], p["bias"]};
  torch::Tensor lrs = ref("lr"), norms = ref(impl + "/grad_norm");
  for (int s = 0; s < kSteps; ++s) {
    for (auto* n : kNames) p[n].mutable_grad() = ref("grad/" + std::to_string(s) + "/" + n).clone();
    const double norm = clip_grad_norm(all, 1.0);
    EXPECT_DOUBLE_EQ(norm, norms[s].item<double>()) << "step " << s;
    opt.step(lrs[s].item<double>());
    for (auto* n : kNames) {
      torch::Tensor want = ref(impl + "/param/" + std::to_string(s) + "/" + n);
      EXPECT_TRUE(torch::equal(p[n].detach(), want))
          << impl << " step " << s << " " << n << ": max |diff| = " << (p[n].detach() - want).abs().max().item<double>();
    }
  }
  auto state = opt.state();
  for (auto& [k, v] : state) {
    if (k.rfind("step/", 0) == 0) {
      EXPECT_EQ(v.item<float>(), kSteps) << k;
      continue;
    }
    EXPECT_TRUE(torch::equal(v, ref(impl + "/" + k))) << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Impl, AdamWGolden, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "fused" : "reference"; });

TEST(AdamW, NoDecayOnNormsAndBiases) {
  torch::nn::Sequential m(torch::nn::Linear(4, 3), torch::nn::LayerNorm(torch::nn::LayerNormOptions({3})));
  auto groups = decay_groups(*m, 0.1);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].weight_decay, 0.1);
  EXPECT_EQ(groups[0].names, std::vector<std::string>{"0.weight"});
  EXPECT_EQ(groups[1].weight_decay, 0.0);
  EXPECT_EQ(groups[1].names, (std::vector<std::string>{"0.bias", "1.weight", "1.bias"}));
}

TEST(AdamW, StateRoundTripContinuesIdentically) {
  // Two optimizers: one runs 4 steps; the other runs 2, is rebuilt from state(), and runs 2 more.
  torch::manual_seed(3);
  torch::Tensor init = torch::randn({8, 8});
  std::vector<torch::Tensor> grads;
  for (int i = 0; i < 4; ++i) grads.push_back(torch::randn({8, 8}));
  auto run = [&](int steps, AdamW* opt, torch::Tensor& w, int first) {
    for (int i = first; i < first + steps; ++i) {
      w.mutable_grad() = grads[static_cast<size_t>(i)].clone();
      opt->step(1e-2);
    }
  };
  AdamWOptions o;
  o.weight_decay = 0.05;
  torch::Tensor a = init.clone().set_requires_grad(true);
  AdamW oa({ParamGroup{{"w"}, {a}, 0.05}}, o);
  run(4, &oa, a, 0);
  torch::Tensor b = init.clone().set_requires_grad(true);
  auto ob = std::make_unique<AdamW>(std::vector<ParamGroup>{ParamGroup{{"w"}, {b}, 0.05}}, o);
  run(2, ob.get(), b, 0);
  auto saved = ob->state();
  std::map<std::string, torch::Tensor> copy;
  for (auto& [k, v] : saved) copy[k] = v.clone();
  ob = std::make_unique<AdamW>(std::vector<ParamGroup>{ParamGroup{{"w"}, {b}, 0.05}}, o);
  ob->load_state([&](const std::string& k) { return copy.count(k) ? copy[k] : torch::Tensor(); }, "test");
  run(2, ob.get(), b, 2);
  EXPECT_TRUE(torch::equal(a.detach(), b.detach()));
}

TEST(AdamW, MissingStateIsAClearError) {
  torch::Tensor w = torch::zeros({2, 2}).set_requires_grad(true);
  AdamW opt({ParamGroup{{"layer.weight"}, {w}, 0.0}}, AdamWOptions{});
  try {
    opt.load_state([](const std::string&) { return torch::Tensor(); }, "ckpt/optimizer.safetensors");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt/optimizer.safetensors: optimizer state 'exp_avg/layer.weight' is missing"),
              std::string::npos)
        << e.what();
  }
}

TEST(ClipGradNorm, ScalesToMaxNorm) {
  torch::Tensor a = torch::zeros({2}).set_requires_grad(true), b = torch::zeros({1}).set_requires_grad(true);
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b}, 0), 5.0);  // measure only
  EXPECT_FLOAT_EQ(a.grad()[0].item<float>(), 3.0f);
  EXPECT_NEAR(clip_grad_norm({a, b}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(std::hypot(a.grad()[0].item<float>(), b.grad()[0].item<float>()), 1.0, 1e-5);
}

}  // namespace
}  // namespace rleif::train
