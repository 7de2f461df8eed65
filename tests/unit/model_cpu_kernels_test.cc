// model/cpu_gemm.h and model/cpu_simd.h: the small-M GEMMs (linear_nt and PackedLinear, AVX2 and
// portable paths) against an fp64 product over every block remainder (linear_nt: rows mod 4,
// columns mod 3, K mod 8; packed: rows mod 6, columns mod 16), bias, the tensor entry point's
// fallbacks, repacking after in-place updates, and the vector exp against std::exp.
#include <gtest/gtest.h>

#include <cmath>

#include "model/cpu_gemm.h"
#include "model/cpu_simd.h"

namespace rleif::model {
namespace {

// Runs both kernel paths (AVX2 when the CPU has it, then the portable loop) and restores the choice.
template <class F>
void for_each_path(F f) {
  const bool had = simd::cpu_has_avx2();
  for (bool avx2 : {true, false}) {
    if (avx2 && !had) continue;
    simd::set_avx2_enabled(avx2);
    SCOPED_TRACE(avx2 ? "avx2" : "generic");
    f();
  }
  simd::set_avx2_enabled(had);
}

// |got - want| <= (K/8 + 8) * 2^-23 * sum_k |x_k w_k| per element: the rounding bound of a sum of K
// products in 8 lanes then a reduction tree, so a wrong index or a dropped term fails it.
void expect_close(const torch::Tensor& got, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias) {
  auto x64 = x.to(torch::kFloat64), w64 = w.to(torch::kFloat64);
  auto want = torch::matmul(x64, w64.t());
  if (bias.defined()) want = want + bias.to(torch::kFloat64);
  auto scale = torch::matmul(x64.abs(), w64.abs().t()) + (bias.defined() ? bias.to(torch::kFloat64).abs() : torch::zeros({1}, torch::kFloat64));
  const double k = static_cast<double>(x.size(-1));
  auto excess = (got.to(torch::kFloat64) - want).abs() - scale * ((k / 8 + 8) * std::ldexp(1.0, -23)) - 1e-30;
  EXPECT_LE(excess.max().item<double>(), 0.0) << "max |err| " << (got.to(torch::kFloat64) - want).abs().max().item<double>();
}

TEST(CpuGemm, MatchesFp64OverEveryRemainder) {
  torch::manual_seed(3);
  for_each_path([] {
    for (int64_t m : {1, 2, 3, 4, 5, 7, 16, 17, 64})
      for (int64_t k : {1, 7, 8, 13, 32, 128, 352})
        for (int64_t n : {1, 2, 3, 4, 5, 128, 130}) {
          SCOPED_TRACE(testing::Message() << "m " << m << " k " << k << " n " << n);
          auto x = torch::randn({m, k}), w = torch::randn({n, k});
          auto out = torch::full({m, n}, std::nanf(""));
          cpu::linear_nt(x.data_ptr<float>(), m, k, w.data_ptr<float>(), n, nullptr, out.data_ptr<float>());
          expect_close(out, x, w, {});
          auto bias = torch::randn({n});
          cpu::linear_nt(x.data_ptr<float>(), m, k, w.data_ptr<float>(), n, bias.data_ptr<float>(), out.data_ptr<float>());
          expect_close(out, x, w, bias);
        }
  });
}

TEST(CpuGemm, TensorEntryPointKeepsShapesAndFallsBack) {
  torch::manual_seed(4);
  for_each_path([] {
    torch::NoGradGuard no_grad;
    auto x = torch::randn({2, 3, 40}), w = torch::randn({24, 40}), b = torch::randn({24});
    auto y = cpu::linear(x, w, b);
    ASSERT_EQ(y.sizes(), (torch::IntArrayRef{2, 3, 24}));
    expect_close(y.view({6, 24}), x.view({6, 40}), w, b);
    // Non-contiguous input and more rows than the kernel takes: still torch::linear's values.
    auto xt = torch::randn({40, 5}).t();
    expect_close(cpu::linear(xt, w), xt.contiguous(), w, {});
    auto big = torch::randn({cpu::kSmallGemmMaxRows + 1, 40});
    expect_close(cpu::linear(big, w), big, w, {});
  });
  // With gradients recorded the result must carry a grad_fn (torch::linear).
  auto w = torch::randn({8, 16}, torch::requires_grad());
  auto y = cpu::linear(torch::randn({2, 16}), w);
  EXPECT_TRUE(y.requires_grad());
  y.sum().backward();
  EXPECT_TRUE(w.grad().defined());
}

// The packed kernel sums each output sequentially over K: rounding bound (K + 8) * 2^-23 * sum |x w|.
void expect_close_sequential(const torch::Tensor& got, const torch::Tensor& x, const torch::Tensor& w,
                             const torch::Tensor& bias) {
  auto x64 = x.to(torch::kFloat64), w64 = w.to(torch::kFloat64);
  auto want = torch::matmul(x64, w64.t());
  if (bias.defined()) want = want + bias.to(torch::kFloat64);
  auto scale = torch::matmul(x64.abs(), w64.abs().t()) + (bias.defined() ? bias.to(torch::kFloat64).abs() : torch::zeros({1}, torch::kFloat64));
  const double k = static_cast<double>(x.size(-1));
  auto err = (got.to(torch::kFloat64) - want).abs();
  EXPECT_LE((err - scale * ((k + 8) * std::ldexp(1.0, -23))).max().item<double>(), 0.0) << "max |err| " << err.max().item<double>();
}

// Panel storage for a PackedLinear: 32-byte aligned floats inside a tensor kept alive by the caller.
float* aligned_floats(torch::Tensor& keep, int64_t n) {
  keep = torch::empty({n + 8});
  float* p = keep.data_ptr<float>();
  while (reinterpret_cast<uintptr_t>(p) % 32) ++p;
  return p;
}

TEST(CpuGemm, PackedLinearMatchesFp64OverEveryRemainder) {
  torch::manual_seed(5);
  for_each_path([] {
    for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 11, 12, 16, 64})
      for (int64_t k : {1, 7, 32, 129})
        for (int64_t n : {1, 15, 16, 17, 48, 100}) {
          SCOPED_TRACE(testing::Message() << "m " << m << " k " << k << " n " << n);
          auto x = torch::randn({m, k}), w = torch::randn({n, k}), bias = torch::randn({n});
          torch::Tensor keep;
          cpu::PackedLinear plain(w, {}, aligned_floats(keep, cpu::PackedLinear::packed_floats(n, k)));
          expect_close_sequential(plain(x), x, w, {});
          torch::Tensor keep2;
          cpu::PackedLinear biased(w, bias, aligned_floats(keep2, cpu::PackedLinear::packed_floats(n, k)));
          expect_close_sequential(biased(x), x, w, bias);
        }
  });
}

