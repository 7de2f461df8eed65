// rollout/cpu_decode.h: the fused decode-step attention and SwiGLU, AVX2 and portable paths, against
// fp64 tensor-op formulas, over head sizes that exercise every vector width of the AVX2 loops
// (D = 8, 16, 24, 32, 40, 64, 128; 4-position score groups and their remainders), GQA and sliding
// windows. The engine tests cover the step as a whole (tests/integration/engine_generate_test.cc).
#include <gtest/gtest.h>

#include "model/cpu_simd.h"
#include "rollout/cpu_decode.h"

namespace rleif::rollout {
namespace {

template <class F>
void for_each_path(F f) {
  const bool had = model::simd::cpu_has_avx2();
  for (bool avx2 : {true, false}) {
    if (avx2 && !had) continue;
    model::simd::set_avx2_enabled(avx2);
    SCOPED_TRACE(avx2 ? "avx2" : "generic");
    f();
  }
  model::simd::set_avx2_enabled(had);
}

// fp64 reference: softmax(q k^T / sqrt(D)) v over positions (pos - window, pos] of each row.
torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& ck, const torch::Tensor& cv,
                        const std::vector<int64_t>& pos, int64_t window) {
  const int64_t b = q.size(0), hq = q.size(1), d = q.size(2), hkv = ck.size(1), g = hq / hkv;
  auto out = torch::empty(q.sizes(), torch::kFloat64);
  for (int64_t r = 0; r < b; ++r)
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t lo = window > 0 ? std::max<int64_t>(0, pos[r] - window + 1) : 0, n = pos[r] - lo + 1;
      auto k = ck[r][h / g].narrow(0, lo, n).to(torch::kFloat64);
      auto v = cv[r][h / g].narrow(0, lo, n).to(torch::kFloat64);
      auto p = torch::softmax(torch::mv(k, q[r][h].to(torch::kFloat64)) / std::sqrt(static_cast<double>(d)), 0);
      out[r][h] = torch::mv(v.t(), p);
    }
  return out;
}

TEST(CpuDecode, AttentionMatchesFp64) {
  torch::manual_seed(2);
  for_each_path([] {
    for (int64_t d : {8, 16, 24, 32, 40, 64, 128, 12})
      for (int64_t window : {0, 5}) {
        SCOPED_TRACE(testing::Message() << "D " << d << " window " << window);
        const int64_t b = 3, hq = 4, hkv = 2, tmax = 23;
        auto q = torch::randn({b, hq, d});
        auto ck = torch::randn({b, hkv, tmax, d}) * 1.5, cv = torch::randn({b, hkv, tmax, d});
        const std::vector<int64_t> pos = {0, 6, 22};  // 1, 7 and 23 visible positions
        auto out = torch::full({b, hq, d}, std::nanf(""));
        cpu::attend(q, ck, cv, pos, window, out);
        auto want = reference(q, ck, cv, pos, window);
        EXPECT_LT((out.to(torch::kFloat64) - want).abs().max().item<double>(), 2e-6);
      }
  });
}

TEST(CpuDecode, SwigluMatchesFp64) {
  torch::manual_seed(3);
  for_each_path([] {
    auto g = torch::randn({5, 37}) * 6, u = torch::randn({5, 37});
    auto want = torch::silu(g.to(torch::kFloat64)) * u.to(torch::kFloat64);
    auto got = g.clone();
    cpu::swiglu(got, u);
    EXPECT_LT(((got.to(torch::kFloat64) - want).abs() / want.abs().clamp_min(1e-3)).max().item<double>(), 1e-6);
  });
}

}  // namespace
}  // namespace rleif::rollout