TEST(CpuGemm, PackedLinearNoticesInPlaceUpdatesAndRepacks) {
  torch::manual_seed(6);
  auto w = torch::randn({20, 24}, torch::requires_grad());
  auto x = torch::randn({5, 24});
  torch::Tensor keep;
  cpu::PackedLinear packed(w, {}, aligned_floats(keep, cpu::PackedLinear::packed_floats(20, 24)));
  EXPECT_FALSE(packed.stale());
  {
    torch::NoGradGuard no_grad;
    w.mul_(-2.0).add_(0.5);  // what an optimizer step does to a parameter
  }
  EXPECT_TRUE(packed.stale());
  packed.pack();
  EXPECT_FALSE(packed.stale());
  expect_close_sequential(packed(x), x, w.detach(), {});
  w.set_data(torch::randn({20, 24}));  // new storage
  EXPECT_TRUE(packed.stale());
}

#if RLEIF_HAVE_AVX2_KERNELS
RLEIF_AVX2 void exp_avx2(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, simd::exp8(_mm256_loadu_ps(x + i)));
}

TEST(CpuSimd, Exp8IsWithinTwoUlpOfStdExp) {
  if (!simd::cpu_has_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::vector<float> x, y;
  for (float v = -87.0f; v <= 88.0f; v += 0.0137f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-8f, -1e-8f, 0.5f, -0.5f}) x.push_back(v);
  while (x.size() % 8) x.push_back(0.0f);
  y.resize(x.size());
  exp_avx2(x.data(), y.data(), static_cast<int64_t>(x.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(static_cast<double>(x[i]));
    worst = std::max(worst, std::abs(y[i] - want) / want);
  }
  EXPECT_LT(worst, 2.5e-7);
  // Far below the range: exactly 0 (softmax over -inf scores); far above: +inf.
  float lo[8] = {-INFINITY, -1000.0f, -100.0f, -88.0f, 1000.0f, INFINITY, 89.0f, 0.0f}, out[8];
  exp_avx2(lo, out, 8);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], 0.0f) << lo[i];
  EXPECT_GE(out[3], 0.0f);
  EXPECT_LT(out[3], 1e-37f);
  for (int i = 4; i < 7; ++i) EXPECT_TRUE(std::isinf(out[i])) << lo[i];
  EXPECT_EQ(out[7], 1.0f);
}
#endif

}  // namespace
}  // namespace rleif::model
